import { describe, expect, it } from "vitest";
import type { JobEvent } from "../live/messages";
import {
  EMPTY_PROGRESS,
  applyJobEvent,
  describeProgress,
  overallFraction,
  progressFromSnapshot,
  type RunProgress,
} from "./progress";

const ev = (e: Partial<JobEvent> & Pick<JobEvent, "type">): JobEvent => ({ job_id: "7", ...e });
const replay = (events: JobEvent[]): RunProgress =>
  events.reduce((p, e) => applyJobEvent(p, e), EMPTY_PROGRESS);

describe("run progress", () => {
  it("counts finished epochs and the running epoch's batches", () => {
    // Fold 1 of 2, epoch 2 of 4, half the batches: (1 + 0.5) / 4 of one fold = 0.375 / 2 folds.
    const p = replay([
      ev({ type: "started", fold: 1, folds: 2, epochs: 4 }),
      ev({ type: "progress", fold: 1, folds: 2, epoch: 1, epochs: 4, batch: 100, batches: 100 }),
      ev({ type: "epoch", fold: 1, folds: 2, epoch: 1, epochs: 4 }),
      ev({ type: "progress", fold: 1, folds: 2, epoch: 2, epochs: 4, batch: 50, batches: 100 }),
    ]);
    expect(overallFraction(p)).toBeCloseTo(0.1875);
    expect(describeProgress(p)).toBe("Fold 1 of 2 · epoch 2 of 4");
  });

  it("counts a fold that stopped early as complete", () => {
    const p = replay([
      ev({ type: "progress", fold: 1, folds: 2, epoch: 1, epochs: 20, batch: 10, batches: 10 }),
      ev({ type: "epoch", fold: 1, folds: 2, epoch: 1, epochs: 20 }),
      ev({ type: "fold_done", fold: 1, folds: 2 }),
    ]);
    expect(overallFraction(p)).toBeCloseTo(0.5);
  });

  it("counts earlier folds as done when the page joins a sequential run midway", () => {
    // Opened during fold 3: the fold_done events of folds 1 and 2 were never seen.
    const p = applyJobEvent(
      EMPTY_PROGRESS,
      ev({ type: "progress", fold: 3, folds: 4, epoch: 1, epochs: 1, batch: 5, batches: 10 }),
    );
    expect(overallFraction(p)).toBeCloseTo((2 + 0.5) / 4);
  });

  it("adds up folds trained in parallel", () => {
    const events = [
      ev({ type: "progress", fold: 1, folds: 4, epoch: 1, epochs: 1, batch: 5, batches: 10 }),
      ev({ type: "progress", fold: 2, folds: 4, epoch: 1, epochs: 1, batch: 10, batches: 10 }),
      ev({ type: "progress", fold: 1, folds: 4, epoch: 1, epochs: 1, batch: 10, batches: 10 }),
    ];
    const p = events.reduce((acc, e) => applyJobEvent(acc, e, false), EMPTY_PROGRESS);
    expect(overallFraction(p)).toBeCloseTo(0.5);
    expect(p.current).toBe(1);
  });

  it("is whole once the run succeeds and never exceeds 1", () => {
    const p = replay([
      ev({ type: "progress", fold: 1, folds: 1, epoch: 3, epochs: 2, batch: 12, batches: 10 }),
    ]);
    expect(overallFraction(p)).toBe(1);
    expect(overallFraction(applyJobEvent(EMPTY_PROGRESS, ev({ type: "succeeded" })))).toBe(1);
  });

  it("rebuilds from the job row: earlier folds are done", () => {
    // Fold 3 has finished 1 of its 2 epochs and is half-way through the second.
    const p = progressFromSnapshot(
      { fold: 3, folds: 5, epoch: 1, epochs: 2, batch: 5, batches: 10 },
      "running",
    );
    expect(overallFraction(p)).toBeCloseTo((2 + 0.75) / 5);
    expect(describeProgress(p)).toBe("Fold 3 of 5 · epoch 2 of 2");
    expect(progressFromSnapshot(null, "queued")).toEqual(EMPTY_PROGRESS);
    expect(describeProgress(EMPTY_PROGRESS)).toBe("Waiting for the worker");
  });
});
