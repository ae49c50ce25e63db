// Cumulative net P&L per trade on the test rows, one line per backtest entry (the model and each
// baseline). Plain SVG like the Sparkline: the plot stretches to its box, the strokes do not, and
// the axis figures and legend are HTML so they stay legible at any width.
import { signed } from "../ui/format";
import { MODEL_KEY, noTrades, type BacktestEntry } from "./result";

const SERIES: Record<string, string> = {
  model: "var(--series-model)",
  majority: "var(--series-2)",
  logistic_imbalance: "var(--series-3)",
  logreg_imbalance: "var(--series-3)",
  logistic_book: "var(--series-4)",
  gbm_book: "var(--series-5)",
};
const SPARE = ["var(--series-6)", "var(--series-2)", "var(--series-3)", "var(--series-4)"];

export function seriesColour(key: string, index: number): string {
  return SERIES[key] ?? SPARE[index % SPARE.length]!;
}

export interface EquitySeries {
  key: string;
  name: string;
  entry: BacktestEntry;
}

const W = 600;
const H = 200;
const PAD = 6;

/** Point i of n stands for trade round((i + 1) · trades / n): the server thins long curves. */
function points(equity: number[], trades: number | null | undefined): [number, number][] {
  const n = equity.length;
  const total = trades && trades >= n ? trades : n;
  return [[0, 0], ...equity.map((v, i) => [Math.round(((i + 1) * total) / n), v] as [number, number])];
}

export function EquityCurves({ series }: { series: EquitySeries[] }) {
  const drawn = series
    .map((s, i) => ({ ...s, colour: seriesColour(s.key, i) }))
    .filter((s) => !noTrades(s.entry) && (s.entry.test?.equity?.length ?? 0) > 0)
    .map((s) => ({ ...s, pts: points(s.entry.test!.equity!, s.entry.test!.trades) }));
  const xs = drawn.flatMap((s) => s.pts.map(([x]) => x));
  const ys = drawn.flatMap((s) => s.pts.map(([, y]) => y));
  const xMax = Math.max(1, ...xs);
  const lo = Math.min(0, ...ys);
  const hi = Math.max(0, ...ys);
  const span = hi - lo || 1;
  const sx = (x: number) => PAD + (x / xMax) * (W - PAD * 2);
  const sy = (y: number) => H - PAD - ((y - lo) / span) * (H - PAD * 2);
  const path = (pts: [number, number][]) =>
    pts.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
  const summary = series
    .map((s) =>
      noTrades(s.entry)
        ? `${s.name}: no trades`
        : `${s.name}: ${s.entry.test?.trades ?? 0} trades, ending at ${signed(s.entry.test?.equity?.at(-1) ?? s.entry.test?.total_net_bps, 1)} bps`,
    )
    .join("; ");

  return (
    <figure className="equity" style={{ margin: 0 }}>
      <figcaption className="chart-title">Equity on the test rows (cumulative net bps, by trade)</figcaption>
      {drawn.length === 0 ? (
        <p className="muted small" data-testid="equity-empty">
          No entry traded on the test rows.
        </p>
      ) : (
        <>
          <div className="equity-body">
            <div className="equity-y num" aria-hidden="true">
              <span>{signed(hi, 1)}</span>
              <span>{signed(lo, 1)}</span>
            </div>
            <svg
              className="equity-plot"
              viewBox={`0 0 ${W} ${H}`}
              preserveAspectRatio="none"
              role="img"
              aria-label={`Equity curves: ${summary}`}
            >
              <line
                x1={0}
                x2={W}
                y1={sy(0)}
                y2={sy(0)}
                stroke="var(--border-strong)"
                strokeDasharray="4 6"
                vectorEffect="non-scaling-stroke"
              />
              {/* The model last, so it is drawn over the baselines. */}
              {[...drawn]
                .sort((a, b) => Number(a.key === MODEL_KEY) - Number(b.key === MODEL_KEY))
                .map((s) => (
                  <path
                    key={s.key}
                    data-entry={s.key}
                    d={path(s.pts)}
                    fill="none"
                    stroke={s.colour}
                    strokeWidth={s.key === MODEL_KEY ? 2.5 : 1.5}
                    strokeLinejoin="round"
                    vectorEffect="non-scaling-stroke"
                  />
                ))}
            </svg>
          </div>
          <div className="equity-x faint small num" aria-hidden="true">
            <span>0</span>
            <span>{xMax.toLocaleString("en-US")} trades</span>
          </div>
        </>
      )}
      <ul className="legend" aria-label="Equity legend">
        {series.map((s, i) => {
          const none = noTrades(s.entry);
          const t = s.entry.test;
          return (
            <li key={s.key} className={none ? "legend-none" : undefined}>
              <span
                className="swatch"
                aria-hidden="true"
                style={{
                  background: none ? "transparent" : seriesColour(s.key, i),
                  borderColor: seriesColour(s.key, i),
                }}
              />
              <span className="legend-name">{s.name}</span>
              <span className="faint">
                {none
                  ? s.entry.theta == null
                    ? "no trades (no θ traded on validation)"
                    : "no trades on the test rows"
                  : `θ ${s.entry.theta!.toFixed(2)} · ${(t?.trades ?? 0).toLocaleString("en-US")} trades · ${signed(t?.total_net_bps, 1)} bps`}
              </span>
            </li>
          );
        })}
      </ul>
    </figure>
  );
}
