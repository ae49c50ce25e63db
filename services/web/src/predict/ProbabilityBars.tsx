import type { Probabilities } from "../live/messages";
import { pct } from "../ui/format";

const ROWS = [
  { key: "up", label: "UP", cls: "bar-up" },
  { key: "neutral", label: "NEUTRAL", cls: "bar-neutral" },
  { key: "down", label: "DOWN", cls: "bar-down" },
] as const;

/** Class probabilities as horizontal meters; empty tracks until the first prediction. */
export function ProbabilityBars({ probs }: { probs: Probabilities | null | undefined }) {
  return (
    <div className={`bars${probs ? "" : " bars-empty"}`} aria-label="Class probabilities">
      {ROWS.map(({ key, label, cls }) => {
        const p = probs ? probs[key] : null;
        const width = p == null ? 0 : Math.max(0, Math.min(1, p)) * 100;
        return (
          <div className={`bar-row ${cls}`} key={key}>
            <span className="bar-label" id={`bar-${key}`}>
              {label}
            </span>
            <div
              className="bar-track"
              role="meter"
              aria-labelledby={`bar-${key}`}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={p == null ? undefined : Math.round(width * 10) / 10}
              aria-valuetext={p == null ? "no data" : pct(p)}
            >
              <div className="bar-fill" style={{ width: `${width}%` }} />
            </div>
            <span className="bar-value" data-testid={`prob-${key}`}>
              {pct(p)}
            </span>
          </div>
        );
      })}
    </div>
  );
}
