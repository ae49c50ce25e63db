import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ProbabilityBars } from "./ProbabilityBars";

describe("ProbabilityBars", () => {
  it("draws each class as a meter with its probability", () => {
    render(<ProbabilityBars probs={{ up: 0.625, neutral: 0.25, down: 0.125 }} />);
    const up = screen.getByRole("meter", { name: "UP" });
    expect(up).toHaveAttribute("aria-valuenow", "62.5");
    expect(up.firstElementChild).toHaveStyle({ width: "62.5%" });
    expect(screen.getByRole("meter", { name: "DOWN" })).toHaveAttribute("aria-valuetext", "12.5%");
    expect(screen.getByTestId("prob-neutral")).toHaveTextContent("25.0%");
    // UP is listed first, DOWN last, as on the seed's page.
    expect(screen.getAllByRole("meter").map((m) => m.getAttribute("aria-labelledby"))).toEqual([
      "bar-up",
      "bar-neutral",
      "bar-down",
    ]);
  });

  it("shows empty tracks before the first prediction", () => {
    render(<ProbabilityBars probs={null} />);
    for (const m of screen.getAllByRole("meter")) {
      expect(m).not.toHaveAttribute("aria-valuenow");
      expect(m).toHaveAttribute("aria-valuetext", "no data");
    }
    expect(screen.getByTestId("prob-up")).toHaveTextContent("–");
  });
});
