import type { ReactNode } from "react";
import { fixed, pct, signed } from "../ui/format";
import { Notice } from "../ui/Notice";
import { CalibrationView } from "./CalibrationView";
import { EquityCurves, type EquitySeries } from "./EquityCurves";
import {
  baselinesBeatingModel,
  bestByF1,
  entryName,
  entryRows,
  modelScores,
  noTrades,
  type Backtest,
  type BacktestTest,
  type EntryRow,
  type FoldSummary,
  type GateVerdict,
  type RunResult,
  type Scores,
} from "./result";
import { modelTitle } from "./zoo";

const DEFAULT_CLASSES = ["DOWN", "NEUTRAL", "UP"];

interface Column<T> {
  key: string;
  label: string;
  title?: string;
  value: (t: T) => number | null | undefined;
  show: (v: number | null | undefined) => string;
  /** Mark the highest figure of the column. */
  best?: boolean;
}

const SCORE_COLS: Column<Scores>[] = [
  { key: "accuracy", label: "Accuracy", value: (s) => s.accuracy, show: (v) => pct(v), best: true },
  { key: "f1_macro", label: "F1 macro", value: (s) => s.f1_macro, show: (v) => pct(v), best: true },
  { key: "f1_weighted", label: "F1 weighted", value: (s) => s.f1_weighted, show: (v) => pct(v), best: true },
];

const TRADE_COLS: Column<BacktestTest>[] = [
  {
    key: "mean_net_bps",
    label: "Net bps / trade",
    title: "Mean net return per trade after the spread and fees, in basis points",
    value: (t) => t.mean_net_bps,
    show: (v) => signed(v, 2),
    best: true,
  },
  {
    key: "total_net_bps",
    label: "Total net bps",
    value: (t) => t.total_net_bps,
    show: (v) => signed(v, 1),
    best: true,
  },
  {
    key: "trades",
    label: "Trades",
    value: (t) => t.trades,
    show: (v) => (v == null ? "–" : v.toLocaleString("en-US")),
  },
  {
    key: "hit_rate",
    label: "Hit rate",
    title: "Share of trades that made money net",
    value: (t) => t.hit_rate,
    show: (v) => pct(v),
    best: true,
  },
  {
    key: "sharpe",
    label: "Sharpe",
    title: "Mean over standard deviation of the net returns per trade",
    value: (t) => t.sharpe,
    show: (v) => fixed(v, 2),
    best: true,
  },
  {
    key: "max_drawdown_bps",
    label: "Max drawdown",
    title: "Largest fall of the cumulative net P&L from a peak, in bps",
    value: (t) => t.max_drawdown_bps,
    show: (v) => fixed(v, 1),
  },
  {
    key: "gross_bps",
    label: "Gross bps / trade",
    title: "Mean return per trade at zero cost: no spread, no fee",
    value: (t) => t.gross?.mean_net_bps,
    show: (v) => signed(v, 2),
    best: true,
  },
];

function bestOf<T>(items: (T | null | undefined)[], col: Column<T>): number | null {
  const values = items
    .map((t) => (t ? col.value(t) : null))
    .filter((v): v is number => v != null && Number.isFinite(v));
  return values.length ? Math.max(...values) : null;
}

/** The model beside every baseline on the test rows: scores, then the backtest when there is one. */
export function ResultsView({ result }: { result: RunResult }) {
  const scores = modelScores(result);
  const classes = result.classes?.length === 3 ? result.classes : DEFAULT_CLASSES;
  const rows = entryRows(result);
  const backtest = result.backtest?.entries ? result.backtest : null;
  const calibration = result.model?.calibration;
  const samples = scores?.samples ?? result.test?.samples;
  const span =
    result.test?.first_row != null && result.test?.last_row != null
      ? `, rows ${result.test.first_row.toLocaleString("en-US")}–${result.test.last_row.toLocaleString("en-US")}`
      : "";

  return (
    <div className="stack">
      {result.gate && <GateBadge gate={result.gate} />}
      <div>
        <ComparisonTable rows={rows} backtest={backtest} />
        <p className="faint small" style={{ marginTop: 8 }}>
          {samples ? `${samples.toLocaleString("en-US")} test samples${span}: ` : ""}
          the last part of the data, which no fold trained or validated on.
          {backtest && <BacktestNote backtest={backtest} />}
        </p>
      </div>
      <F1Verdict rows={rows} title={modelTitle(result.arch)} />
      {(scores?.confusion || calibration) && (
        <div className="grid grid-2">
          {scores?.confusion && <ConfusionMatrix matrix={scores.confusion} classes={classes} />}
          {calibration && <CalibrationView calibration={calibration} />}
        </div>
      )}
      {backtest && <EquityCurves series={equitySeries(rows, backtest, result)} />}
      {result.folds?.length ? <FoldTable folds={result.folds} /> : null}
    </div>
  );
}

function BacktestNote({ backtest }: { backtest: Backtest }) {
  const fee = backtest.fee_bps != null ? `${fixed(backtest.fee_bps, 1)} bps` : "the";
  const horizon = backtest.horizon != null ? ` over ${backtest.horizon.toLocaleString("en-US")} rows` : "";
  return (
    <>
      {" "}
      Backtest: each entry trades when its top probability clears a threshold θ chosen on the validation
      block, held{horizon}; net figures pay the spread and {fee} fee per side, gross ones are the same trades
      at zero cost.
    </>
  );
}

