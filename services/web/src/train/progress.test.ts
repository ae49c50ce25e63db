import { describe, expect, it } from "vitest";
import { ROW_INTERVAL_MS, percent, refetchOn } from "./progress";

describe("run progress", () => {
  it("fetches the job again at once after an event the worker wrote to its row first", () => {
    for (const type of ["started", "epoch", "fold_done", "succeeded", "failed", "cancelled"] as const)
      expect(refetchOn(type, 0)).toBe(true);
  });

  it("fetches again on progress events at most once per heartbeat", () => {
    expect(refetchOn("progress", ROW_INTERVAL_MS - 1)).toBe(false);
    expect(refetchOn("progress", ROW_INTERVAL_MS)).toBe(true);
  });

  it("shows the gateway's fraction as a whole percentage, 0 while it has none", () => {
    expect(percent({ fraction: 0.1875, label: "Fold 1 of 2 · epoch 2 of 4" })).toBe(19);
    expect(percent({ fraction: 1, label: "Complete" })).toBe(100);
    expect(percent({ fraction: null, label: "Queued: waiting for a worker" })).toBe(0);
    expect(percent(undefined)).toBe(0);
  });
});
