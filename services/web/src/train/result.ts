// A finished run's result.json (GET /api/jobs/{id} `result`), and the pure functions that line the
// model up against its baselines. The types are generated (src/api/schema.d.ts) from the gateway's
// RunResult (services/api/jobs/schemas.py). Every key is optional: results written by an older
// engine lack `backtest`, `gate` and `model.calibration`, and the UI shows only what a result holds.
import type { components } from "../api/schema";
import { modelTitle } from "./zoo";

type Wire = components["schemas"];

export type RunResult = Wire["RunResult"];
export type ModelScores = Wire["ModelScores"];
export type BaselineScores = Wire["BaselineScores"];
/** Classification scores on the test rows (shared/ml/metrics.py): the model's, a baseline's, or
 * those older results kept under `test`. */
export type Scores = ModelScores | BaselineScores | Wire["ResultTestSet"];
/** One reliability bin: predictions whose top-class probability fell in [lo, hi). */
export type ReliabilityBin = Wire["ReliabilityBin"];
export type Calibration = Wire["Calibration"];
/** Backtest figures on the test rows; `gross` is the same at zero cost. */
export type TradeFigures = Wire["TradeFigures"];
export type BacktestTest = Wire["BacktestTest"];
export type BacktestEntry = Wire["BacktestEntry"];
export type Backtest = Wire["Backtest"];
export type GateVerdict = Wire["GateVerdict"];
export type FoldSummary = Wire["FoldSummary"];

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

/** The row name of a result entry (`model`, titled after its network `arch`, or a baseline key). */
export function entryName(key: string, fold?: number | null, arch?: string | null): string {
  if (key === MODEL_KEY) return `${modelTitle(arch)} (fold ${fold ?? 5})`;
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
      name: entryName(MODEL_KEY, result.fold, result.arch),
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

/**
 * The model version a run registered and inference scores under: `<run>/fold<k>` of its served
 * fold (shared/rundir.py), as the registry lists it when it does.
 */
export function servedVersion(
  job: { id: string; config: { folds: number }; result?: RunResult | null },
  models: { job_id: string; version: string }[] = [],
): string {
  return (
    models.find((m) => m.job_id === job.id)?.version ??
    `${job.id}/fold${job.result?.fold ?? job.config.folds}`
  );
}
