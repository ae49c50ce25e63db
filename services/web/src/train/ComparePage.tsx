import { useQueries, useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import { SCORE_WINDOW } from "../predict/liveFigures";
import { fetchLiveScores, SCORES_POLL_MS } from "../predict/useLiveScores";
import { fixed, pct, signed } from "../ui/format";
import { Notice } from "../ui/Notice";
import { StatusPill } from "../ui/StatusPill";
import { useTitle } from "../ui/useTitle";
import { bestIndexes, compareProblem, parseCompareJobs, runFigures, type RunFigures } from "./compare";
import { shortId } from "./JobList";
import { fetchJob } from "./useJobRun";

/** One row of the comparison: a figure of each run, how it prints, and which way is better. */
interface CompareRow {
  id: string;
  name: string;
  title?: string;
  show: (f: RunFigures) => ReactNode;
  /** The figure to mark the best of; none for a row that only describes the run. */
  value?: (f: RunFigures) => number | null;
  /** Lower is better (a loss). */
  lower?: boolean;
}

const LAST = `last ${SCORE_WINDOW.toLocaleString("en-US")}`;

const RUN_ROWS: CompareRow[] = [
  { id: "model", name: "Network", show: (f) => f.model },
  { id: "dataset", name: "Dataset", show: (f) => f.dataset },
  { id: "f1", name: "Test macro F1", value: (f) => f.f1, show: (f) => fixed(f.f1, 3) },
  { id: "accuracy", name: "Test accuracy", value: (f) => f.accuracy, show: (f) => pct(f.accuracy) },
  {
    id: "net-bps",
    name: "Net bps / trade",
    title: "The model's backtest on the test rows: mean net return per trade after the spread and fees",
    value: (f) => f.netBps,
    show: (f) => (f.noTrades ? "no trades" : signed(f.netBps, 2)),
  },
  {
    id: "sharpe",
    name: "Sharpe",
    title: "Mean over standard deviation of the net returns per trade",
    value: (f) => f.sharpe,
    show: (f) => (f.noTrades ? "no trades" : fixed(f.sharpe, 2)),
  },
  {
    id: "log-loss",
    name: "Log loss",
    lower: true,
    value: (f) => f.logLoss,
    show: (f) => fixed(f.logLoss, 4),
  },
];

const BRIER_ROW: CompareRow = {
  id: "brier",
  name: "Brier score",
  lower: true,
  value: (f) => f.brier,
  show: (f) => fixed(f.brier, 4),
};

const BASELINE_ROW: CompareRow = {
  id: "baseline",
  name: "Best baseline macro F1",
  title: "For context: the strongest baseline on the same run's test rows",
  show: (f) =>
    f.bestBaseline ? (
      <>
        {fixed(f.bestBaseline.f1, 3)}
        <span className="compare-note">{f.bestBaseline.name}</span>
      </>
    ) : (
      "–"
    ),
};

/** A row per symbol some run's version is scored on live; one saying none when none is. */
function liveRows(figures: RunFigures[]): CompareRow[] {
  const symbols = [...new Set(figures.flatMap((f) => Object.keys(f.live)))].sort();
  const notLive = "not scored live";
  if (!symbols.length) return [{ id: "live", name: `Live macro F1, ${LAST}`, show: () => notLive }];
  return symbols.map((symbol) => ({
    id: `live-${symbol}`,
    name: `Live macro F1 on ${symbol}, ${LAST}`,
    value: (f) => f.live[symbol] ?? null,
    show: (f) => (symbol in f.live ? fixed(f.live[symbol], 3) : notLive),
  }));
}

/**
 * 2 to 4 succeeded runs side by side (/train/compare?jobs=a,b,c), one column each: the network,
 * the dataset, the model's test scores and backtest, its calibration, the best baseline for
 * context, and its live macro F1 where inference scores its version. The best of each row is
 * marked. The table scrolls within its card on a narrow screen.
 */
export function ComparePage() {
  const [params] = useSearchParams();
  const ids = parseCompareJobs(params.get("jobs"));
  const problem = compareProblem(ids.length);
  useTitle("Compare runs");
  const jobs = useQueries({
    queries: ids.map((id) => ({ queryKey: ["job", id], queryFn: () => fetchJob(id), enabled: !problem })),
  });
  const live = useQuery({
    queryKey: ["live-scores"],
    queryFn: fetchLiveScores,
    refetchInterval: SCORES_POLL_MS,
    enabled: !problem,
  });
  const models = useQuery({
    queryKey: ["models"],
    queryFn: () => unwrap(api.GET("/api/models")),
    enabled: !problem,
  });

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Compare runs</h1>
          <p className="sub">
            Each run&apos;s served model on its own test rows, and live where it is scored.
          </p>
        </div>
        <div className="page-actions">
          <Link to="/train" className="btn btn-ghost">
            ← Runs
          </Link>
        </div>
      </div>
      {problem ? (
        <Notice tone="warn" title="Nothing to compare.">
          {problem} Tick them in the run list on the <Link to="/train">Train page</Link>.
        </Notice>
      ) : (
        <section className="card" aria-labelledby="compare-title" data-testid="compare-view">
          <div className="card-head">
            <h2 id="compare-title">{ids.length} runs side by side</h2>
            <span className="hint">the best of each row is marked</span>
          </div>
          {live.error && (
            <Notice tone="warn" title="No live scores.">
              {live.error.message}
            </Notice>
          )}
          <CompareTable
            ids={ids}
            columns={jobs.map((q) => ({
              job: q.data,
              error: q.error?.message ?? null,
              figures:
                q.data?.status === "succeeded"
                  ? runFigures(q.data, live.data?.scores ?? [], models.data ?? [])
                  : null,
            }))}
          />
          <p className="faint small">
            Each run is tested on the last rows of its own dataset, which no fold trained on; runs on
            different datasets are not tested on the same rows.
          </p>
        </section>
      )}
    </div>
  );
}

