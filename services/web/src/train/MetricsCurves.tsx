// Loss and accuracy per epoch for one fold (recharts). Loaded lazily: only the Train page needs it.
import { useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

export interface MetricPoint {
  fold: number;
  epoch: number;
  train_loss?: number | null;
  train_acc?: number | null;
  val_loss?: number | null;
  val_acc?: number | null;
  val_f1?: number | null;
}

const AXIS = { stroke: "#5f6b84", fontSize: 12 };
const TOOLTIP = {
  contentStyle: { background: "#111a2e", border: "1px solid #2c3b5a", borderRadius: 8, fontSize: 12 },
  labelStyle: { color: "#8c98b0" },
};

/** Losses sit in a narrow band; three significant figures keep neighbouring ticks distinct. */
function lossTick(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

export default function MetricsCurves({ points, folds }: { points: MetricPoint[]; folds: number }) {
  const seen = [...new Set(points.map((p) => p.fold))].sort((a, b) => a - b);
  const all = Array.from({ length: Math.max(folds, seen.at(-1) ?? 0) }, (_, i) => i + 1);
  const [fold, setFold] = useState<number | null>(null);
  const current = fold ?? seen.at(-1) ?? 1;
  const data = points.filter((p) => p.fold === current).sort((a, b) => a.epoch - b.epoch);
  const dot = data.length < 3;

  return (
    <div className="stack">
      <div className="tabs" role="group" aria-label="Fold shown">
        {all.map((f) => (
          <button
            key={f}
            type="button"
            className="tab"
            aria-pressed={f === current}
            disabled={!seen.includes(f)}
            onClick={() => setFold(f)}
          >
            Fold {f}
          </button>
        ))}
      </div>
      {data.length === 1 && (
        <p className="faint small">One epoch so far in this fold: the curves become lines from the second.</p>
      )}
      {data.length === 0 ? (
        <p className="muted small">Curves appear after the first epoch of this fold.</p>
      ) : (
        <div className="grid grid-2">
          <figure style={{ margin: 0 }} aria-label={`Fold ${current} loss per epoch`}>
            <figcaption className="chart-title">Loss</figcaption>
            <div className="chart-box">
              <ResponsiveContainer width="100%" height="100%">
                <LineChart data={data} margin={{ top: 4, right: 8, bottom: 0, left: -12 }}>
                  <CartesianGrid stroke="#1f2b44" strokeDasharray="3 3" />
                  <XAxis dataKey="epoch" tick={AXIS} stroke="#2c3b5a" allowDecimals={false} />
                  <YAxis tick={AXIS} stroke="#2c3b5a" domain={["auto", "auto"]} tickFormatter={lossTick} />
                  <Tooltip
                    {...TOOLTIP}
                    formatter={(v) => (typeof v === "number" ? v.toFixed(4) : String(v))}
                  />
                  <Legend wrapperStyle={{ fontSize: 12 }} />
                  <Line
                    type="monotone"
                    dataKey="train_loss"
                    name="train"
                    stroke="#5b8cff"
                    strokeWidth={2}
                    dot={dot}
                    isAnimationActive={false}
                  />
                  <Line
                    type="monotone"
                    dataKey="val_loss"
                    name="validation"
                    stroke="#f5b849"
                    strokeWidth={2}
                    dot={dot}
                    isAnimationActive={false}
                  />
                </LineChart>
              </ResponsiveContainer>
            </div>
          </figure>
          <figure style={{ margin: 0 }} aria-label={`Fold ${current} accuracy per epoch`}>
            <figcaption className="chart-title">Accuracy and F1</figcaption>
            <div className="chart-box">
              <ResponsiveContainer width="100%" height="100%">
                <LineChart data={data} margin={{ top: 4, right: 8, bottom: 0, left: -12 }}>
                  <CartesianGrid stroke="#1f2b44" strokeDasharray="3 3" />
                  <XAxis dataKey="epoch" tick={AXIS} stroke="#2c3b5a" allowDecimals={false} />
                  <YAxis
                    tick={AXIS}
                    stroke="#2c3b5a"
                    domain={[0, 1]}
                    tickFormatter={(v: number) => `${Math.round(v * 100)}%`}
                  />
                  <Tooltip
                    {...TOOLTIP}
                    formatter={(v) => (typeof v === "number" ? `${(v * 100).toFixed(1)}%` : String(v))}
                  />
                  <Legend wrapperStyle={{ fontSize: 12 }} />
                  <Line
                    type="monotone"
                    dataKey="train_acc"
                    name="train acc"
                    stroke="#5b8cff"
                    strokeWidth={2}
                    dot={dot}
                    isAnimationActive={false}
                  />
                  <Line
                    type="monotone"
                    dataKey="val_acc"
                    name="val acc"
                    stroke="#f5b849"
                    strokeWidth={2}
                    dot={dot}
                    isAnimationActive={false}
                  />
                  <Line
                    type="monotone"
                    dataKey="val_f1"
                    name="val F1"
                    stroke="#2fd08a"
                    strokeWidth={2}
                    dot={dot}
                    isAnimationActive={false}
                  />
                </LineChart>
              </ResponsiveContainer>
            </div>
          </figure>
        </div>
      )}
    </div>
  );
}
