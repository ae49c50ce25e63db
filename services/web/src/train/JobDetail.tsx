import { Link } from "react-router";
import type { Schemas } from "../api/client";
import { useSession } from "../session/SessionProvider";
import { EmptyState, Notice } from "../ui/Notice";
import { shortId } from "./JobList";
import { JobCurves, JobEnding, JobHeader, JobProgress, JobResults, JobSettings } from "./JobParts";
import { LiveHistory } from "./LiveHistory";
import { modelScores, servedVersion } from "./result";
import { isActive, useJobRun } from "./useJobRun";

type Model = Schemas["ModelOut"];

interface Props {
  jobId: string;
  models: Model[];
  onChanged: () => void;
}

/**
 * One run, live: progress, curves per fold, test metrics against baselines, Cancel and Promote,
 * and once it succeeded, how its model has done live since.
 * The state is useJobRun's; the parts (JobParts.tsx) draw it.
 */
export function JobDetail({ jobId, models, onChanged }: Props) {
  const session = useSession();
  const run = useJobRun(jobId, onChanged);
  const { job, status } = run;

  if (run.error && !job) {
    return (
      <section className="card">
        {run.error.status === 404 ? (
          <EmptyState icon="?" title={`Run ${shortId(jobId)} was not found`}>
            It may have been removed. <Link to="/train">Back to runs</Link>
          </EmptyState>
        ) : (
          <Notice tone="bad" title="Could not load the run.">
            {run.error.message}
          </Notice>
        )}
      </section>
    );
  }
  if (!job || !status) {
    return (
      <section className="card" aria-busy="true">
        <p className="muted">Loading run…</p>
      </section>
    );
  }

  const active = isActive(status);
  return (
    <div className="stack" data-testid="job-detail" data-status={status}>
      <section className="card" aria-labelledby="job-title">
        <JobHeader
          job={job}
          status={status}
          cancel={
            active
              ? { onCancel: run.cancel, busy: run.cancelling, signedIn: Boolean(session.signedIn) }
              : null
          }
        />
        <JobProgress progress={job.progress} status={status} />
        <JobSettings job={job} />
        {run.cancelError && (
          <div style={{ marginTop: 16 }}>
            <Notice tone="bad">{run.cancelError}</Notice>
          </div>
        )}
      </section>

      <JobEnding status={status} errorText={run.errorText} />
      <JobCurves points={run.points} folds={job.progress.folds ?? job.config.folds} active={active} />
      {status === "succeeded" && (
        <>
          <JobResults
            result={job.result ?? null}
            model={models.find((m) => m.job_id === job.id)}
            models={models}
            onChanged={onChanged}
          />
          <LiveHistory
            version={servedVersion(job, models)}
            dataset={job.dataset}
            testF1={job.result ? (modelScores(job.result)?.f1_macro ?? null) : null}
          />
        </>
      )}
    </div>
  );
}
