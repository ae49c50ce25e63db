// Loss and accuracy per epoch for one fold. Loaded lazily: only the Train page needs recharts.
import { useState } from "react";
import { LineChartPanel, type LineChartSpec } from "../ui/LineChartPanel";

export interface MetricPoint {
  fold: number;
  epoch: number;
  train_loss?: number | null;
  train_acc?: number | null;
  val_loss?: number | null;
  val_acc?: number | null;
  val_f1?: number | null;
}

/** Losses sit in a narrow band; three significant figures keep neighbouring ticks distinct. */
function lossTick(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

// Training in the model's colour, validation in a baseline's; F1 apart from both.
const CHARTS: (LineChartSpec<MetricPoint> & { what: string })[] = [
  {
    title: "Loss",
    what: "loss",
    series: [
      { key: "train_loss", name: "train", colour: "var(--series-model)" },
      { key: "val_loss", name: "validation", colour: "var(--series-3)" },
    ],
    yTick: lossTick,
    value: (v) => v.toFixed(4),
  },
  {
    title: "Accuracy and F1",
    what: "accuracy",
    series: [
      { key: "train_acc", name: "train acc", colour: "var(--series-model)" },
      { key: "val_acc", name: "val acc", colour: "var(--series-3)" },
      { key: "val_f1", name: "val F1", colour: "var(--up)" },
    ],
    yDomain: [0, 1],
    yTick: (v) => `${Math.round(v * 100)}%`,
    value: (v) => `${(v * 100).toFixed(1)}%`,
  },
];

export default function MetricsCurves({ points, folds }: { points: MetricPoint[]; folds: number }) {
  const seen = [...new Set(points.map((p) => p.fold))].sort((a, b) => a - b);
  const all = Array.from({ length: Math.max(folds, seen.at(-1) ?? 0) }, (_, i) => i + 1);
  const [fold, setFold] = useState<number | null>(null);
  const current = fold ?? seen.at(-1) ?? 1;
  const data = points.filter((p) => p.fold === current).sort((a, b) => a.epoch - b.epoch);

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
          {CHARTS.map(({ what, ...chart }) => (
            <LineChartPanel
              key={what}
              {...chart}
              label={`Fold ${current} ${what} per epoch`}
              data={data}
              x="epoch"
            />
          ))}
        </div>
      )}
    </div>
  );
}
