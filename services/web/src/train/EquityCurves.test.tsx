import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { EquityCurves } from "./EquityCurves";

describe("EquityCurves", () => {
  it("puts a thinned curve's points at the trades they stand for", () => {
    // 400 trades thinned to 200 points by the server, beside 50 trades kept whole.
    const long = Array.from({ length: 200 }, (_, i) => i * 0.5);
    const short = Array.from({ length: 50 }, (_, i) => -i);
    const { container } = render(
      <EquityCurves
        series={[
          { key: "model", name: "DeepLOB", entry: { theta: 0.5, test: { trades: 400, equity: long } } },
          { key: "gbm_book", name: "Trees", entry: { theta: 0.6, test: { trades: 50, equity: short } } },
        ]}
      />,
    );
    expect(screen.getByText("400 trades")).toBeInTheDocument();
    const end = (key: string) => {
      const d = container.querySelector(`path[data-entry="${key}"]`)!.getAttribute("d")!;
      return Number(d.split("L").at(-1)!.split(",")[0]);
    };
    // The 50-trade line ends an eighth of the way along the 400-trade axis.
    expect(end("model")).toBeCloseTo(594, 0);
    expect(end("gbm_book")).toBeCloseTo(6 + (50 / 400) * 588, 0);
    expect(screen.getByRole("img")).toHaveAccessibleName(
      "Equity curves: DeepLOB: 400 trades, ending at +99.5 bps; Trees: 50 trades, ending at −49.0 bps",
    );
  });
});