interface Column {
  job: { id: string; status: string } | undefined;
  error: string | null;
  figures: RunFigures | null;
}

function CompareTable({ ids, columns }: { ids: string[]; columns: Column[] }) {
  const figures = columns.flatMap((c) => (c.figures ? [c.figures] : []));
  const rows = [
    ...RUN_ROWS,
    ...(figures.some((f) => f.brier != null) ? [BRIER_ROW] : []),
    BASELINE_ROW,
    ...liveRows(figures),
  ];
  return (
    <div className="table-scroll" data-testid="compare-scroll">
      <table className="metrics-table comparison compare-table" aria-label="Run comparison">
        <thead>
          <tr>
            <th scope="col">Run</th>
            {ids.map((id, i) => (
              <th scope="col" key={id} data-job={id}>
                <Link to={`/train?job=${encodeURIComponent(id)}`}>Run {shortId(id)}</Link>
                <ColumnState column={columns[i]!} />
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const values = columns.map((c) => (c.figures && r.value ? r.value(c.figures) : null));
            const best = r.value ? bestIndexes(values, r.lower) : new Set<number>();
            return (
              <tr key={r.id} data-row={r.id}>
                <th scope="row" title={r.title}>
                  {r.name}
                </th>
                {columns.map((c, i) => (
                  <td key={ids[i]} data-job={ids[i]} className={best.has(i) ? "best" : undefined}>
                    {c.figures ? r.show(c.figures) : "–"}
                    {best.has(i) && <span className="visually-hidden"> (best)</span>}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** Under a run's heading: why its column is empty, if it is. */
function ColumnState({ column }: { column: Column }) {
  if (column.error) return <span className="compare-note call-error">{column.error}</span>;
  if (!column.job) return <span className="compare-note">Loading…</span>;
  if (column.job.status !== "succeeded")
    return (
      <span className="compare-note">
        <StatusPill status={column.job.status} /> no result to compare
      </span>
    );
  return null;
}
