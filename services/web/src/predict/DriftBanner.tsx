import { Notice } from "../ui/Notice";
import type { Drift } from "./useLiveScores";

const f2 = (x: number | null) => (x == null ? "–" : x.toFixed(2));

/**
 * Shown while the served model is flagged as drifting on the symbol (a `model_degraded` with
 * degraded true, or its scores' own flag); gone once degraded false comes. `margin` fills in for a
 * flag that came without its own (inference's drift_margin, from GET /api/live/scores).
 */
export function DriftBanner({ drift, margin }: { drift: Drift | null; margin: number | null }) {
  if (!drift?.degraded) return null;
  const by = drift.margin ?? margin;
  const over = drift.window == null ? "" : ` over the last ${drift.window.toLocaleString("en-US")}`;
  return (
    <div data-testid="live-degraded">
      <Notice tone="bad" title="The served model is drifting.">
        Live macro F1 {f2(drift.liveF1)}
        {over} is {by == null ? "below" : `more than ${f2(by)} below`} its test F1 {f2(drift.testF1)}
        {by == null ? " by more than the drift margin" : ""}.
      </Notice>
    </div>
  );
}
