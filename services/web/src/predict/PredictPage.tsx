import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo } from "react";
import { Link, useSearchParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { useConnection } from "../live/LiveProvider";
import { EmptyState, Notice } from "../ui/Notice";
import { useTitle } from "../ui/useTitle";
import { fixed, pct, price, shortVersion, timeOfNs } from "../ui/format";
import { BookLadder } from "./BookLadder";
import { ChallengerCard } from "./ChallengerCard";
import { DriftBanner } from "./DriftBanner";
import { LiveScoresCard } from "./LiveScoresCard";
import { ProbabilityBars } from "./ProbabilityBars";
import { Sparkline } from "./Sparkline";
import { fetchSymbolSources, openingSymbol, pickerSymbols } from "./symbols";
import { useChallenger } from "./useChallenger";
import { useLiveScores } from "./useLiveScores";
import { usePredictionStream } from "./usePredictionStream";

const ARROW = { UP: "▲", NEUTRAL: "■", DOWN: "▼" } as const;

/** What serves now: the promoted model (null before the first) and what inference reports. */
function fetchActiveModel() {
  return unwrap(api.GET("/api/models/active"));
}

export function PredictPage() {
  const [params, setParams] = useSearchParams();
  // Loaded once per visit: the page opens on a symbol and stays there, even if others go live.
  const sources = useQuery({
    queryKey: ["symbol-sources"],
    queryFn: fetchSymbolSources,
    // Never fetched again while the page is open, and forgotten when it closes: the next visit asks anew.
    staleTime: Infinity,
    gcTime: 0,
  });
  const asked = params.get("symbol")?.toUpperCase() || null;
  // null only for the moment the gateway takes to say which symbols it knows.
  const symbol = asked ?? (sources.data ? openingSymbol(sources.data) : null);
  const stream = usePredictionStream(symbol);
  useTitle(symbol ? `Predict ${symbol}` : "Predict");
  const connection = useConnection();
  const active = useQuery({ queryKey: ["active-model"], queryFn: fetchActiveModel });
  const { latest, modelChange, promotions } = stream;

  // A promotion or a hot reload changes what "active" means: ask the gateway again.
  const refetchActive = active.refetch;
  useEffect(() => {
    if (promotions > 0 || modelChange) void refetchActive();
  }, [promotions, modelChange, refetchActive]);

  const options = useMemo(
    () => pickerSymbols(sources.data ?? { served: [], datasets: [] }, symbol),
    [sources.data, symbol],
  );

  const warming = latest?.status === "warming_up";
  const ok = latest?.status === "ok";
  const serving = active.data?.model ?? null;
  const noModel = active.data != null && serving === null && !ok;
  const refusal = latestRefusal(active.data?.inference);
  const signal = ok ? (latest.signal ?? null) : null;
  const version = latest?.model_version ?? active.data?.inference?.model_version ?? serving?.version ?? null;
  const scoring = useLiveScores(symbol, version);
  const signals = useMemo(() => stream.points.map((p) => p.signal), [stream.points]);
  const challenger = useChallenger(symbol, active.data);
  const queryClient = useQueryClient();
  // A promotion or a removed challenger changes the roles: ask the registry and inference again.
  const challengerChanged = () => {
    for (const key of ["active-model", "live-scores", "models"])
      void queryClient.invalidateQueries({ queryKey: [key] });
  };

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Market predict</h1>
          <p className="sub">Next move of the mid price from the last 100 order-book snapshots.</p>
        </div>
        <div className="page-actions">
          <div className="symbol-picker">
            <label htmlFor="symbol">Symbol</label>
            <select
              id="symbol"
              value={symbol ?? ""}
              onChange={(e) => setParams({ symbol: e.target.value }, { replace: true })}
            >
              {symbol === null && <option value="">…</option>}
              {options.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <span className="pill pill-muted" title={version ?? undefined} data-testid="model-version">
            Model {shortVersion(version)}
          </span>
        </div>
      </div>

      {modelChange && (
        <Notice
          tone="info"
          title="New model loaded."
          action={
            <button type="button" className="btn btn-ghost btn-sm" onClick={stream.dismissModelChange}>
              Dismiss
            </button>
          }
        >
          Predictions now come from <code>{shortVersion(modelChange.to)}</code> (was{" "}
          <code>{shortVersion(modelChange.from)}</code>), swapped in without a restart.
        </Notice>
      )}
      <DriftBanner drift={scoring.drift} margin={scoring.driftMargin} />
      {active.data?.inference_error && !latest && (
        <Notice tone="warn" title="Inference is not reporting.">
          {active.data.inference_error}
        </Notice>
      )}
      {refusal && (
        <Notice tone="warn" title="Inference kept the previous model.">
          It refused <code>{refusal.path ?? "a checkpoint"}</code>: {refusal.reason ?? "no reason given"}.
        </Notice>
      )}
      {connection.lastError && connection.status === "open" && !latest && (
        <Notice tone="warn" title="Live feed problem.">
          {connection.lastError}
        </Notice>
      )}

      <div className="grid grid-predict">
        <div className="stack">
          <section className="card" aria-labelledby="signal-title">
            <div className="card-head">
              <h2 id="signal-title">Signal</h2>
              <span className="hint">
                {latest
                  ? `Updated ${timeOfNs(latest.ts)}`
                  : connection.status === "open"
                    ? "Waiting for snapshots"
                    : ""}
              </span>
            </div>

            {noModel ? (
              <EmptyState icon="◇" title="No model is serving yet">
                Train one on the <Link to="/train">Train page</Link>; when a run succeeds its model is
                promoted and predictions start here.
              </EmptyState>
            ) : (
              <>
                <div className="signal" aria-live="polite">
                  <div className={`signal-badge signal-${signal ?? "none"}`} aria-hidden="true">
                    {signal ? ARROW[signal] : "·"}
                  </div>
                  <div>
                    <div className="signal-word" data-testid="signal">
                      {signal ?? (warming ? "Warming up" : "–")}
                    </div>
                    <div className="signal-meta">
                      {ok ? (
                        <>
                          Confidence{" "}
                          <span className="num" data-testid="confidence">
                            {pct(latest.confidence)}
                          </span>
                        </>
                      ) : warming ? (
                        <>
                          Collecting the window:{" "}
                          <span className="num">
                            {latest.warmup_have ?? 0} / {latest.warmup_need ?? 100}
                          </span>{" "}
                          snapshots
                        </>
                      ) : (
                        "No prediction yet for this symbol"
                      )}
                    </div>
                  </div>
                </div>
                {warming && (
                  <div
                    className="warmup-track"
                    role="progressbar"
                    aria-label="Warm-up"
                    aria-valuemin={0}
                    aria-valuemax={latest.warmup_need ?? 100}
                    aria-valuenow={latest.warmup_have ?? 0}
                  >
                    <div
                      className="warmup-fill"
                      style={{ width: `${((latest.warmup_have ?? 0) / (latest.warmup_need || 100)) * 100}%` }}
                    />
                  </div>
                )}
                <ProbabilityBars probs={ok ? latest.probs : null} />
              </>
            )}

            <div className="stats">
              <div className="stat">
                <div className="k">Latency</div>
                <div className="v">{latest ? `${fixed(latest.latency_ms, 2)} ms` : "–"}</div>
              </div>
              <div className="stat">
                <div className="k">Sequence</div>
                <div className="v" data-testid="seq">
                  {latest?.seq ?? "–"}
                </div>
              </div>
              <div className="stat">
                <div className="k">Received</div>
                <div className="v">{stream.received}</div>
              </div>
              <div className="stat">
                <div className="k">Spread</div>
                <div className="v">
                  {latest ? `${fixed(((latest.best_ask - latest.best_bid) / latest.mid) * 1e4, 2)} bp` : "–"}
                </div>
              </div>
            </div>
          </section>
          <section className="card" aria-labelledby="mid-title">
            <div className="card-head">
              <h2 id="mid-title">Mid price</h2>
              <span className="hint">
                last {stream.mids.length} snapshots ·{" "}
                <span className="mark-up" aria-hidden="true">
                  ▲
                </span>{" "}
                UP{" "}
                <span className="mark-down" aria-hidden="true">
                  ▼
                </span>{" "}
                DOWN predicted
              </span>
            </div>
            <div className="spark-head">
              <span className="spark-price">{price(latest?.mid)}</span>
              <MidChange mids={stream.mids} />
            </div>
            <Sparkline values={stream.mids} signals={signals} label={`${symbol ?? ""} mid price`} />
          </section>
        </div>

        <div className="stack">
          <section className="card" aria-labelledby="book-title">
            <div className="card-head">
              <h2 id="book-title">{latest?.book ? "Order book" : "Top of book"}</h2>
              <span className="hint">{symbol ?? ""}</span>
            </div>
            <BookLadder prediction={latest} />
          </section>
          {!noModel && <LiveScoresCard scoring={scoring} />}
          {symbol && challenger && (
            <ChallengerCard
              symbol={symbol}
              champion={scoring.scores}
              championVersion={version}
              challenger={challenger}
              onChanged={challengerChanged}
            />
          )}
        </div>
      </div>
    </div>
  );
}

type InferenceStatus = NonNullable<Schemas["ActiveModelOut"]["inference"]>;

/** The last checkpoint inference refused, if it came after the model it serves now. */
function latestRefusal(status: InferenceStatus | null | undefined) {
  const last = status?.refused?.at(-1);
  if (!last) return null;
  const when = (v: unknown) =>
    typeof v === "number" ? v : typeof v === "string" ? Date.parse(v) / 1000 : NaN;
  const refusedAt = when(last.ts);
  const loadedAt = when(status?.loaded_at);
  return Number.isFinite(loadedAt) && Number.isFinite(refusedAt) && refusedAt < loadedAt ? null : last;
}

function MidChange({ mids }: { mids: number[] }) {
  if (mids.length < 2) return null;
  const first = mids[0]!;
  const last = mids[mids.length - 1]!;
  const change = (last - first) / first;
  const colour = change > 0 ? "var(--up)" : change < 0 ? "var(--down)" : "var(--text-muted)";
  return (
    <span className="num small" style={{ color: colour }}>
      {change >= 0 ? "+" : ""}
      {(change * 100).toFixed(3)}%
    </span>
  );
}
