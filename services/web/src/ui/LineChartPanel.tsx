// One captioned recharts line chart, every colour a CSS token from styles.css (SVG attributes and
// inline styles both take var(--…)), so the charts follow the theme. recharts is the bulk of the
// bundle: import this only from lazily loaded modules (MetricsCurves is), so /predict loads without it.
import {
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";

export interface LineSeries<T> {
  key: keyof T & string;
  name: string;
  /** A CSS colour, normally a token: "var(--series-model)". */
  colour: string;
}

/** A level to read the lines against (a test-set figure), drawn dashed across the chart. */
export interface ReferenceLevel {
  y: number;
  name: string;
  colour: string;
}

/** What a chart shows, apart from its data. */
export interface LineChartSpec<T> {
  title: string;
  series: LineSeries<T>[];
  /** [min, max]; "auto" lets the data decide. */
  yDomain?: [number | "auto", number | "auto"];
  yTick: (v: number) => string;
  /** A value as the tooltip shows it. */
  value: (v: number) => string;
  references?: ReferenceLevel[];
}

interface Props<T> extends LineChartSpec<T> {
  /** The figure's accessible name. */
  label: string;
  data: T[];
  x: keyof T & string;
}

const AXIS_TICK = { stroke: "var(--text-faint)", fontSize: 12 };
const AXIS_LINE = "var(--border-strong)";
const TOOLTIP_BOX = {
  background: "var(--bg-raised)",
  border: "1px solid var(--border-strong)",
  borderRadius: 8,
  fontSize: 12,
};

export function LineChartPanel<T>({
  title,
  label,
  data,
  x,
  series,
  yDomain = ["auto", "auto"],
  yTick,
  value,
  references = [],
}: Props<T>) {
  // With fewer than three points a line says little: mark each one.
  const dot = data.length < 3;
  const xKey: string = x; // recharts cannot check a key of a generic T; the props above did.
  return (
    <figure style={{ margin: 0 }} aria-label={label}>
      <figcaption className="chart-title">{title}</figcaption>
      <div className="chart-box">
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={data} margin={{ top: 4, right: 8, bottom: 0, left: -12 }}>
            <CartesianGrid stroke="var(--border)" strokeDasharray="3 3" />
            <XAxis dataKey={xKey} tick={AXIS_TICK} stroke={AXIS_LINE} allowDecimals={false} />
            <YAxis tick={AXIS_TICK} stroke={AXIS_LINE} domain={yDomain} tickFormatter={yTick} />
            <Tooltip
              contentStyle={TOOLTIP_BOX}
              labelStyle={{ color: "var(--text-muted)" }}
              formatter={(v) => (typeof v === "number" ? value(v) : String(v))}
            />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            {references.map((r) => (
              <ReferenceLine
                key={r.name}
                y={r.y}
                stroke={r.colour}
                strokeDasharray="4 4"
                ifOverflow="extendDomain"
                label={{ value: r.name, position: "insideTopRight", fill: r.colour, fontSize: 11 }}
              />
            ))}
            {series.map((s) => (
              <Line
                key={s.key}
                type="monotone"
                dataKey={s.key}
                name={s.name}
                stroke={s.colour}
                strokeWidth={2}
                dot={dot}
                isAnimationActive={false}
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
