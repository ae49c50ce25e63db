// Run progress from job events. Each fold is tracked on its own, so folds trained in parallel
// (parallel_folds) and folds that stop early (patience) both add up to an honest overall figure.
import type { JobEvent } from "../live/messages";

export interface FoldProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  done: boolean;
}

export interface RunProgress {
  folds: number;
  /** Fold most recently heard from (1-based), for the "Fold 2 of 5" line. */
  current: number | null;
  byFold: Record<number, FoldProgress>;
  finished: boolean;
}

export const EMPTY_PROGRESS: RunProgress = { folds: 0, current: null, byFold: {}, finished: false };

/** Share of one fold done: finished epochs plus the running epoch's batches. */
export function foldFraction(p: FoldProgress): number {
  if (p.done) return 1;
  if (p.epochs <= 0) return 0;
  const inEpoch = p.batches > 0 ? Math.min(1, p.batch / p.batches) : 0;
  const epochsDone = Math.max(0, p.epoch - 1) + inEpoch;
  return Math.min(1, epochsDone / p.epochs);
}

/** Share of the whole run done, 0..1. */
export function overallFraction(p: RunProgress): number {
  if (p.finished) return 1;
  if (p.folds <= 0) return 0;
  let sum = 0;
  for (const fold of Object.values(p.byFold)) sum += foldFraction(fold);
  return Math.min(1, sum / p.folds);
}

/**
 * Rebuild progress from the job's last known position (GET /api/jobs/{id}). There `epoch` counts
 * the epochs the current fold has finished and `batch` the batches done in the next one
 * (services/worker/hooks.py), while events name the running epoch, 1-based: shift by one.
 */
export function progressFromSnapshot(
  snap:
    | {
        fold?: number | null;
        folds?: number | null;
        epoch?: number | null;
        epochs?: number | null;
        batch?: number | null;
        batches?: number | null;
      }
    | null
    | undefined,
  status: string,
): RunProgress {
  if (status === "succeeded") return { ...EMPTY_PROGRESS, folds: snap?.folds ?? 0, finished: true };
  if (!snap?.fold || !snap.folds) return EMPTY_PROGRESS;
  const byFold: Record<number, FoldProgress> = {};
  // Walk-forward folds run in order, so every fold before the reported one is complete.
  for (let f = 1; f < snap.fold; f += 1)
    byFold[f] = { epoch: 0, epochs: 0, batch: 0, batches: 0, done: true };
  byFold[snap.fold] = {
    epoch: (snap.epoch ?? 0) + 1,
    epochs: snap.epochs ?? 0,
    batch: snap.batch ?? 0,
    batches: snap.batches ?? 0,
    done: false,
  };
  return { folds: snap.folds, current: snap.fold, byFold, finished: false };
}

/**
 * Fold the event into the progress. With `sequential` (folds run one after another, the default
 * unless config.parallel_folds), news from fold k also means folds 1..k-1 are finished, which
 * matters when the page opened in the middle of a run and missed their fold_done events.
 */
export function applyJobEvent(p: RunProgress, ev: JobEvent, sequential = true): RunProgress {
  if (ev.type === "succeeded") return { ...p, finished: true };
  const fold = ev.fold ?? null;
  const folds = ev.folds ?? p.folds;
  if (fold === null) return { ...p, folds };
  const prev = p.byFold[fold] ?? { epoch: 0, epochs: 0, batch: 0, batches: 0, done: false };
  let next: FoldProgress = {
    ...prev,
    epochs: ev.epochs ?? prev.epochs,
    batches: ev.batches ?? prev.batches,
  };
  switch (ev.type) {
    case "progress":
      next = { ...next, epoch: ev.epoch ?? prev.epoch, batch: ev.batch ?? prev.batch };
      break;
    case "epoch":
      // The epoch has ended: count it whole even if the last progress event was a few batches short.
      next = { ...next, epoch: (ev.epoch ?? prev.epoch) + 1, batch: 0 };
      break;
    case "fold_done":
      next = { ...next, done: true };
      break;
    case "started":
      if (ev.epoch != null) next = { ...next, epoch: ev.epoch };
      break;
    default:
      break;
  }
  const byFold = { ...p.byFold, [fold]: next };
  if (sequential) {
    for (let f = 1; f < fold; f += 1) {
      if (!byFold[f]?.done)
        byFold[f] = { ...(byFold[f] ?? { epoch: 0, epochs: 0, batch: 0, batches: 0 }), done: true };
    }
  }
  return { ...p, folds, current: fold, byFold };
}

/** "Fold 2 of 5 · epoch 3 of 20" for the current fold. */
export function describeProgress(p: RunProgress): string {
  if (p.finished) return "Complete";
  if (p.current === null) return "Waiting for the worker";
  const f = p.byFold[p.current];
  const parts = [`Fold ${p.current} of ${p.folds || "?"}`];
  if (f && f.epochs) parts.push(`epoch ${Math.min(Math.max(f.epoch, 1), f.epochs)} of ${f.epochs}`);
  return parts.join(" · ");
}
