// How a live score prints, for every view of one: the served model's card, the champion beside
// its challenger, the run comparison. A figure with nothing scored behind it prints as none.
import type { LiveBacktest, LiveScores, ScoreFigures } from "../live/messages";
import { fixed, pct, signed } from "../ui/format";

/** `last` holds the last this many scored predictions (services/inference/scoring.py SCORE_WINDOW). */
export const SCORE_WINDOW = 1_000;

/** A live figure, or none while nothing is scored (no samples is no figure, never 0%). */
export function figure(f: ScoreFigures, value: number | null | undefined, show: (x: number) => string) {
  return f.samples > 0 && value != null ? show(value) : "–";
}

export const f1 = (x: number | null | undefined) => fixed(x, 3);

/** The live backtest's net bps, signed; none before its first closed trade. */
export function netBps(bt: LiveBacktest): string {
  return bt.trades ? `${signed(bt.net_bps)} bps` : "–";
}

/** The live figures' rows: a live figure, its test-set counterpart, how it prints, its testids' stem. */
export const SCORE_ROWS = [
  { name: "Hit rate", id: "acc", live: "accuracy", test: "test_accuracy", show: pct },
  { name: "Macro F1", id: "f1", live: "f1_macro", test: "test_f1_macro", show: f1 },
] as const satisfies readonly {
  name: string;
  id: string;
  live: keyof ScoreFigures;
  test: keyof LiveScores;
  show: (x: number | null | undefined) => string;
}[];
