import { Link } from "react-router";
import type { Schemas } from "../api/client";
import { EmptyState } from "../ui/Notice";
import { StatusPill } from "../ui/StatusPill";
import { dateTime, duration } from "../ui/format";
import { modelTitle } from "./zoo";

type Job = Schemas["JobOut"];

interface Props {
  jobs: Job[];
  selected: string | null;
  page: number;
  pages: number;
  total: number;
  onPage: (page: number) => void;
  /** The runs ticked to compare; only succeeded runs can be. */
  compare: string[];
  onCompareToggle: (id: string) => void;
}

/**
 * Runs, newest first, each linking to its live page (/train?job=<id>); a succeeded run has a box
 * to tick for the comparison.
 */
export function JobList({ jobs, selected, page, pages, total, onPage, compare, onCompareToggle }: Props) {
  if (!jobs.length) {
    return (
      <EmptyState icon="▶" title="No training runs yet">
        Press <strong>Train a model</strong> to start the first one.
      </EmptyState>
    );
  }
  return (
    <>
      <ul className="jobs" aria-label="Training runs">
        {jobs.map((job) => (
          <li key={job.id} className="job-item">
            {job.status === "succeeded" ? (
              <input
                type="checkbox"
                className="job-compare"
                checked={compare.includes(job.id)}
                onChange={() => onCompareToggle(job.id)}
                aria-label={`Compare run ${shortId(job.id)}`}
              />
            ) : (
              <span className="job-compare" aria-hidden="true" />
            )}
            <Link
              className="job-link"
              to={`/train?job=${encodeURIComponent(job.id)}`}
              aria-current={job.id === selected ? "page" : undefined}
              data-testid="job-link"
            >
              <span className="job-title">
                Run {shortId(job.id)} · {job.dataset}
              </span>
              <StatusPill status={job.status} />
              <span className="job-sub">
                <span data-testid="job-model">{modelTitle(job.config.model)}</span>
                <span>{dateTime(job.created_at)}</span>
                {job.started_at && <span>{duration(job.started_at, job.finished_at)}</span>}
                {job.config.quick && <span>quick</span>}
              </span>
              {job.status === "running" && (
                <span className="mini-progress" aria-hidden="true">
                  <div style={{ width: `${(job.progress.fraction ?? 0) * 100}%` }} />
                </span>
              )}
            </Link>
          </li>
        ))}
      </ul>
      {pages > 1 && (
        <nav className="pager" aria-label="Runs pages">
          <button type="button" className="btn btn-sm" disabled={page <= 1} onClick={() => onPage(page - 1)}>
            Newer
          </button>
          <span>
            Page {page} of {pages} · {total} runs
          </span>
          <button
            type="button"
            className="btn btn-sm"
            disabled={page >= pages}
            onClick={() => onPage(page + 1)}
          >
            Older
          </button>
        </nav>
      )}
    </>
  );
}

/** Job ids may be UUIDs; the first 8 characters tell runs apart on screen. */
export function shortId(id: string): string {
  return /^\d+$/.test(id) ? `#${id}` : id.slice(0, 8);
}
