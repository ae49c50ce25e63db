// The run comparison (/train/compare?jobs=a,b,c): which selections it takes, and each run's
// figures as its table reads them. Pure functions of the job rows and inference's live report.
import type { LiveScores } from "../live/messages";
import { entryRows, modelScores, noTrades, servedVersion, type RunResult } from "./result";
import type { Job } from "./useJobRun";
import { modelTitle } from "./zoo";

export const COMPARE_MIN = 2;
export const COMPARE_MAX = 4;

/** Why `count` runs cannot be compared, or null when they can. */
export function compareProblem(count: number): string | null {
  const picked = `${count} ${count === 1 ? "is" : "are"} picked`;
  if (count < COMPARE_MIN) return `Pick at least ${COMPARE_MIN} succeeded runs to compare; ${picked}.`;
  if (count > COMPARE_MAX) return `Compare at most ${COMPARE_MAX} runs at once; ${picked}.`;
  return null;
}

/** The page that compares `ids`, in the order given. */
export function compareUrl(ids: string[]): string {
  return `/train/compare?jobs=${ids.map(encodeURIComponent).join(",")}`;
}

/** The run ids in ?jobs=, each once, in order. */
export function parseCompareJobs(param: string | null): string[] {
  return [
    ...new Set(
      (param ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}

/** What the comparison shows of one succeeded run. */
export interface RunFigures {
  model: string;
  dataset: string;
  f1: number | null;
  accuracy: number | null;
  /** The model's backtest on the test rows; null figures when it made no trades. */
  netBps: number | null;
  sharpe: number | null;
  noTrades: boolean;
  logLoss: number | null;
  brier: number | null;
  bestBaseline: { name: string; f1: number } | null;
  /** Live macro F1 over the last 1,000 scored, per symbol the version is scored on. */
  live: Record<string, number | null>;
}

const finite = (v: number | null | undefined): number | null => (v != null && Number.isFinite(v) ? v : null);

/** The best baseline by test macro F1, for context beside the model's. */
function bestBaseline(result: RunResult): RunFigures["bestBaseline"] {
  let best: RunFigures["bestBaseline"] = null;
  for (const row of entryRows(result)) {
    const f1 = finite(row.scores.f1_macro);
    if (!row.ours && f1 != null && (best === null || f1 > best.f1)) best = { name: row.name, f1 };
  }
  return best;
}

export function runFigures(job: Job, live: LiveScores[], models: { job_id: string; version: string }[]) {
  const result = job.result ?? {};
  const scores = modelScores(result);
  const entry = result.backtest?.entries?.model;
  const traded = entry && !noTrades(entry) ? entry.test : null;
  const calibration = result.model?.calibration;
  const version = servedVersion(job, models);
  const figures: RunFigures = {
    model: modelTitle(result.arch ?? job.config.model),
    dataset: job.dataset,
    f1: finite(scores?.f1_macro),
    accuracy: finite(scores?.accuracy),
    netBps: finite(traded?.mean_net_bps),
    sharpe: finite(traded?.sharpe),
    noTrades: Boolean(entry) && noTrades(entry),
    logLoss: finite(calibration?.log_loss),
    brier: finite(calibration?.brier),
    bestBaseline: bestBaseline(result),
    live: {},
  };
  for (const s of live) {
    if (s.model_version !== version) continue;
    figures.live[s.symbol.toUpperCase()] = s.last.samples > 0 ? finite(s.last.f1_macro) : null;
  }
  return figures;
}

/**
 * Which of `values` is best (the highest, or the lowest for `lower`): their indexes, ties all
 * marked; none when fewer than two runs have the figure, as there is nothing to compare.
 */
export function bestIndexes(values: (number | null)[], lower = false): Set<number> {
  const present = values.filter((v): v is number => v != null);
  if (present.length < 2) return new Set();
  const best = lower ? Math.min(...present) : Math.max(...present);
  return new Set(values.flatMap((v, i) => (v === best ? [i] : [])));
}
