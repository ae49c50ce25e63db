import { useState } from "react";
import { Link } from "react-router";
import type { LiveScores } from "../live/messages";
import { promoteModel, unshadowModel, useModelCall, type ModelCall } from "../train/modelCalls";
import { shortVersion } from "../ui/format";
import { Notice } from "../ui/Notice";
import { figure, netBps, SCORE_ROWS, SCORE_WINDOW } from "./liveFigures";
import type { Challenger } from "./useChallenger";

/** One row of the duel: each side's figure as a number (to mark the better) and as printed. */
interface DuelRow {
  id: string;
  name: string;
  value: (s: LiveScores) => number | null;
  show: (s: LiveScores) => string;
  /** Mark the higher of the two. */
  better: boolean;
}

const LAST = `last ${SCORE_WINDOW.toLocaleString("en-US")}`;

const DUEL_ROWS: DuelRow[] = [
  ...SCORE_ROWS.flatMap((r): DuelRow[] => [
    {
      id: `${r.id}-last`,
      name: `${r.name}, ${LAST}`,
      value: (s) => (s.last.samples > 0 ? (s.last[r.live] ?? null) : null),
      show: (s) => figure(s.last, s.last[r.live], r.show),
      better: true,
    },
    {
      id: `${r.id}-load`,
      name: `${r.name}, since load`,
      value: (s) => (s.since_load.samples > 0 ? (s.since_load[r.live] ?? null) : null),
      show: (s) => figure(s.since_load, s.since_load[r.live], r.show),
      better: true,
    },
    {
      id: `${r.id}-test`,
      name: `${r.name}, test set`,
      value: (s) => s[r.test] ?? null,
      show: (s) => r.show(s[r.test]),
      better: true,
    },
  ]),
  {
    id: "trades",
    name: "Live trades",
    value: (s) => (s.backtest.theta == null ? null : s.backtest.trades),
    show: (s) => (s.backtest.theta == null ? "no θ" : s.backtest.trades.toLocaleString("en-US")),
    better: false,
  },
  {
    id: "net-bps",
    name: "Live net",
    value: (s) => (s.backtest.trades ? s.backtest.net_bps : null),
    show: (s) => netBps(s.backtest),
    better: true,
  },
  {
    id: "scored",
    name: "Scored since load",
    value: (s) => s.since_load.samples,
    show: (s) => s.since_load.samples.toLocaleString("en-US"),
    better: false,
  },
];

/** Which of two figures is higher: its index, or null for a tie or a side without one. */
function higher([a, b]: (number | null)[]): number | null {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || a === b) return null;
  return a > b ? 0 : 1;
}

interface Side {
  key: "champion" | "challenger";
  title: string;
  version: string | null;
  scores: LiveScores | null;
}

/**
 * The served model (the champion) beside the challenger inference scores on the same snapshots,
 * live: hit rate and macro F1 over the last 1,000 and since load, the test set's, the live
 * backtest. Signed in, Promote challenger (confirmed first) swaps the two; Remove challenger
 * stops scoring it.
 */
