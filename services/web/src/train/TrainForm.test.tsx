import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { TrainForm } from "./TrainForm";

const datasets = [
  { name: "btc", rows: 120_000, symbols: ["BTCUSDT"], ts_start: 0, ts_end: 1 },
  { name: "eth", rows: 50_000, symbols: ["ETHUSDT"], ts_start: 0, ts_end: 1 },
];

describe("TrainForm", () => {
  it("shows the problem next to the field, focuses it, and does not submit", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn(async () => {});
    render(<TrainForm datasets={datasets} onSubmit={onSubmit} onCancel={() => {}} />);

    await user.selectOptions(screen.getByLabelText("Dataset"), "eth");
    const epochs = screen.getByLabelText("Epochs");
    await user.clear(epochs);
    await user.type(epochs, "5000");
    await user.click(screen.getByRole("button", { name: "Start training" }));

    expect(onSubmit).not.toHaveBeenCalled();
    expect(epochs).toHaveAttribute("aria-invalid", "true");
    expect(epochs).toHaveAccessibleDescription("Epochs must be at least 1 and at most 1000");
    expect(epochs).toHaveFocus();
  });

  it("submits the chosen dataset with the Advanced settings", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn(async () => {});
    render(<TrainForm datasets={datasets} onSubmit={onSubmit} onCancel={() => {}} />);

    await user.selectOptions(screen.getByLabelText("Dataset"), "btc");
    await user.click(screen.getByLabelText(/Quick run/));
    await user.click(screen.getByText("Advanced settings"));
    const folds = screen.getByLabelText("Walk-forward folds");
    await user.clear(folds);
    await user.type(folds, "3");
    await user.click(screen.getByRole("button", { name: "Start training" }));

    expect(onSubmit).toHaveBeenCalledOnce();
    const [request] = onSubmit.mock.calls[0] as unknown as [
      { dataset: string; config: Record<string, unknown> },
    ];
    expect(request.dataset).toBe("btc");
    expect(request.config).toMatchObject({ quick: true, folds: 3, labels: "triple_barrier" });
  });

  it("shows the gateway's refusal", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn(async () => {
      const { ApiError } = await import("../api/client");
      throw new ApiError(422, "config.h: horizon longer than the dataset");
    });
    render(<TrainForm datasets={datasets} onSubmit={onSubmit} onCancel={() => {}} />);
    await user.selectOptions(screen.getByLabelText("Dataset"), "btc");
    await user.click(screen.getByRole("button", { name: "Start training" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("horizon longer than the dataset");
  });
});
