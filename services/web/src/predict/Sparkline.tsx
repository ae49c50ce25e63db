import { useId } from "react";
import type { Signal } from "../live/messages";
import { price } from "../ui/format";

const MARK = { UP: "▲", DOWN: "▼" } as const;

/**
 * Mid-price line for the last few hundred snapshots; plain SVG, scaled to the data's own range.
 * `signals` (one per value, null where none was predicted) marks each UP ▲ and DOWN ▼ at its mid.
 * The marks sit in an HTML layer over the SVG, placed in percent, so the stretched SVG
 * (preserveAspectRatio="none") does not stretch them too.
 */
export function Sparkline({
  values,
  label,
  signals,
}: {
  values: number[];
  label: string;
  signals?: (Signal | null)[];
}) {
  const gradient = useId();
  const W = 600;
  const H = 120;
  const PAD = 6;
  const markers = signals && (
    <div className="spark-markers" data-testid="signal-markers" aria-hidden="true">
      {values.length >= 2 && marks(values, signals, { W, H, PAD })}
    </div>
  );
  if (values.length < 2) {
    return (
      <div className="spark-wrap">
        <svg
          className="sparkline"
          viewBox={`0 0 ${W} ${H}`}
          role="img"
          aria-label={`${label}: waiting for data`}
        >
          <line x1={0} x2={W} y1={H / 2} y2={H / 2} stroke="var(--border-strong)" strokeDasharray="4 6" />
        </svg>
        {markers}
      </div>
    );
  }
  const pts = scale(values, { W, H, PAD });
  const line = pts.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
  const area = `${line}L${pts[pts.length - 1]![0].toFixed(1)},${H}L${PAD},${H}Z`;
  const first = values[0]!;
  const last = values[values.length - 1]!;
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const colour = last > first ? "var(--up)" : last < first ? "var(--down)" : "var(--neutral)";
  const [lx, ly] = pts[pts.length - 1]!;
  return (
    <div className="spark-wrap">
      <svg
        className="sparkline"
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`${label}: ${values.length} points from ${price(first)} to ${price(last)}, range ${price(lo)} to ${price(hi)}${signals ? `; ${markSummary(signals)}` : ""}`}
      >
        <defs>
          <linearGradient id={gradient} x1="0" x2="0" y1="0" y2="1">
            <stop offset="0%" stopColor={colour} stopOpacity={0.25} />
            <stop offset="100%" stopColor={colour} stopOpacity={0} />
          </linearGradient>
        </defs>
        <path d={area} fill={`url(#${gradient})`} />
        <path d={line} fill="none" stroke={colour} strokeWidth={2} vectorEffect="non-scaling-stroke" />
        <circle cx={lx} cy={ly} r={3.5} fill={colour} vectorEffect="non-scaling-stroke" />
      </svg>
      {markers}
    </div>
  );
}

interface Box {
  W: number;
  H: number;
  PAD: number;
}

/** Each value's [x, y] in the viewBox, the range filling the height. */
function scale(values: number[], { W, H, PAD }: Box): (readonly [number, number])[] {
  const lo = Math.min(...values);
  const span = Math.max(...values) - lo || 1;
  const step = (W - PAD * 2) / (values.length - 1);
  return values.map((v, i) => [PAD + i * step, H - PAD - ((v - lo) / span) * (H - PAD * 2)] as const);
}

function marks(values: number[], signals: (Signal | null)[], box: Box) {
  return scale(values, box).map(([x, y], i) => {
    const signal = signals[i];
    if (signal !== "UP" && signal !== "DOWN") return null;
    return (
      <span
        key={i}
        className={`spark-marker spark-marker-${signal}`}
        style={{ left: `${(x / box.W) * 100}%`, top: `${(y / box.H) * 100}%` }}
      >
        {MARK[signal]}
      </span>
    );
  });
}

function markSummary(signals: (Signal | null)[]): string {
  const up = signals.filter((s) => s === "UP").length;
  const down = signals.filter((s) => s === "DOWN").length;
  return `${up} UP and ${down} DOWN signals marked`;
}
