// The run page's parts, each drawn from plain props; JobDetail composes them and useJobRun feeds
// them. The progress shown is the gateway's (`job.progress`) as it is: nothing here recomputes it.
import { lazy, Suspense } from "react";
import { Link } from "react-router";
import type { Schemas } from "../api/client";
import { Notice } from "../ui/Notice";
import { StatusPill } from "../ui/StatusPill";
import { dateTime, duration, shortVersion } from "../ui/format";
import { shortId } from "./JobList";
import type { MetricPoint } from "./MetricsCurves";
import { ChallengerActions, ModelActions, isCandidate } from "./ModelsPanel";
import { percent, type Progress } from "./progress";
import { ResultsView } from "./ResultsView";
import { isActive, type Job, type JobStatus } from "./useJobRun";
import { modelTitle } from "./zoo";

const MetricsCurves = lazy(() => import("./MetricsCurves"));

type Model = Schemas["ModelOut"];

/** Back link, title and status; Cancel while the run can still be stopped. */
export function JobHeader({
  job,
  status,
  cancel,
}: {
  job: Job;
  status: JobStatus;
  /** null: the run is over, so there is nothing to cancel. */
  cancel: { onCancel: () => void; busy: boolean; signedIn: boolean } | null;
}) {
  return (
    <div className="card-head">
      <div className="row">
        <Link to="/train" className="btn btn-ghost btn-sm back-link">
          ← Runs
        </Link>
        <h2 id="job-title">
          Run {shortId(job.id)} · {job.dataset}
        </h2>
        <StatusPill status={status} />
      </div>
      {cancel && (
        <button
          type="button"
          className="btn btn-danger btn-sm"
          onClick={cancel.onCancel}
          disabled={cancel.busy || !cancel.signedIn}
          title={cancel.signedIn ? undefined : "Sign in to cancel runs"}
        >
          {cancel.busy ? "Cancelling…" : "Cancel run"}
        </button>
      )}
    </div>
  );
}

/** The gateway's progress: label, percentage and bar; the batch within the epoch while active. */
export function JobProgress({ progress, status }: { progress: Progress; status: JobStatus }) {
  const pct = percent(progress);
  const tone = status === "succeeded" ? " done" : status === "failed" ? " failed" : "";
  return (
    <div className="progress">
      <div className="progress-line">
        <span data-testid="job-progress-label">{progress.label}</span>
        <span className="num" data-testid="job-progress">
          {pct}%
        </span>
      </div>
      <Track label="Run progress" now={pct} max={100} fill={progress.fraction ?? 0} tone={tone} />
      {isActive(status) && progress.batches != null && progress.batches > 0 && (
        <>
          <div className="progress-line small muted">
            <span>Batch within epoch</span>
            <span className="num">
              {progress.batch ?? 0} / {progress.batches}
            </span>
          </div>
          <Track
            label="Batch progress"
            now={progress.batch ?? 0}
            max={progress.batches}
            fill={(progress.batch ?? 0) / progress.batches}
            thin
          />
        </>
      )}
    </div>
  );
}

/** A bar at `fill` (0 to 1), announced as `now` of `max`. */
function Track({
  label,
  now,
  max,
  fill,
  thin = false,
  tone = "",
}: {
  label: string;
  now: number;
  max: number;
  fill: number;
  thin?: boolean;
  tone?: string;
}) {
  return (
    <div
      className={`progress-track${thin ? " thin" : ""}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={now}
    >
      <div className={`progress-fill${tone}`} style={{ width: `${fill * 100}%` }} />
    </div>
  );
}

/** When the run was made and how long it took, and the settings that shape it. */
export function JobSettings({ job }: { job: Job }) {
  const { config, progress } = job;
  return (
    <dl className="kv" style={{ marginTop: 16 }}>
      <div>
        <dt>Network</dt>
        <dd data-testid="run-model">{modelTitle(job.result?.arch ?? config.model)}</dd>
      </div>
      <div>
        <dt>Created</dt>
        <dd>{dateTime(job.created_at)}</dd>
      </div>
      <div>
        <dt>Duration</dt>
        <dd>{duration(job.started_at, job.finished_at)}</dd>
      </div>
      <div>
        <dt>Labels</dt>
        <dd>{config.labels}</dd>
      </div>
      <div>
        <dt>Epochs × folds</dt>
        <dd>
          {config.epochs} × {progress.folds ?? config.folds}
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
  );
}

/** Why a run that did not succeed stopped; nothing for one that is active or succeeded. */
export function JobEnding({ status, errorText }: { status: JobStatus; errorText: string | null }) {
  if (status === "failed") {
    return (
      <Notice tone="bad" title="This run failed.">
        {errorText ? <pre data-testid="job-error">{errorText}</pre> : "The worker did not record a reason."}
      </Notice>
    );
  }
  if (status === "cancelled") {
    return (
      <Notice tone="warn" title="This run was cancelled.">
        Checkpoints written so far are kept; it will not be promoted.
      </Notice>
    );
  }
  return null;
}

/** Loss and accuracy per fold and epoch; the charts load on first need. */
export function JobCurves({
  points,
  folds,
  active,
}: {
  points: MetricPoint[];
  folds: number;
  active: boolean;
}) {
  return (
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
  );
}

/** A succeeded run's test-set results, with its model version and Promote / Roll back. */
export function JobResults({
  result,
  model,
  models,
  onChanged,
}: {
  result: Job["result"];
  /** The model version this run registered, if the list has it. */
  model: Model | undefined;
  models: Model[];
  onChanged: () => void;
}) {
  return (
    <section className="card" aria-labelledby="results-title">
      <div className="card-head">
        <h2 id="results-title">Test-set results</h2>
        {model && (
          <div className="row">
            <span className="faint small" title={model.version}>
              Model {shortVersion(model.version)}
            </span>
            {isCandidate(model) && (
              <span className="pill pill-warn" title={model.gate_reason ?? undefined}>
                Candidate
              </span>
            )}
            <ChallengerActions model={model} onChanged={onChanged} />
            <ModelActions model={model} models={models} onChanged={onChanged} />
          </div>
        )}
      </div>
      {result ? <ResultsView result={result} /> : <p className="muted small">No result was recorded.</p>}
    </section>
  );
}