export function ChallengerCard({
  symbol,
  champion,
  championVersion,
  challenger,
  onChanged,
}: {
  symbol: string;
  champion: LiveScores | null;
  championVersion: string | null;
  challenger: Challenger;
  onChanged: () => void;
}) {
  const call = useModelCall(onChanged);
  const sides: Side[] = [
    { key: "champion", title: "Champion", version: championVersion, scores: champion },
    { key: "challenger", title: "Challenger", version: challenger.version, scores: challenger.scores },
  ];
  return (
    <section className="card" aria-labelledby="challenger-title" data-testid="challenger-card">
      <div className="card-head">
        <h2 id="challenger-title">Champion vs challenger</h2>
        <span className="hint">{symbol} · the challenger is scored, never served</span>
      </div>
      <div className="table-scroll">
        <table className="metrics-table duel-table" aria-label="Champion and challenger live figures">
          <thead>
            <tr>
              <th scope="col" />
              {sides.map((side) => (
                <th scope="col" key={side.key} title={side.version ?? undefined}>
                  {side.title}
                  <span className="duel-version">{shortVersion(side.version)}</span>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {DUEL_ROWS.map((r) => {
              const best = r.better ? higher(sides.map((s) => (s.scores ? r.value(s.scores) : null))) : null;
              return (
                <tr key={r.id} data-row={r.id}>
                  <th scope="row">{r.name}</th>
                  {sides.map((side, i) => (
                    <td key={side.key} className={best === i ? "best" : undefined}>
                      <span data-testid={`duel-${r.id}-${side.key}`}>
                        {side.scores ? r.show(side.scores) : "–"}
                      </span>
                      {best === i && <span className="visually-hidden"> (the better)</span>}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <ChallengerPending challenger={challenger} symbol={symbol} />
      {challenger.model === null ? (
        <p className="faint small">
          The registry names no challenger now: these are inference&apos;s last figures for it.
        </p>
      ) : call.signedIn ? (
        <ChallengerActions
          id={challenger.model.id}
          version={challenger.version}
          championVersion={championVersion}
          call={call}
        />
      ) : (
        call.signedIn === false && (
          <p className="faint small" data-testid="challenger-sign-in">
            Sign in on the <Link to="/train">Train page</Link> to promote or remove the challenger.
          </p>
        )
      )}
    </section>
  );
}

/** Why the challenger has no live figure yet. */
function ChallengerPending({ challenger, symbol }: { challenger: Challenger; symbol: string }) {
  const { scores, loaded } = challenger;
  if (scores && scores.last.samples > 0) return null;
  const text = scores
    ? `Not scored yet: the challenger's predictions on ${symbol} wait ${scores.horizon} snapshots for their horizon.`
    : loaded
      ? `Not scored yet: inference scores the challenger on ${symbol} once its predictions reach their horizon.`
      : "Inference has not loaded the challenger yet: its figures appear once it scores it.";
  return (
    <p className="muted small" data-testid="challenger-pending">
      {text}
    </p>
  );
}

/** Promote challenger, confirmed first (the swap changes what clients get), and Remove challenger. */
function ChallengerActions({
  id,
  version,
  championVersion,
  call,
}: {
  id: number;
  version: string;
  championVersion: string | null;
  call: ModelCall;
}) {
  const [confirming, setConfirming] = useState(false);
  const busy = call.busy !== null;
  return (
    <div className="duel-actions">
      {confirming ? (
        <div className="duel-confirm" role="group" aria-labelledby="promote-confirm-text">
          <p id="promote-confirm-text" className="small">
            Serve <code>{shortVersion(version)}</code> to clients? The champion{" "}
            <code>{shortVersion(championVersion)}</code> becomes the challenger.
          </p>
          <div className="row">
            <button
              type="button"
              className="btn btn-primary btn-sm"
              disabled={busy}
              autoFocus
              onClick={() =>
                void call.run("promote", () => promoteModel(id)).then(() => setConfirming(false))
              }
            >
              {call.busy === "promote" ? "Promoting…" : "Confirm promotion"}
            </button>
            <button
              type="button"
              className="btn btn-ghost btn-sm"
              disabled={busy}
              onClick={() => setConfirming(false)}
            >
              Cancel
            </button>
          </div>
        </div>
      ) : (
        <div className="row">
          <button
            type="button"
            className="btn btn-primary btn-sm"
            disabled={busy}
            onClick={() => {
              call.clearError();
              setConfirming(true);
            }}
          >
            Promote challenger
          </button>
          <button
            type="button"
            className="btn btn-ghost btn-sm"
            disabled={busy}
            onClick={() => void call.run("remove", () => unshadowModel(id))}
          >
            {call.busy === "remove" ? "Removing…" : "Remove challenger"}
          </button>
        </div>
      )}
      {call.error && (
        <Notice tone="bad" title="Not done.">
          {call.error}
        </Notice>
      )}
    </div>
  );
}
