import { Notice } from "../ui/Notice";
import { pct } from "../ui/format";
import { figure, netBps, SCORE_ROWS } from "./liveFigures";
import { OutcomeStrip } from "./OutcomeStrip";
import type { LiveScoring } from "./useLiveScores";

const POSITION = { 1: "long", 0: "flat", [-1]: "short" } as const;

/**
 * The served model's live hit rate and macro F1 on the symbol (last 1,000 and since load) beside
 * its test-set figures, the live backtest, and the strip of the last scored predictions.
 */
export function LiveScoresCard({ scoring }: { scoring: LiveScoring }) {
  const { scores, from } = scoring;
  const last = scores?.last;
  const since = scores?.since_load;
  const bt = scores?.backtest;
  return (
    <section className="card" aria-labelledby="live-title" data-testid="live-scores">
      <div className="card-head">
        <h2 id="live-title">Live scores</h2>
        <span className="hint">
          {scores
            ? `${scores.labels.replace("_", " ")} labels, horizon ${scores.horizon}${from === "rest" ? " · as last reported" : ""}`
            : ""}
        </span>
      </div>
      {!scores && scoring.error && (
        <Notice tone="warn" title="No live scores.">
          {scoring.error}
        </Notice>
      )}
      <Pending scoring={scoring} />
      {scores && last && since && (
        <table className="metrics-table live-table">
          <caption className="visually-hidden">Live figures beside the model's test-set figures</caption>
          <thead>
            <tr>
              <th scope="col" />
              <th scope="col">Last {last.samples.toLocaleString("en-US")}</th>
              <th scope="col">Since load ({since.samples.toLocaleString("en-US")})</th>
              <th scope="col">Test set</th>
            </tr>
          </thead>
          <tbody>
            {SCORE_ROWS.map((r) => (
              <tr key={r.id}>
                <th scope="row">{r.name}</th>
                <td data-testid={`live-${r.id}-last`}>{figure(last, last[r.live], r.show)}</td>
                <td data-testid={`live-${r.id}-load`}>{figure(since, since[r.live], r.show)}</td>
                <td data-testid={`live-${r.id}-test`}>{r.show(scores[r.test])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {bt && (
        <div className="live-backtest">
          <h3>Live backtest</h3>
          {bt.theta == null ? (
            <p className="muted small" data-testid="live-backtest-none">
              No backtest: the run chose no threshold on validation.
            </p>
          ) : (
            <div className="stats live-stats">
              <div className="stat">
                <div className="k">Trades</div>
                <div className="v" data-testid="live-trades">
                  {bt.trades}
                </div>
              </div>
              <div className="stat">
                <div className="k">Net</div>
                <div className="v" data-testid="live-net-bps">
                  {netBps(bt)}
                </div>
              </div>
              <div className="stat">
                <div className="k">Hit rate</div>
                <div className="v" data-testid="live-hit-rate">
                  {pct(bt.hit_rate)}
                </div>
              </div>
              <div className="stat">
                <div className="k">Now</div>
                <div className="v">{POSITION[bt.position]}</div>
              </div>
            </div>
          )}
        </div>
      )}
      <OutcomeStrip recent={scores?.recent ?? []} />
    </section>
  );
}

/** Why there is no live figure yet, said as it is. */
function Pending({ scoring }: { scoring: LiveScoring }) {
  const { scores, seen } = scoring;
  if (scores && scores.last.samples > 0) return null;
  const plural = (n: number) => `${n.toLocaleString("en-US")} prediction${n === 1 ? "" : "s"}`;
  let text: string;
  if (scores) {
    // Resolved but none scored: the triple barrier's volatility warm-up (IGNORE rows).
    text =
      `Not scored yet: ${plural(scores.resolved)} resolved in the labeller's warm-up, which is not ` +
      `scored; each prediction waits ${scores.horizon} snapshots for its horizon.`;
  } else if (seen > 0) {
    text = `Not scored yet: ${plural(seen)} received here, each scored once its horizon has passed.`;
  } else {
    text = "Not scored yet: no prediction of this model on this symbol has reached its horizon.";
  }
  return (
    <p className="muted small" data-testid="live-scores-pending">
      {text}
    </p>
  );
}
