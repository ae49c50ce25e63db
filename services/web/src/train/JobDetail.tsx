import { lazy, Suspense, useEffect, useMemo, useState } from "react";
import { Link } from "react-router";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { useResource } from "../api/useResource";
import { useJobSubscription, useLiveMessages } from "../live/LiveProvider";
import { isJobEvent, type JobEvent } from "../live/messages";
import { useSession } from "../session/SessionProvider";
import { EmptyState, Notice } from "../ui/Notice";
import { StatusPill } from "../ui/StatusPill";
import { dateTime, duration, shortVersion } from "../ui/format";
import { shortId } from "./JobList";
import type { MetricPoint } from "./MetricsCurves";
import { ModelActions, isCandidate } from "./ModelsPanel";
import {
  EMPTY_PROGRESS,
  applyJobEvent,
  describeProgress,
  overallFraction,
  progressFromSnapshot,
  type RunProgress,
} from "./progress";
import type { RunResult } from "./result";
import { ResultsView } from "./ResultsView";

const MetricsCurves = lazy(() => import("./MetricsCurves"));

type Job = Schemas["JobOut"];
type Model = Schemas["ModelOut"];

/** The line above the progress bar: where the run is, or where it stopped. */
function progressLine(status: string, progress: RunProgress): string {
  if (status === "queued") return "Queued: waiting for a worker";
  if (status === "succeeded") return "Complete";
  if (status === "failed" || status === "cancelled") {
    const verb = status === "failed" ? "Failed" : "Cancelled";
    return progress.current === null
      ? `${verb} before training started`
      : `${verb} at ${describeProgress(progress).toLowerCase()}`;
  }
  return describeProgress(progress);
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const LIVE_STATUS: Partial<Record<JobEvent["type"], Job["status"]>> = {
  started: "running",
  progress: "running",
  epoch: "running",
  fold_done: "running",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
};

interface Props {
  jobId: string;
  models: Model[];
  onChanged: () => void;
}

/** One run, live: progress, curves per fold, test metrics against baselines, Cancel and Promote. */
export function JobDetail({ jobId, models, onChanged }: Props) {
  const session = useSession();
  const [pollMs, setPollMs] = useState<number | undefined>(5000);
  const job = useResource(
    () => unwrap(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: jobId } } })),
    `job:${jobId}`,
    pollMs,
  );
  const [progress, setProgress] = useState<RunProgress>(EMPTY_PROGRESS);
  const [heard, setHeard] = useState(false);
  const [liveStatus, setLiveStatus] = useState<Job["status"] | null>(null);
  const [liveError, setLiveError] = useState<string | null>(null);
  const [liveMetrics, setLiveMetrics] = useState<MetricPoint[]>([]);
  const [actionError, setActionError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);

  useJobSubscription(jobId);

  useEffect(() => {
    setProgress(EMPTY_PROGRESS);
    setHeard(false);
    setLiveStatus(null);
    setLiveError(null);
    setLiveMetrics([]);
    setActionError(null);
  }, [jobId]);

  const data = job.data;
  const status: Job["status"] | undefined =
    data && TERMINAL.has(data.status) ? data.status : (liveStatus ?? data?.status);

  // Until events arrive, the job row is the best account of where the run is.
  useEffect(() => {
    if (!data) return;
    if (TERMINAL.has(data.status) || !heard) setProgress(progressFromSnapshot(data.progress, data.status));
    setPollMs(TERMINAL.has(data.status) ? undefined : 5000);
  }, [data, heard]);

  const reload = job.reload;
  const sequentialOff = Boolean((data?.config as Record<string, unknown> | undefined)?.parallel_folds);
  useLiveMessages((m) => {
    if (!isJobEvent(m) || m.job_id !== jobId) return;
    setHeard(true);
    setProgress((p) => applyJobEvent(p, m, !sequentialOff));
    const next = LIVE_STATUS[m.type];
    if (next) setLiveStatus(next);
    if (m.type === "failed" && m.message) setLiveError(m.message);
    if (m.type === "epoch" && m.fold != null && m.epoch != null && m.metrics) {
      setLiveMetrics((prev) => [...prev, { fold: m.fold!, epoch: m.epoch!, ...m.metrics }]);
    }
    if (m.type === "fold_done" || TERMINAL.has(m.type)) {
      reload();
      if (TERMINAL.has(m.type)) onChanged();
    }
  });

  const points = useMemo(() => {
    const byKey = new Map<string, MetricPoint>();
    for (const p of [...(data?.metrics ?? []), ...liveMetrics])
      byKey.set(`${p.fold}:${p.epoch}`, p as MetricPoint);
    return [...byKey.values()];
  }, [data?.metrics, liveMetrics]);

  if (job.error && !data) {
    return (
      <section className="card">
        {job.error.status === 404 ? (
          <EmptyState icon="?" title={`Run ${shortId(jobId)} was not found`}>
            It may have been removed. <Link to="/train">Back to runs</Link>
          </EmptyState>
        ) : (
          <Notice tone="bad" title="Could not load the run.">
            {job.error.message}
          </Notice>
        )}
      </section>
    );
  }
  if (!data || !status) {
    return (
      <section className="card" aria-busy="true">
        <p className="muted">Loading run…</p>
      </section>
    );
  }

  const config = (data.config ?? {}) as Record<string, unknown>;
  const folds = progress.folds || Number(config.folds ?? 5);
  const frac = status === "succeeded" ? 1 : overallFraction(progress);
  const current = progress.current != null ? progress.byFold[progress.current] : undefined;
  const active = status === "queued" || status === "running";
  const result = (data.result ?? null) as RunResult | null;
  const errorText = data.error ?? liveError;
  const ownModel = models.find((m) => m.job_id === data.id);

  async function cancel() {
    setCancelling(true);
    setActionError(null);
    try {
      await unwrap(api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } }));
      reload();
      onChanged();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) session.expired();
      setActionError((e as Error).message);
    } finally {
      setCancelling(false);
    }
  }

  return (
    <div className="stack" data-testid="job-detail" data-status={status}>
      <section className="card" aria-labelledby="job-title">
        <div className="card-head">
          <div className="row">
            <Link to="/train" className="btn btn-ghost btn-sm back-link">
              ← Runs
            </Link>
            <h2 id="job-title">
              Run {shortId(data.id)} · {data.dataset}
            </h2>
            <StatusPill status={status} />
          </div>
          {active && (
            <button
              type="button"
              className="btn btn-danger btn-sm"
              onClick={cancel}
              disabled={cancelling || !session.signedIn}
              title={session.signedIn ? undefined : "Sign in to cancel runs"}
            >
              {cancelling ? "Cancelling…" : "Cancel run"}
            </button>
          )}
        </div>

        <div className="progress">
          <div className="progress-line">
            <span>{progressLine(status, progress)}</span>
            <span className="num" data-testid="job-progress">
              {Math.round(frac * 100)}%
            </span>
          </div>
          <div
            className="progress-track"
            role="progressbar"
            aria-label="Run progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(frac * 100)}
          >
            <div
              className={`progress-fill${status === "succeeded" ? " done" : status === "failed" ? " failed" : ""}`}
              style={{ width: `${frac * 100}%` }}
            />
          </div>
          {active && current && current.batches > 0 && (
            <>
              <div className="progress-line small muted">
                <span>Batch within epoch</span>
                <span className="num">
                  {current.batch} / {current.batches}
                </span>
              </div>
              <div
                className="progress-track thin"
                role="progressbar"
                aria-label="Batch progress"
                aria-valuemin={0}
                aria-valuemax={current.batches}
                aria-valuenow={current.batch}
              >
                <div
                  className="progress-fill"
                  style={{ width: `${(current.batch / current.batches) * 100}%` }}
                />
              </div>
            </>
          )}
        </div>

        <dl className="kv" style={{ marginTop: 16 }}>
          <div>
            <dt>Created</dt>
            <dd>{dateTime(data.created_at)}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{duration(data.started_at, data.finished_at)}</dd>
          </div>
          <div>
            <dt>Labels</dt>
            <dd>{String(config.labels ?? "triple_barrier")}</dd>
          </div>
          <div>
            <dt>Epochs × folds</dt>
            <dd>
              {String(config.epochs ?? "–")} × {folds}
            </dd>
          </div>
          <div>
            <dt>Batch · lr</dt>
            <dd>
              {String(config.batch_size ?? "–")} · {String(config.lr ?? "–")}
            </dd>
          </div>
          {Boolean(config.quick) && (
            <div>
              <dt>Mode</dt>
              <dd>quick</dd>
            </div>
          )}
        </dl>

        {actionError && (
          <div style={{ marginTop: 16 }}>
            <Notice tone="bad">{actionError}</Notice>
          </div>
        )}
      </section>

      {status === "failed" && (
        <Notice tone="bad" title="This run failed.">
          {errorText ? <pre data-testid="job-error">{errorText}</pre> : "The worker did not record a reason."}
        </Notice>
      )}
      {status === "cancelled" && (
        <Notice tone="warn" title="This run was cancelled.">
          Checkpoints written so far are kept; it will not be promoted.
        </Notice>
      )}

      <section className="card" aria-labelledby="curves-title">
        <div className="card-head">
          <h2 id="curves-title">Training curves</h2>
          <span className="hint">per fold, by epoch</span>
        </div>
        {points.length ? (
          <Suspense fallback={<p className="muted small">Loading charts…</p>}>
            <MetricsCurves points={points} folds={folds} />
          </Suspense>
        ) : (
          <p className="muted small">
            {active ? "Curves appear after the first epoch." : "No epochs were recorded."}
          </p>
        )}
      </section>

      {status === "succeeded" && (
        <section className="card" aria-labelledby="results-title">
          <div className="card-head">
            <h2 id="results-title">Test-set results</h2>
            {ownModel && (
              <div className="row">
                <span className="faint small" title={ownModel.version}>
                  Model {shortVersion(ownModel.version)}
                </span>
                {isCandidate(ownModel) && (
                  <span className="pill pill-warn" title={ownModel.gate_reason ?? undefined}>
                    Candidate
                  </span>
                )}
                <ModelActions model={ownModel} models={models} onChanged={onChanged} />
              </div>
            )}
          </div>
          {result ? <ResultsView result={result} /> : <p className="muted small">No result was recorded.</p>}
        </section>
      )}
    </div>
  );
}
