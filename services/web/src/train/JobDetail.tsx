import { lazy, Suspense, useEffect, useMemo, useRef, useState } from "react";
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
import { percent, refetchOn } from "./progress";
import { ResultsView } from "./ResultsView";

const MetricsCurves = lazy(() => import("./MetricsCurves"));

type Job = Schemas["JobOut"];
type Model = Schemas["ModelOut"];

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

/**
 * One run, live: progress, curves per fold, test metrics against baselines, Cancel and Promote.
 * The progress shown is the gateway's (`job.progress`), fetched again as the run's events come in.
 */
export function JobDetail({ jobId, models, onChanged }: Props) {
  const session = useSession();
  const [pollMs, setPollMs] = useState<number | undefined>(5000);
  const job = useResource(
    () => unwrap(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: jobId } } })),
    `job:${jobId}`,
    pollMs,
  );
  const lastFetch = useRef(0);
  const [liveStatus, setLiveStatus] = useState<Job["status"] | null>(null);
  const [liveError, setLiveError] = useState<string | null>(null);
  const [liveMetrics, setLiveMetrics] = useState<MetricPoint[]>([]);
  const [actionError, setActionError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);

  useJobSubscription(jobId);

  useEffect(() => {
    setLiveStatus(null);
    setLiveError(null);
    setLiveMetrics([]);
    setActionError(null);
  }, [jobId]);

  const data = job.data;
  const status: Job["status"] | undefined =
    data && TERMINAL.has(data.status) ? data.status : (liveStatus ?? data?.status);

  useEffect(() => {
    if (data) setPollMs(TERMINAL.has(data.status) ? undefined : 5000);
  }, [data]);

  const reload = job.reload;
  useLiveMessages((m) => {
    if (!isJobEvent(m) || m.job_id !== jobId) return;
    const now = Date.now();
    if (refetchOn(m.type, now - lastFetch.current)) {
      lastFetch.current = now;
      reload();
    }
    const next = LIVE_STATUS[m.type];
    if (next) setLiveStatus(next);
    if (m.type === "failed" && m.message) setLiveError(m.message);
    if (m.type === "epoch" && m.fold != null && m.epoch != null && m.metrics) {
      setLiveMetrics((prev) => [...prev, { fold: m.fold!, epoch: m.epoch!, ...m.metrics }]);
    }
    if (TERMINAL.has(m.type)) onChanged();
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

  const { config, progress } = data;
  const folds = progress.folds ?? config.folds;
  const pct = percent(progress);
  const active = status === "queued" || status === "running";
  const result = data.result ?? null;
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
            <span data-testid="job-progress-label">{progress.label}</span>
            <span className="num" data-testid="job-progress">
              {pct}%
            </span>
          </div>
          <div
            className="progress-track"
            role="progressbar"
            aria-label="Run progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={pct}
          >
            <div
              className={`progress-fill${status === "succeeded" ? " done" : status === "failed" ? " failed" : ""}`}
              style={{ width: `${(progress.fraction ?? 0) * 100}%` }}
            />
          </div>
          {active && progress.batches != null && progress.batches > 0 && (
            <>
              <div className="progress-line small muted">
                <span>Batch within epoch</span>
                <span className="num">
                  {progress.batch ?? 0} / {progress.batches}
                </span>
              </div>
              <div
                className="progress-track thin"
                role="progressbar"
                aria-label="Batch progress"
                aria-valuemin={0}
                aria-valuemax={progress.batches}
                aria-valuenow={progress.batch ?? 0}
              >
                <div
                  className="progress-fill"
                  style={{ width: `${((progress.batch ?? 0) / progress.batches) * 100}%` }}
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
            <dd>{config.labels}</dd>
          </div>
          <div>
            <dt>Epochs × folds</dt>
            <dd>
              {config.epochs} × {folds}
            </dd>
          </div>
          <div>
            <dt>Batch · lr</dt>
            <dd>
              {config.batch_size} · {config.lr}
            </dd>
          </div>
          {config.quick && (
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
