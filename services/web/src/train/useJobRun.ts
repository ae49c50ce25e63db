// One run's state for the run page: the job row (GET /api/jobs/{id}), polled until the run ends and
// fetched again as its WebSocket events say the row has moved on, plus what the events tell before
// the row does (status, failure message, finished epochs). Cancel is here too: it changes the run.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { useJobSubscription, useLiveMessages } from "../live/LiveProvider";
import { isJobEvent, type JobEvent } from "../live/messages";
import { useSession } from "../session/SessionProvider";
import type { MetricPoint } from "./MetricsCurves";
import { refetchOn } from "./progress";

export type Job = Schemas["JobDetail"];
export type JobStatus = Job["status"];

const POLL_MS = 5000;
const TERMINAL = new Set<string>(["succeeded", "failed", "cancelled"]);
const LIVE_STATUS: Partial<Record<JobEvent["type"], JobStatus>> = {
  started: "running",
  progress: "running",
  epoch: "running",
  fold_done: "running",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
};

/** GET /api/jobs/{id}: the row, its metrics and, once finished, its result. */
export function fetchJob(jobId: string): Promise<Job> {
  return unwrap(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: jobId } } }));
}

export function isActive(status: JobStatus): boolean {
  return status === "queued" || status === "running";
}

export interface JobRun {
  /** The last row fetched; it stays while a later fetch fails. */
  job: Job | undefined;
  /** Why the last fetch failed, if it did. */
  error: ApiError | null;
  /** The row's status once it is final, else the latest event's (the row lags behind them). */
  status: JobStatus | undefined;
  /** The row's error, else the `failed` event's message. */
  errorText: string | null;
  /** Epoch metrics from the row and from events since, one per fold and epoch. */
  points: MetricPoint[];
  cancel: () => void;
  cancelling: boolean;
  cancelError: string | null;
}

/** `onChanged` is called when the run ends or is cancelled: the lists around it are out of date. */
export function useJobRun(jobId: string, onChanged: () => void): JobRun {
  const session = useSession();
  const query = useQuery({
    queryKey: ["job", jobId],
    queryFn: () => fetchJob(jobId),
    refetchInterval: (q) => (q.state.data && TERMINAL.has(q.state.data.status) ? false : POLL_MS),
  });
  const lastFetch = useRef(0);
  const [liveStatus, setLiveStatus] = useState<JobStatus | null>(null);
  const [liveError, setLiveError] = useState<string | null>(null);
  const [liveMetrics, setLiveMetrics] = useState<MetricPoint[]>([]);

  useJobSubscription(jobId);

  const refetch = query.refetch;
  const cancelJob = useMutation({
    mutationFn: () => unwrap(api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } })),
    onSuccess: () => {
      void refetch();
      onChanged();
    },
    onError: (e) => {
      if (e.status === 401) session.expired();
    },
  });
  const resetCancel = cancelJob.reset;

  useEffect(() => {
    setLiveStatus(null);
    setLiveError(null);
    setLiveMetrics([]);
    resetCancel();
  }, [jobId, resetCancel]);

  useLiveMessages((m) => {
    if (!isJobEvent(m) || m.job_id !== jobId) return;
    const now = Date.now();
    if (refetchOn(m.type, now - lastFetch.current)) {
      lastFetch.current = now;
      void refetch();
    }
    const next = LIVE_STATUS[m.type];
    if (next) setLiveStatus(next);
    if (m.type === "failed" && m.message) setLiveError(m.message);
    if (m.type === "epoch" && m.fold != null && m.epoch != null && m.metrics) {
      setLiveMetrics((prev) => [...prev, { fold: m.fold!, epoch: m.epoch!, ...m.metrics }]);
    }
    if (TERMINAL.has(m.type)) onChanged();
  });

  const job = query.data;
  const points = useMemo(() => {
    const byKey = new Map<string, MetricPoint>();
    for (const p of [...(job?.metrics ?? []), ...liveMetrics])
      byKey.set(`${p.fold}:${p.epoch}`, p as MetricPoint);
    return [...byKey.values()];
  }, [job?.metrics, liveMetrics]);

  return {
    job,
    error: query.error,
    status: job && TERMINAL.has(job.status) ? job.status : (liveStatus ?? job?.status),
    errorText: job?.error ?? liveError,
    points,
    cancel: () => cancelJob.mutate(),
    cancelling: cancelJob.isPending,
    cancelError: cancelJob.error?.message ?? null,
  };
}