/** Backtest entries in table order (the model first), then any the table does not list. */
function equitySeries(rows: EntryRow[], backtest: Backtest, result: RunResult): EquitySeries[] {
  const entries = backtest.entries ?? {};
  const keys = [...rows.map((r) => r.key), ...Object.keys(entries)];
  const seen = new Set<string>();
  const out: EquitySeries[] = [];
  for (const key of keys) {
    const entry = entries[key];
    if (!entry || seen.has(key)) continue;
    seen.add(key);
    out.push({
      key,
      name: rows.find((r) => r.key === key)?.name ?? entryName(key, result.fold, result.arch),
      entry,
    });
  }
  return out;
}

export function GateBadge({ gate }: { gate: GateVerdict }) {
  const [tone, label] =
    gate.passed === true
      ? ["pill-ok", "Gate passed"]
      : gate.passed === false
        ? ["pill-bad", "Gate failed"]
        : ["pill-muted", "No gate verdict"];
  return (
    <div className="gate" data-testid="gate-verdict" data-passed={String(gate.passed ?? null)}>
      <span className={`pill ${tone}`}>
        <span className="dot" aria-hidden="true" /> {label}
      </span>
      <span className="small">Promotion gate: {gate.reason ?? "no reason was recorded"}</span>
    </div>
  );
}

/** One line on who has the best macro F1: the model (`title`: its network), or the baseline that beats it. */
function F1Verdict({ rows, title }: { rows: EntryRow[]; title: string }) {
  const model = rows.find((r) => r.ours);
  const others = rows.filter((r) => !r.ours && r.scores.f1_macro != null);
  if (!model || model.scores.f1_macro == null || !others.length) return null;
  const beating = baselinesBeatingModel(rows);
  const m = pct(model.scores.f1_macro);
  if (beating.length) {
    const [top, ...rest] = beating;
    const verb = top!.scores.f1_macro === model.scores.f1_macro ? "ties with" : "beats";
    const also = rest.length ? ` ${rest.map((r) => r.name).join(", ")} also match or beat it.` : "";
    return (
      <div data-testid="f1-verdict">
        <Notice tone="warn" title="A baseline wins.">
          {top!.name} {verb} {title} on test macro F1: {pct(top!.scores.f1_macro)} against {m}.{also}
        </Notice>
      </div>
    );
  }
  const next = [...others].sort((a, b) => (b.scores.f1_macro ?? 0) - (a.scores.f1_macro ?? 0))[0]!;
  return (
    <p className="small" data-testid="f1-verdict">
      {title} has the best test macro F1: {m}, ahead of {next.name} at {pct(next.scores.f1_macro)}.
    </p>
  );
}

function ComparisonTable({ rows, backtest }: { rows: EntryRow[]; backtest: Backtest | null }) {
  const winner = bestByF1(rows);
  const tests = rows.map((r) => (noTrades(r.trade) ? null : r.trade?.test));
  const scoreBest = SCORE_COLS.map((c) =>
    bestOf(
      rows.map((r) => r.scores),
      c,
    ),
  );
  const tradeBest = TRADE_COLS.map((c) => bestOf(tests, c));
  const cell = <T,>(col: Column<T>, item: T, best: number | null): ReactNode => {
    const v = col.value(item);
    const isBest = col.best && v != null && v === best;
    return (
      <td key={col.key} className={isBest ? "best" : undefined}>
        {col.show(v)}
      </td>
    );
  };
  return (
    <div className="table-scroll">
      <table className="metrics-table comparison" aria-label="Test-set metrics">
        <thead>
          {backtest && (
            <tr className="group-head">
              <td />
              <th scope="colgroup" colSpan={SCORE_COLS.length}>
                Classification
              </th>
              <th scope="colgroup" colSpan={TRADE_COLS.length}>
                Backtest, test rows
              </th>
            </tr>
          )}
          <tr>
            <th scope="col">Model</th>
            {SCORE_COLS.map((c) => (
              <th scope="col" key={c.key} title={c.title}>
                {c.label}
              </th>
            ))}
            {backtest &&
              TRADE_COLS.map((c) => (
                <th scope="col" key={c.key} title={c.title}>
                  {c.label}
                </th>
              ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => {
            const test = tests[i];
            const cls = [r.ours ? "ours" : "", r === winner ? "winner" : ""].filter(Boolean).join(" ");
            return (
              <tr key={r.key} className={cls || undefined} data-entry={r.key}>
                <th scope="row" title={r.hint}>
                  <span className="entry-name">{r.name}</span>
                  {r === winner && (
                    <span className="best-tag" title="Best test macro F1">
                      best F1
                    </span>
                  )}
                </th>
                {SCORE_COLS.map((c, j) => cell(c, r.scores, scoreBest[j]!))}
                {backtest &&
                  (test ? (
                    TRADE_COLS.map((c, j) => cell(c, test, tradeBest[j]!))
                  ) : r.trade && noTrades(r.trade) ? (
                    <td colSpan={TRADE_COLS.length} className="no-trades">
                      {r.trade.theta == null
                        ? "no trades: no θ traded on validation"
                        : "no trades on the test rows"}
                    </td>
                  ) : (
                    TRADE_COLS.map((c) => <td key={c.key}>–</td>)
                  ))}
              </tr>
            );
          })}
        </tbody>
      </table>
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
