// A run's live figures minute by minute against its test macro F1. Loaded lazily, as MetricsCurves
// is: recharts stays out of the pages that do not draw a chart.
import type { Schemas } from "../api/client";
import { LineChartPanel, type LineChartSpec } from "../ui/LineChartPanel";
import { fixed } from "../ui/format";

type Minute = Schemas["LiveMinuteOut"];

interface Point {
  minute: string;
  f1: number | null;
  accuracy: number | null;
}

/** "14:05" within a day; "3 Mar 14:05" once the history spans more than one. */
function minuteLabels(minutes: Minute[]): string[] {
  const first = minutes[0]?.minute;
  const last = minutes.at(-1)?.minute;
  const days = first && last ? new Date(first).toDateString() !== new Date(last).toDateString() : false;
  return minutes.map((m) =>
    new Date(m.minute).toLocaleString("en-GB", {
      ...(days ? { day: "numeric", month: "short" } : {}),
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
    }),
  );
}

const SPEC: LineChartSpec<Point> = {
  title: "Live macro F1 and accuracy over the last 1,000 scored, per minute",
  series: [
    { key: "f1", name: "live macro F1", colour: "var(--series-model)" },
    { key: "accuracy", name: "live accuracy", colour: "var(--series-3)" },
  ],
  yDomain: [0, 1],
  yTick: (v) => v.toFixed(1),
  value: (v) => v.toFixed(3),
};

export default function LiveHistoryChart({
  minutes,
  symbol,
  testF1,
}: {
  minutes: Minute[];
  symbol: string;
  testF1: number | null;
}) {
  const labels = minuteLabels(minutes);
  const data: Point[] = minutes.map((m, i) => ({
    minute: labels[i]!,
    f1: m.window_f1_macro,
    accuracy: m.window_accuracy,
  }));
  const test = testF1 == null ? "" : `, against its test macro F1 ${fixed(testF1, 3)}`;
  return (
    <LineChartPanel
      {...SPEC}
      label={`Live macro F1 and accuracy per minute on ${symbol}${test}`}
      data={data}
      x="minute"
      references={testF1 == null ? [] : [{ y: testF1, name: "test macro F1", colour: "var(--up)" }]}
    />
  );
}
