import { fixed, pct } from "../ui/format";

/** Scores as result.json writes them (shared/ml): accuracy, macro/weighted F1, confusion counts. */
export interface Scores {
  accuracy?: number | null;
  f1_macro?: number | null;
  f1_weighted?: number | null;
  f1_per_class?: number[] | null;
  confusion?: number[][] | null;
  samples?: number | null;
}

export interface FoldSummary {
  fold: number;
  train?: number;
  val?: number;
  best_epoch?: number;
  epochs_run?: number;
  best_val_loss?: number;
  best_val_acc?: number;
  best_val_f1?: number;
  early_stopped?: boolean;
}

/** result.json: `model` holds the served fold's test scores, `test` describes the test set. */
export interface RunResult {
  model?: Scores | null;
  test?: (Scores & { first_row?: number; last_row?: number }) | null;
  baselines?: Record<string, Scores | null> | null;
  folds?: FoldSummary[] | null;
  classes?: string[] | null;
  fold?: number | null;
}

const BASELINES: Record<string, { name: string; hint: string }> = {
  majority: { name: "Majority class", hint: "Always predicts the most frequent training class" },
  logistic_imbalance: {
    name: "Logistic regression",
    hint: "Logistic regression on order-book imbalance features",
  },
  logreg_imbalance: {
    name: "Logistic regression",
    hint: "Logistic regression on order-book imbalance features",
  },
};

const DEFAULT_CLASSES = ["DOWN", "NEUTRAL", "UP"];
const COLS = [
  ["accuracy", "Accuracy"],
  ["f1_macro", "F1 macro"],
  ["f1_weighted", "F1 weighted"],
] as const;

function modelScores(result: RunResult): Scores | null {
  if (result.model) return result.model;
  // Older result files kept the scores under `test` itself.
  return result.test?.accuracy != null ? result.test : null;
}

/** Test-set scores of the served fold beside the baselines, best figure per column highlighted. */
export function ResultsView({ result }: { result: RunResult }) {
  const scores = modelScores(result);
  const classes = result.classes?.length === 3 ? result.classes : DEFAULT_CLASSES;
  const rows: { key: string; name: string; hint?: string; scores: Scores; ours: boolean }[] = [];
  if (scores) rows.push({ key: "model", name: `DeepLOB (fold ${result.fold ?? 5})`, scores, ours: true });
  for (const [key, s] of Object.entries(result.baselines ?? {})) {
    if (s)
      rows.push({
        key,
        name: BASELINES[key]?.name ?? key,
        hint: BASELINES[key]?.hint,
        scores: s,
        ours: false,
      });
  }
  const best = Object.fromEntries(
    COLS.map(([k]) => [k, Math.max(...rows.map((r) => r.scores[k] ?? -Infinity))]),
  ) as Record<(typeof COLS)[number][0], number>;
  const samples = scores?.samples ?? result.test?.samples;
  const span =
    result.test?.first_row != null && result.test?.last_row != null
      ? `, rows ${result.test.first_row.toLocaleString("en-US")}–${result.test.last_row.toLocaleString("en-US")}`
      : "";

  return (
    <div className="stack">
      <div className="grid grid-2">
        <div>
          <table className="metrics-table" aria-label="Test-set metrics">
            <thead>
              <tr>
                <th scope="col">Model</th>
                {COLS.map(([, label]) => (
                  <th scope="col" key={label}>
                    {label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.key} className={r.ours ? "ours" : undefined}>
                  <td title={r.hint}>{r.name}</td>
                  {COLS.map(([k]) => (
                    <td
                      key={k}
                      className={r.scores[k] != null && r.scores[k] === best[k] ? "best" : undefined}
                    >
                      {pct(r.scores[k])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <p className="faint small" style={{ marginTop: 8 }}>
            {samples ? `${samples.toLocaleString("en-US")} test samples${span}: ` : ""}
            the last part of the data, which no fold trained or validated on.
          </p>
        </div>
        {scores?.confusion && <ConfusionMatrix matrix={scores.confusion} classes={classes} />}
      </div>
      {result.folds?.length ? <FoldTable folds={result.folds} /> : null}
    </div>
  );
}

/** Rows are true classes, columns predictions; shading is the share of the row (recall). */
export function ConfusionMatrix({
  matrix,
  classes = DEFAULT_CLASSES,
}: {
  matrix: number[][];
  classes?: string[];
}) {
  return (
    <figure style={{ margin: 0 }}>
      <figcaption className="chart-title">Confusion matrix (rows: true, columns: predicted)</figcaption>
      <div className="confusion" role="table" aria-label="Confusion matrix">
        <div role="row" style={{ display: "contents" }}>
          <span className="axis" role="columnheader" />
          {classes.map((c) => (
            <span className="axis" role="columnheader" key={c}>
              {c}
            </span>
          ))}
        </div>
        {classes.map((truth, i) => {
          const row = matrix[i] ?? [];
          const total = row.reduce((a, b) => a + b, 0) || 1;
          return (
            <div role="row" key={truth} style={{ display: "contents" }}>
              <span className="axis row-axis" role="rowheader">
                {truth}
              </span>
              {classes.map((pred, j) => {
                const n = row[j] ?? 0;
                const share = n / total;
                const hue = i === j ? "47, 208, 138" : "240, 97, 109";
                return (
                  <span
                    key={pred}
                    role="cell"
                    className="cell"
                    style={{ background: `rgba(${hue}, ${0.08 + share * 0.55})` }}
                    aria-label={`true ${truth}, predicted ${pred}: ${n} (${fixed(share * 100, 1)}% of ${truth})`}
                  >
                    {n.toLocaleString("en-US")}
                    <small>{pct(share, 0)}</small>
                  </span>
                );
              })}
            </div>
          );
        })}
      </div>
    </figure>
  );
}

/** Each fold's best validation epoch: how stable the walk-forward estimate is. */
function FoldTable({ folds }: { folds: FoldSummary[] }) {
  return (
    <div style={{ overflowX: "auto" }}>
      <table className="metrics-table" aria-label="Validation by fold">
        <thead>
          <tr>
            <th scope="col">Fold</th>
            <th scope="col" className="hide-narrow">
              Train / val
            </th>
            <th scope="col" className="hide-narrow">
              Best epoch
            </th>
            <th scope="col">Val loss</th>
            <th scope="col">Val acc</th>
            <th scope="col">Val F1</th>
          </tr>
        </thead>
        <tbody>
          {folds.map((f) => (
            <tr key={f.fold}>
              <td className="nowrap">
                Fold {f.fold}
                {f.early_stopped ? <span className="faint small"> · stopped early</span> : null}
              </td>
              <td className="hide-narrow">
                {f.train?.toLocaleString("en-US") ?? "–"} / {f.val?.toLocaleString("en-US") ?? "–"}
              </td>
              <td className="hide-narrow">
                {f.best_epoch ?? "–"}
                {f.epochs_run ? <span className="faint"> of {f.epochs_run}</span> : null}
              </td>
              <td>{fixed(f.best_val_loss, 4)}</td>
              <td>{pct(f.best_val_acc)}</td>
              <td>{fixed(f.best_val_f1, 3)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
