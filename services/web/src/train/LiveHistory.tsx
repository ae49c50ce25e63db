import { useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useState } from "react";
import { api, unwrap } from "../api/client";
import { fetchLiveScores } from "../predict/useLiveScores";
import { fixed } from "../ui/format";
import { Notice } from "../ui/Notice";

const LiveHistoryChart = lazy(() => import("./LiveHistoryChart"));

/** The history gains a row a minute: asking more often would show nothing new. */
const HISTORY_POLL_MS = 60_000;

/**
 * The symbols a version may have live history on: those inference reports it scored (first), then
 * its dataset's, each once.
 */
function historySymbols(scored: string[], dataset: string[]): string[] {
  return [...new Set([...scored, ...dataset].map((s) => s.toUpperCase()))];
}

/**
 * A succeeded run's served version live, minute by minute (GET /api/live/scores/history, kept in
 * PostgreSQL): its macro F1 and accuracy over the last 1,000 scored against its test macro F1, on
 * one symbol at a time.
 */
export function LiveHistory({
  version,
  dataset,
  testF1,
}: {
  version: string;
  dataset: string;
  testF1: number | null;
}) {
  const report = useQuery({ queryKey: ["live-scores"], queryFn: fetchLiveScores });
  const datasets = useQuery({ queryKey: ["datasets"], queryFn: () => unwrap(api.GET("/api/datasets")) });
  const scored = (report.data?.scores ?? []).filter((s) => s.model_version === version).map((s) => s.symbol);
  const own = datasets.data?.find((d) => d.name === dataset)?.symbols ?? [];
  const symbols = historySymbols(scored, own);
  const [picked, setPicked] = useState<string | null>(null);
  const symbol = picked && symbols.includes(picked) ? picked : (symbols[0] ?? null);
  const history = useQuery({
    queryKey: ["live-history", version, symbol],
    queryFn: () =>
      unwrap(
        api.GET("/api/live/scores/history", {
          params: { query: { model_version: version, symbol: symbol! } },
        }),
      ),
    enabled: symbol !== null,
    refetchInterval: HISTORY_POLL_MS,
  });
  const minutes = history.data?.minutes ?? [];
  const settled = symbol === null ? !report.isPending && !datasets.isPending : !history.isPending;

  return (
    <section className="card" aria-labelledby="live-history-title" data-testid="live-history">
      <div className="card-head">
        <h2 id="live-history-title">Live history</h2>
        <span className="hint" title={version}>
          {symbol ? `${symbol} · ` : ""}per minute, as scored live
        </span>
      </div>
      {symbols.length > 1 && (
        <div className="tabs" role="group" aria-label="Symbol shown">
          {symbols.map((s) => (
            <button
              key={s}
              type="button"
              className="tab"
              aria-pressed={s === symbol}
              onClick={() => setPicked(s)}
            >
              {s}
            </button>
          ))}
        </div>
      )}
      {history.error && !history.data ? (
        <Notice tone="bad" title="Could not load the live history.">
          {history.error.message}
        </Notice>
      ) : !settled ? (
        <p className="muted small">Loading live history…</p>
      ) : symbol && minutes.length ? (
        <div className="stack live-history-body">
          <p className="small muted" data-testid="live-history-summary">
            {minutes.length.toLocaleString("en-US")} minute{minutes.length === 1 ? "" : "s"},{" "}
            {minutes.reduce((n, m) => n + m.resolved, 0).toLocaleString("en-US")} predictions scored; live
            macro F1 now {fixed(minutes.at(-1)!.window_f1_macro, 3)} against {fixed(testF1, 3)} on the test
            set.
          </p>
          <Suspense fallback={<p className="muted small">Loading chart…</p>}>
            <LiveHistoryChart minutes={minutes} symbol={symbol} testF1={testF1} />
          </Suspense>
        </div>
      ) : (
        <p className="muted small" data-testid="live-history-empty">
          No live history yet: inference records a row a minute once this version is scored live, as the
          champion or the challenger.
        </p>
      )}
    </section>
  );
}
