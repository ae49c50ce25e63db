// A finished run's result.json (GET /api/jobs/{id} `result`), as shared/ml/evaluation.py writes it,
// and the pure functions that line the model up against its baselines. Every key is optional:
// results written by an older engine lack `backtest`, `gate` and `model.calibration`, and the UI
// shows only what a result holds.

/** Classification scores on the test rows (shared/ml/metrics.py). */
export interface Scores {
  accuracy?: number | null;
  f1_macro?: number | null;
  f1_weighted?: number | null;
  f1_per_class?: number[] | null;
  support?: number[] | null;
  confusion?: number[][] | null;
  samples?: number | null;
  loss?: number | null;
}

/** One reliability bin: predictions whose top-class probability fell in [lo, hi). */
export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  confidence?: number | null;
  accuracy?: number | null;
}

export interface Calibration {
  log_loss?: number | null;
  brier?: number | null;
  reliability?: ReliabilityBin[] | null;
}

export interface ModelScores extends Scores {
  calibration?: Calibration | null;
}

export interface BaselineScores extends Scores {
  /** majority: the class it always predicts. */
  class?: string | null;
  /** The fitted baselines: the class weighting chosen on the validation block. */
  class_weight?: string | null;
}

/** Backtest figures on the test rows; `gross` is the same at zero cost. */
export interface TradeFigures {
  trades?: number | null;
  hit_rate?: number | null;
  mean_net_bps?: number | null;
  total_net_bps?: number | null;
  sharpe?: number | null;
  max_drawdown_bps?: number | null;
  turnover?: number | null;
  long?: number | null;
  short?: number | null;
}

export interface BacktestTest extends TradeFigures {
  gross?: TradeFigures | null;
  /** Cumulative net bps after each trade, thinned to at most 200 points. */
  equity?: number[] | null;
}

export interface BacktestEntry {
  /** The probability threshold chosen on the validation block; null when no θ traded there. */
  theta?: number | null;
  no_trades?: boolean | null;
  test?: BacktestTest | null;
}

export interface Backtest {
  fee_bps?: number | null;
  horizon?: number | null;
  entries?: Record<string, BacktestEntry | null> | null;
}

export interface GateVerdict {
  /** null: there was nothing to compare with. */
  passed?: boolean | null;
  reason?: string | null;
}

export interface FoldSummary {
  fold: number;
  train?: number;
  val?: number;
  best_epoch?: number;
  epochs_run?: number;
  best_val_loss?: number;
  best_val_acc?: number;
  best_val_f1?: number;
  early_stopped?: boolean;
}

/** result.json: `model` holds the served fold's test scores, `test` describes the test set. */
export interface RunResult {
  model?: ModelScores | null;
  test?: (Scores & { first_row?: number; last_row?: number }) | null;
  baselines?: Record<string, BaselineScores | null> | null;
  backtest?: Backtest | null;
  gate?: GateVerdict | null;
  folds?: FoldSummary[] | null;
  classes?: string[] | null;
  fold?: number | null;
}

export const MODEL_KEY = "model";

const NAMES: Record<string, { name: string; hint: string }> = {
  majority: { name: "Majority class", hint: "Always predicts the most frequent training class" },
  logistic_imbalance: {
    name: "Logistic, L1 imbalance",
    hint: "Logistic regression on the top-of-book order imbalance",
  },
  // The name older result files used for the same baseline.
  logreg_imbalance: {
    name: "Logistic, L1 imbalance",
    hint: "Logistic regression on the top-of-book order imbalance",
  },
  logistic_book: {
    name: "Logistic, book features",
    hint: "Logistic regression on whole-book features",
  },
  gbm_book: {
    name: "Boosted trees, book features",
    hint: "Gradient-boosted trees (LightGBM) on the same whole-book features",
  },
};

/** The row name of a result entry (`model` or a baseline key). */
export function entryName(key: string, fold?: number | null): string {
  if (key === MODEL_KEY) return `DeepLOB (fold ${fold ?? 5})`;
  return NAMES[key]?.name ?? key;
}

function entryHint(key: string, s: BaselineScores): string | undefined {
  const base = NAMES[key]?.hint;
  if (key === "majority" && s.class) return `Always predicts ${s.class}, the most frequent training class`;
  if (s.class_weight !== undefined && base)
    return `${base}; class weights: ${s.class_weight ?? "none"} (chosen on validation)`;
  return base;
}

/** The model's test scores; older result files kept them under `test` itself. */
export function modelScores(result: RunResult): ModelScores | null {
  if (result.model) return result.model;
  return result.test?.accuracy != null ? result.test : null;
}

export interface EntryRow {
  key: string;
  name: string;
  hint?: string;
  scores: Scores;
  ours: boolean;
  /** This entry's backtest, when the result has one. */
  trade?: BacktestEntry | null;
}

/** The model first, then every baseline the result holds, each with its backtest entry. */
export function entryRows(result: RunResult): EntryRow[] {
  const entries = result.backtest?.entries ?? {};
  const rows: EntryRow[] = [];
  const scores = modelScores(result);
  if (scores)
    rows.push({
      key: MODEL_KEY,
      name: entryName(MODEL_KEY, result.fold),
      scores,
      ours: true,
      trade: entries[MODEL_KEY],
    });
  for (const [key, s] of Object.entries(result.baselines ?? {})) {
    if (s)
      rows.push({
        key,
        name: entryName(key),
        hint: entryHint(key, s),
        scores: s,
        ours: false,
        trade: entries[key],
      });
  }
  return rows;
}

function f1(row: EntryRow): number | null {
  const v = row.scores.f1_macro;
  return v != null && Number.isFinite(v) ? v : null;
}

/**
 * The row with the best test macro F1. A baseline that ties the model wins: the gate
 * (shared/gate.py) promotes only a model that beats every baseline.
 */
export function bestByF1(rows: EntryRow[]): EntryRow | null {
  let best: EntryRow | null = null;
  for (const r of rows) {
    const v = f1(r);
    if (v == null) continue;
    const b = best ? f1(best) : null;
    if (b == null || v > b || (v === b && best!.ours && !r.ours)) best = r;
  }
  return best;
}

/** How the model stands on macro F1: the baselines that match or beat it, best first. */
export function baselinesBeatingModel(rows: EntryRow[]): EntryRow[] {
  const model = rows.find((r) => r.ours);
  const m = model ? f1(model) : null;
  if (m == null) return [];
  return rows.filter((r) => !r.ours && (f1(r) ?? -Infinity) >= m).sort((a, b) => (f1(b) ?? 0) - (f1(a) ?? 0));
}

/** Whether the entry made no trades: no θ traded on validation, or none on the test rows. */
export function noTrades(entry: BacktestEntry | null | undefined): boolean {
  if (!entry) return false;
  return Boolean(entry.no_trades) || entry.theta == null || !entry.test || !entry.test.trades;
}
