// How far the model's probabilities can be taken at their word: log loss, Brier score and a
// reliability diagram (accuracy against confidence in 10 bins; a calibrated model sits on the
// diagonal). Plain SVG at a fixed aspect, so its own labels scale with it.
import { fixed, pct } from "../ui/format";
import type { Calibration, ReliabilityBin } from "./result";

// ln 3: the log loss of a uniform guess over three classes.
const UNIFORM_LOG_LOSS = Math.log(3);

function binLabel(b: ReliabilityBin): string {
  const range = `${fixed(b.lo, 1)}–${fixed(b.hi, 1)}`;
  if (!b.count || b.accuracy == null) return `${range}: no predictions`;
  return `${range}: ${b.count.toLocaleString("en-US")} predictions, confidence ${pct(b.confidence)}, accuracy ${pct(b.accuracy)}`;
}

export function ReliabilityDiagram({ bins }: { bins: ReliabilityBin[] }) {
  const used = bins.filter((b) => b.count > 0 && b.accuracy != null);
  const max = Math.max(1, ...used.map((b) => b.count));
  const y = (v: number) => 100 - v * 100;
  return (
    <svg
      className="reliability"
      viewBox="-14 -4 118 122"
      role="img"
      aria-label={`Reliability diagram: ${used.length} of ${bins.length} bins hold predictions`}
    >
      <rect
        x={0}
        y={0}
        width={100}
        height={100}
        fill="var(--bg-inset)"
        stroke="var(--border)"
        strokeWidth={0.4}
      />
      {[0.25, 0.5, 0.75].map((t) => (
        <line key={t} x1={0} x2={100} y1={y(t)} y2={y(t)} stroke="var(--border)" strokeWidth={0.3} />
      ))}
      <line
        x1={0}
        y1={100}
        x2={100}
        y2={0}
        stroke="var(--text-faint)"
        strokeWidth={0.5}
        strokeDasharray="2 2"
      />
      {used.map((b) => (
        <g key={b.lo} className="rel-bin" data-testid="reliability-bin">
          <title>{binLabel(b)}</title>
          <rect
            x={b.lo * 100 + 0.8}
            width={Math.max(0.5, (b.hi - b.lo) * 100 - 1.6)}
            y={y(b.accuracy!)}
            height={b.accuracy! * 100}
            fill="var(--series-model)"
            // Thinly populated bins are faint: their accuracy is noisy.
            fillOpacity={0.15 + 0.4 * (b.count / max)}
          />
          {b.confidence != null && (
            <circle cx={b.confidence * 100} cy={y(b.accuracy!)} r={1.6} fill="var(--series-model)" />
          )}
        </g>
      ))}
      <g className="rel-axis" fontSize={5} fill="var(--text-faint)">
        {[0, 0.5, 1].map((t) => (
          <text key={`x${t}`} x={t * 100} y={106} textAnchor="middle">
            {t}
          </text>
        ))}
        {[0, 0.5, 1].map((t) => (
          <text key={`y${t}`} x={-2} y={y(t) + 1.7} textAnchor="end">
            {t}
          </text>
        ))}
        <text x={50} y={115} textAnchor="middle">
          confidence (top-class probability)
        </text>
        <text x={-10} y={50} textAnchor="middle" transform="rotate(-90 -10 50)">
          accuracy
        </text>
      </g>
    </svg>
  );
}

export function CalibrationView({ calibration }: { calibration: Calibration }) {
  const bins = calibration.reliability ?? [];
  return (
    <figure style={{ margin: 0 }} aria-label="Calibration">
      <figcaption className="chart-title">Calibration of the model's test probabilities</figcaption>
      <dl className="kv">
        <div>
          <dt>Log loss</dt>
          <dd data-testid="log-loss">{fixed(calibration.log_loss, 4)}</dd>
        </div>
        <div>
          <dt>Brier score</dt>
          <dd data-testid="brier">{fixed(calibration.brier, 4)}</dd>
        </div>
      </dl>
      <p className="faint small" style={{ margin: "8px 0" }}>
        Lower is better for both; a uniform guess scores log loss {fixed(UNIFORM_LOG_LOSS, 4)}.
      </p>
      {bins.length > 0 && <ReliabilityDiagram bins={bins} />}
    </figure>
  );
}
