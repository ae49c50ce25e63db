import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import MetricsCurves, { type MetricPoint } from "./MetricsCurves";

const point = (fold: number, epoch: number): MetricPoint => ({
  fold,
  epoch,
  train_loss: 1 / epoch,
  val_loss: 1.1 / epoch,
  train_acc: 0.4,
  val_acc: 0.38,
  val_f1: 0.35,
});

describe("MetricsCurves", () => {
  it("opens on the latest fold with data and offers only folds that have some", () => {
    // Given fold 1 done and fold 2 under way, of 3
    render(<MetricsCurves points={[point(1, 1), point(1, 2), point(2, 1)]} folds={3} />);

    // Then fold 2 is shown, with a loss and an accuracy chart, and fold 3 cannot be picked yet
    expect(screen.getByRole("button", { name: "Fold 2" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByRole("button", { name: "Fold 3" })).toBeDisabled();
    expect(screen.getByRole("figure", { name: "Fold 2 loss per epoch" })).toBeInTheDocument();
    expect(screen.getByRole("figure", { name: "Fold 2 accuracy per epoch" })).toBeInTheDocument();
    expect(screen.getByText(/One epoch so far in this fold/)).toBeInTheDocument();

    // When fold 1 is picked
    fireEvent.click(screen.getByRole("button", { name: "Fold 1" }));

    // Then its charts show
    expect(screen.getByRole("figure", { name: "Fold 1 loss per epoch" })).toBeInTheDocument();
    expect(screen.queryByText(/One epoch so far in this fold/)).not.toBeInTheDocument();
  });
});
