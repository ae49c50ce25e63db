import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ResultsView } from "./ResultsView";

// The shape of $LOB_HOME/runs/<id>/result.json as the engine writes it (trimmed).
const RESULT = {
  fold: 5,
  classes: ["DOWN", "NEUTRAL", "UP"],
  test: { samples: 120, first_row: 4420, last_row: 4539 },
  model: {
    accuracy: 0.61,
    f1_macro: 0.55,
    f1_weighted: 0.6,
    confusion: [
      [30, 10, 0],
      [5, 40, 5],
      [0, 10, 30],
    ],
  },
  baselines: {
    majority: { accuracy: 0.38, f1_macro: 0.18, f1_weighted: 0.21 },
    logistic_imbalance: { accuracy: 0.52, f1_macro: 0.57, f1_weighted: 0.5 },
  },
  folds: [
    {
      fold: 1,
      train: 620,
      val: 720,
      best_epoch: 3,
      epochs_run: 5,
      best_val_loss: 0.43,
      best_val_acc: 0.4,
      best_val_f1: 0.3,
      early_stopped: true,
    },
  ],
};

describe("ResultsView", () => {
  it("puts the model beside the baselines and marks the best figure", () => {
    render(<ResultsView result={RESULT} />);
    const table = screen.getByRole("table", { name: "Test-set metrics" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.firstElementChild?.textContent)).toEqual([
      "DeepLOB (fold 5)",
      "Majority class",
      "Logistic regression",
    ]);
    expect(within(rows[0]!).getByText("61.0%")).toHaveClass("best");
    expect(within(rows[2]!).getByText("57.0%")).toHaveClass("best"); // the baseline wins F1 macro here
    expect(screen.getByText(/120 test samples, rows 4,420–4,539/)).toBeInTheDocument();
  });

  it("draws the confusion matrix with each row's share", () => {
    render(<ResultsView result={RESULT} />);
    expect(screen.getByLabelText("true UP, predicted UP: 30 (75.0% of UP)")).toBeInTheDocument();
    expect(screen.getByLabelText("true DOWN, predicted NEUTRAL: 10 (25.0% of DOWN)")).toBeInTheDocument();
    const folds = screen.getByRole("table", { name: "Validation by fold" });
    expect(within(folds).getByText(/stopped early/)).toBeInTheDocument();
  });
});
