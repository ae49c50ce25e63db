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

  it("sets the model-quality settings under Advanced and checks their bounds", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn(async () => {});
    render(<TrainForm datasets={datasets} onSubmit={onSubmit} onCancel={() => {}} />);

    await user.selectOptions(screen.getByLabelText("Dataset"), "btc");
    await user.click(screen.getByText("Advanced settings"));
    expect(screen.getByLabelText("Input normalisation")).toHaveValue("mid_bps");
    expect(screen.getByLabelText("Best checkpoint by")).toHaveValue("val_f1");
    expect(screen.getByLabelText("Promote the model")).toHaveValue("if_better");
    expect(screen.getByLabelText("Early-stop patience")).toHaveAccessibleDescription(
      "epochs without a better validation F1",
    );
    await user.selectOptions(screen.getByLabelText("Input normalisation"), "zscore");
    await user.selectOptions(screen.getByLabelText("Best checkpoint by"), "val_loss");
    await user.selectOptions(screen.getByLabelText("Promote the model"), "always");
    expect(screen.getByLabelText("Early-stop patience")).toHaveAccessibleDescription(
      "epochs without a better validation loss",
    );
    const dropout = screen.getByLabelText("LSTM input dropout");
    await user.clear(dropout);
    await user.type(dropout, "1");
    await user.click(screen.getByRole("button", { name: "Start training" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(dropout).toHaveAccessibleDescription("LSTM dropout must be at least 0 and below 1");
    expect(dropout).toHaveFocus();

    await user.clear(dropout);
    await user.type(dropout, "0.2");
    const decay = screen.getByLabelText("Weight decay");
    await user.clear(decay);
    await user.type(decay, "0.01");
    await user.click(screen.getByRole("button", { name: "Start training" }));
    expect(onSubmit).toHaveBeenCalledOnce();
    const [request] = onSubmit.mock.calls[0] as unknown as [{ config: Record<string, unknown> }];
    expect(request.config).toMatchObject({
      norm: "zscore",
      select: "val_loss",
      promote: "always",
      dropout_lstm: 0.2,
      dropout_head: 0,
      weight_decay: 0.01,
    });
  });

  it("sends mirror and noise, and refuses mirrored books with z-scored prices", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn(async () => {});
    render(<TrainForm datasets={datasets} onSubmit={onSubmit} onCancel={() => {}} />);

    await user.selectOptions(screen.getByLabelText("Dataset"), "btc");
    await user.click(screen.getByText("Advanced settings"));
    const mirror = screen.getByLabelText("Also train on mirrored books (UP and DOWN swap)");
    const noise = screen.getByLabelText("Input noise");
    expect(mirror).not.toBeChecked();
    expect(noise).toHaveValue(0);
    expect(noise).toHaveAccessibleDescription("std of Gaussian noise on the scaled inputs; 0: off");

    await user.click(mirror);
    await user.selectOptions(screen.getByLabelText("Input normalisation"), "zscore");
    await user.clear(noise);
    await user.type(noise, "11");
    await user.click(screen.getByRole("button", { name: "Start training" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(mirror).toHaveAttribute("aria-invalid", "true");
    expect(mirror).toHaveAccessibleDescription("Mirrored books need prices as bps from the mid");
    expect(mirror).toHaveFocus();
    expect(noise).toHaveAccessibleDescription("Input noise must be at least 0 and at most 10");

    // Choosing mid_bps answers the mirror error.
    await user.selectOptions(screen.getByLabelText("Input normalisation"), "mid_bps");
    expect(mirror).not.toHaveAttribute("aria-invalid");
    expect(screen.queryByText("Mirrored books need prices as bps from the mid")).toBeNull();
    await user.clear(noise);
    await user.type(noise, "0.1");
    await user.click(screen.getByRole("button", { name: "Start training" }));
    expect(onSubmit).toHaveBeenCalledOnce();
    const [request] = onSubmit.mock.calls[0] as unknown as [{ config: Record<string, unknown> }];
    expect(request.config).toMatchObject({ norm: "mid_bps", mirror: true, noise: 0.1 });
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
