import { useId } from "react";
import { price } from "../ui/format";

/** Mid-price line for the last few hundred snapshots; plain SVG, scaled to the data's own range. */
export function Sparkline({ values, label }: { values: number[]; label: string }) {
  const gradient = useId();
  const W = 600;
  const H = 120;
  const PAD = 6;
  if (values.length < 2) {
    return (
      <svg
        className="sparkline"
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${label}: waiting for data`}
      >
        <line x1={0} x2={W} y1={H / 2} y2={H / 2} stroke="var(--border-strong)" strokeDasharray="4 6" />
      </svg>
    );
  }
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || 1;
  const step = (W - PAD * 2) / (values.length - 1);
  const pts = values.map((v, i) => [PAD + i * step, H - PAD - ((v - lo) / span) * (H - PAD * 2)] as const);
  const line = pts.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
  const area = `${line}L${pts[pts.length - 1]![0].toFixed(1)},${H}L${PAD},${H}Z`;
  const first = values[0]!;
  const last = values[values.length - 1]!;
  const colour = last > first ? "var(--up)" : last < first ? "var(--down)" : "var(--neutral)";
  const [lx, ly] = pts[pts.length - 1]!;
  return (
    <svg
      className="sparkline"
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={`${label}: ${values.length} points from ${price(first)} to ${price(last)}, range ${price(lo)} to ${price(hi)}`}
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
  );
}
