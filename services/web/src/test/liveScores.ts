// A LiveScores message as inference writes it (shared/events.py), for the tests to vary.
import type { LiveScores } from "../live/messages";

export const EMPTY_CONFUSION = [
  [0, 0, 0],
  [0, 0, 0],
  [0, 0, 0],
];

/** v1, the champion, on DEMO: 1,000 scored of 1,210 resolved, 7 live trades. */
export const liveScores = (patch: Partial<LiveScores> = {}): LiveScores => ({
  type: "scores",
  model_version: "v1",
  symbol: "DEMO",
  role: "champion",
  labels: "triple_barrier",
  horizon: 10,
  loaded_at: 1_700_000_000,
  resolved: 1_210,
  last: { samples: 1_000, accuracy: 0.52, f1_macro: 0.41, confusion: EMPTY_CONFUSION },
  since_load: { samples: 1_200, accuracy: 0.5, f1_macro: 0.4, confusion: EMPTY_CONFUSION },
  backtest: { theta: 0.6, fee_bps: 1, horizon: 10, trades: 7, net_bps: 12.5, hit_rate: 0.5714, position: 1 },
  test_accuracy: 0.48,
  test_f1_macro: 0.45,
  degraded: false,
  recent: [],
  ...patch,
});
