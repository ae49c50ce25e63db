// Where a run stands is the gateway's Progress (GET /api/jobs/{id} `progress`, computed in
// services/api/jobs/service.py): its fraction, its label and the batch position are shown as they
// are, and nothing here recomputes them. Job events only say when the job row has moved on.
import type { Schemas } from "../api/client";
import type { JobEventType } from "../live/messages";

export type Progress = Schemas["Progress"];

/**
 * How often a run's batch position reaches its row: every lease heartbeat (at most 2 s apart,
 * services/worker/lease.py `Lease.interval`). Progress events closer together than this would
 * fetch the same row again.
 */
export const ROW_INTERVAL_MS = 2000;

/**
 * Whether to fetch the job again on hearing `type`, `sinceMs` after the last fetch. The worker
 * writes the row before it publishes every other event (a finished epoch or fold, a new status),
 * so those are fetched at once; progress events at most once per heartbeat.
 */
export function refetchOn(type: JobEventType, sinceMs: number): boolean {
  return type !== "progress" || sinceMs >= ROW_INTERVAL_MS;
}

/** The fraction as a whole percentage, for the bar and its figure. */
export function percent(p: Progress | undefined): number {
  return Math.round((p?.fraction ?? 0) * 100);
}
