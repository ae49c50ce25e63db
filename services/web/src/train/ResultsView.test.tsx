import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { BacktestEntry, RunResult } from "./result";
import { ResultsView } from "./ResultsView";

// The shape of $LOB_HOME/runs/<id>/result.json as an engine before the backtest wrote it (trimmed).
const OLD_RESULT: RunResult = {
  fold: 5,
  classes: ["DOWN", "NEUTRAL", "UP"],
  test: { samples: 120, first_row: 4420, last_row: 4539 },
  model: {
    accuracy: 0.61,
    f1_macro: 0.55,
    f1_weighted: 0.6,
    confusion: [
      [30, 10, 0],
      [5, 40, 5],
      [0, 10, 30],
    ],
  },
  baselines: {
    majority: { accuracy: 0.38, f1_macro: 0.18, f1_weighted: 0.21 },
    logistic_imbalance: { accuracy: 0.52, f1_macro: 0.57, f1_weighted: 0.5 },
  },
  folds: [
    {
      fold: 1,
      train: 620,
      val: 720,
      best_epoch: 3,
      epochs_run: 5,
      best_val_loss: 0.43,
      best_val_acc: 0.4,
      best_val_f1: 0.3,
      early_stopped: true,
    },
  ],
};

const traded = (
  theta: number,
  equity: number[],
  over: Partial<Record<string, number>> = {},
): BacktestEntry => ({
  theta,
  no_trades: false,
  test: {
    trades: equity.length,
    hit_rate: 0.55,
    mean_net_bps: equity.at(-1)! / equity.length,
    total_net_bps: equity.at(-1)!,
    sharpe: 0.12,
    max_drawdown_bps: 4.5,
    turnover: 0.1,
    long: 2,
    short: equity.length - 2,
    gross: { trades: equity.length, mean_net_bps: 3.25 },
    equity,
    ...over,
  },
});
const NO_TRADES: BacktestEntry = { theta: null, no_trades: true, test: null };

const bins = Array.from({ length: 10 }, (_, i) => ({
  lo: i / 10,
  hi: (i + 1) / 10,
  count: i < 3 ? 0 : 10 * i,
  confidence: i < 3 ? null : i / 10 + 0.05,
  accuracy: i < 3 ? null : i / 10,
}));

// What shared/ml/evaluation.py adds: every baseline, the backtest, calibration, the gate.
// Here the boosted trees beat DeepLOB on macro F1.
const NEW_RESULT: RunResult = {
  ...OLD_RESULT,
  model: {
    ...OLD_RESULT.model,
    f1_macro: 0.33,
    loss: 1.01,
    calibration: { log_loss: 1.0234, brier: 0.6123, reliability: bins },
  },
  baselines: {
    majority: { accuracy: 0.38, f1_macro: 0.18, f1_weighted: 0.21, class: "NEUTRAL" },
    logistic_imbalance: { accuracy: 0.5, f1_macro: 0.3, f1_weighted: 0.45, class_weight: null },
    logistic_book: { accuracy: 0.52, f1_macro: 0.34, f1_weighted: 0.47, class_weight: "balanced" },
    gbm_book: { accuracy: 0.55, f1_macro: 0.35, f1_weighted: 0.5, class_weight: "balanced" },
  },
  backtest: {
    fee_bps: 1,
    horizon: 100,
    entries: {
      model: traded(0.55, [-2, -3.5, 1, 6]),
      majority: NO_TRADES,
      logistic_imbalance: NO_TRADES,
      logistic_book: traded(0.6, [1, 2]),
      gbm_book: traded(0.5, [-1, -2, -4], { sharpe: -0.3 }),
    },
  },
  gate: {
    passed: false,
    reason:
      "not promoted: does not beat gbm_book, logistic_book on test macro F1 (0.3300 vs gbm_book 0.3500)",
  },
};

function tableRows() {
  const table = screen.getByRole("table", { name: "Test-set metrics" });
  return within(table)
    .getAllByRole("row")
    .filter((r) => r.querySelector('th[scope="row"]'));
}

const rowOf = (name: string) =>
  tableRows().find((r) => r.querySelector(".entry-name")?.textContent === name)!;

describe("ResultsView, an old result without backtest, calibration or gate", () => {
  it("puts the model beside the baselines and marks the best figure", () => {
    render(<ResultsView result={OLD_RESULT} />);
    expect(tableRows().map((r) => r.querySelector(".entry-name")?.textContent)).toEqual([
      "DeepLOB (fold 5)",
      "Majority class",
      "Logistic, L1 imbalance",
    ]);
    expect(within(rowOf("DeepLOB (fold 5)")).getByText("61.0%")).toHaveClass("best");
    expect(within(rowOf("Logistic, L1 imbalance")).getByText("57.0%")).toHaveClass("best"); // the baseline wins F1 macro here
    expect(screen.getByText(/120 test samples, rows 4,420–4,539/)).toBeInTheDocument();
  });

  it("shows only the sections the result holds", () => {
    render(<ResultsView result={OLD_RESULT} />);
    const table = screen.getByRole("table", { name: "Test-set metrics" });
    expect(
      within(table)
        .getAllByRole("columnheader")
        .map((h) => h.textContent),
    ).toEqual(["Model", "Accuracy", "F1 macro", "F1 weighted"]);
    expect(screen.queryByTestId("gate-verdict")).not.toBeInTheDocument();
    expect(screen.queryByLabelText("Equity legend")).not.toBeInTheDocument();
    expect(screen.queryByLabelText("Calibration")).not.toBeInTheDocument();
    expect(document.body.textContent).not.toMatch(/NaN|Infinity|undefined/);
  });

  it("draws the confusion matrix with each row's share", () => {
    render(<ResultsView result={OLD_RESULT} />);
    expect(screen.getByLabelText("true UP, predicted UP: 30 (75.0% of UP)")).toBeInTheDocument();
    expect(screen.getByLabelText("true DOWN, predicted NEUTRAL: 10 (25.0% of DOWN)")).toBeInTheDocument();
    const folds = screen.getByRole("table", { name: "Validation by fold" });
    expect(within(folds).getByText(/stopped early/)).toBeInTheDocument();
  });

  it("reads the scores from `test` in the oldest results", () => {
    render(
      <ResultsView result={{ test: { accuracy: 0.5, f1_macro: 0.4, f1_weighted: 0.45, samples: 10 } }} />,
    );
    expect(within(rowOf("DeepLOB (fold 5)")).getByText("40.0%")).toBeInTheDocument();
    expect(screen.queryByTestId("f1-verdict")).not.toBeInTheDocument(); // nothing to compare with
  });
});

describe("ResultsView, a result where a baseline wins", () => {
  it("lists every baseline with its backtest figures", () => {
    render(<ResultsView result={NEW_RESULT} />);
    expect(tableRows().map((r) => r.querySelector(".entry-name")?.textContent)).toEqual([
      "DeepLOB (fold 5)",
      "Majority class",
      "Logistic, L1 imbalance",
      "Logistic, book features",
      "Boosted trees, book features",
    ]);
    const model = rowOf("DeepLOB (fold 5)");
    // accuracy, F1s, then net/trade, total, trades, hit rate, Sharpe, drawdown, gross/trade
    expect([...model.querySelectorAll("td")].map((td) => td.textContent)).toEqual([
      "61.0%",
      "33.0%",
      "60.0%",
      "+1.50",
      "+6.0",
      "4",
      "55.0%",
      "0.12",
      "4.5",
      "+3.25",
    ]);
    expect(within(rowOf("Boosted trees, book features")).getByText("−4.0")).toBeInTheDocument();
    expect(within(model).getByText("+6.0")).toHaveClass("best");
  });

  it("makes plain that the baseline, not the model, has the best macro F1", () => {
    render(<ResultsView result={NEW_RESULT} />);
    const gbm = rowOf("Boosted trees, book features");
    const model = rowOf("DeepLOB (fold 5)");
    expect(gbm).toHaveClass("winner");
    expect(within(gbm).getByText("best F1")).toBeInTheDocument();
    expect(within(gbm).getByText("35.0%")).toHaveClass("best");
    expect(model).not.toHaveClass("winner");
    expect(within(model).queryByText("best F1")).not.toBeInTheDocument();
    expect(within(model).getByText("33.0%")).not.toHaveClass("best");
    expect(screen.getByTestId("f1-verdict")).toHaveTextContent(
      "A baseline wins. Boosted trees, book features beats DeepLOB on test macro F1: 35.0% against 33.0%. Logistic, book features also match or beat it.",
    );
  });

  it("shows the gate's verdict", () => {
    render(<ResultsView result={NEW_RESULT} />);
    const gate = screen.getByTestId("gate-verdict");
    expect(gate).toHaveAttribute("data-passed", "false");
    expect(within(gate).getByText("Gate failed")).toBeInTheDocument();
    expect(gate).toHaveTextContent("does not beat gbm_book, logistic_book on test macro F1");
  });

  it("says the model wins when it does, and the gate passed", () => {
    const wins: RunResult = {
      ...NEW_RESULT,
      model: { ...NEW_RESULT.model, f1_macro: 0.3677 },
      gate: {
        passed: true,
        reason: "beats every baseline on test macro F1 (0.3677; best baseline gbm_book 0.3500)",
      },
    };
    render(<ResultsView result={wins} />);
    expect(rowOf("DeepLOB (fold 5)")).toHaveClass("winner");
    expect(screen.getByTestId("f1-verdict")).toHaveTextContent(
      "DeepLOB has the best test macro F1: 36.8%, ahead of Boosted trees, book features at 35.0%.",
    );
    expect(within(screen.getByTestId("gate-verdict")).getByText("Gate passed")).toBeInTheDocument();
  });

  it("counts a tie as the baseline's, as the gate does", () => {
    const tie: RunResult = { ...NEW_RESULT, model: { ...NEW_RESULT.model, f1_macro: 0.35 } };
    render(<ResultsView result={tie} />);
    expect(rowOf("Boosted trees, book features")).toHaveClass("winner");
    expect(screen.getByTestId("f1-verdict")).toHaveTextContent("ties with DeepLOB");
  });
});

describe("ResultsView, entries that made no trades", () => {
  it("says 'no trades' across the backtest columns, never NaN or a zero division", () => {
    render(<ResultsView result={NEW_RESULT} />);
    const majority = rowOf("Majority class");
    const cells = [...majority.querySelectorAll("td")];
    expect(cells.at(-1)).toHaveTextContent("no trades: no θ traded on validation");
    expect(cells.at(-1)).toHaveAttribute("colspan", "7");
    expect(document.body.textContent).not.toMatch(/NaN|Infinity|undefined/);
  });

  it("lists them in the equity legend and draws a line for each entry that traded", () => {
    const { container } = render(<ResultsView result={NEW_RESULT} />);
    const legend = screen.getByRole("list", { name: "Equity legend" });
    const items = within(legend)
      .getAllByRole("listitem")
      .map((li) => li.textContent);
    expect(items).toEqual([
      "DeepLOB (fold 5)θ 0.55 · 4 trades · +6.0 bps",
      "Majority classno trades (no θ traded on validation)",
      "Logistic, L1 imbalanceno trades (no θ traded on validation)",
      "Logistic, book featuresθ 0.60 · 2 trades · +2.0 bps",
      "Boosted trees, book featuresθ 0.50 · 3 trades · −4.0 bps",
    ]);
    const lines = [...container.querySelectorAll("svg.equity-plot path[data-entry]")];
    expect(lines.map((p) => p.getAttribute("data-entry")).sort()).toEqual([
      "gbm_book",
      "logistic_book",
      "model",
    ]);
    for (const p of lines) expect(p.getAttribute("d")).not.toMatch(/NaN|Infinity/);
  });

  it("draws no chart when nobody traded", () => {
    const none: RunResult = {
      ...NEW_RESULT,
      backtest: {
        fee_bps: 1,
        horizon: 100,
        entries: {
          model: NO_TRADES,
          majority: NO_TRADES,
          gbm_book: { theta: 0.7, no_trades: false, test: { trades: 0, equity: [] } },
        },
      },
    };
    render(<ResultsView result={none} />);
    expect(screen.getByTestId("equity-empty")).toHaveTextContent("No entry traded on the test rows.");
    expect(within(rowOf("DeepLOB (fold 5)")).getByText(/no trades/)).toBeInTheDocument();
    expect(
      within(rowOf("Boosted trees, book features")).getByText("no trades on the test rows"),
    ).toBeInTheDocument();
    // Entries the backtest did not list show dashes, not a "no trades" claim.
    expect(within(rowOf("Logistic, book features")).getAllByText("–")).toHaveLength(7);
    expect(document.body.textContent).not.toMatch(/NaN|Infinity|undefined/);
  });
});

describe("ResultsView, calibration", () => {
  it("gives log loss, Brier score and a bar for each populated reliability bin", () => {
    render(<ResultsView result={NEW_RESULT} />);
    expect(screen.getByTestId("log-loss")).toHaveTextContent("1.0234");
    expect(screen.getByTestId("brier")).toHaveTextContent("0.6123");
    const diagram = screen.getByRole("img", { name: /Reliability diagram/ });
    expect(diagram).toHaveAccessibleName("Reliability diagram: 7 of 10 bins hold predictions");
    const first = within(diagram).getAllByTestId("reliability-bin")[0]!;
    expect(first.querySelector("title")).toHaveTextContent(
      "0.3–0.4: 30 predictions, confidence 35.0%, accuracy 30.0%",
    );
  });
});

describe("ResultsView, the model zoo", () => {
  it("titles the model's row and verdict after the network the run trained", () => {
    // Given a BiN-CTABL run (result.arch) that beats every baseline
    const zoo: RunResult = {
      ...NEW_RESULT,
      arch: "binctabl",
      model: { ...NEW_RESULT.model, f1_macro: 0.3677 },
    };
    render(<ResultsView result={zoo} />);

    expect(tableRows()[0]!.querySelector(".entry-name")).toHaveTextContent("BiN-CTABL (fold 5)");
    expect(screen.queryByText(/DeepLOB/)).not.toBeInTheDocument();
    expect(screen.getByTestId("f1-verdict")).toHaveTextContent("BiN-CTABL has the best test macro F1: 36.8%");
  });

  it("reads a result without `arch` as DeepLOB's, and an unknown name as it is", () => {
    const { unmount } = render(<ResultsView result={OLD_RESULT} />);
    expect(rowOf("DeepLOB (fold 5)")).toBeInTheDocument();
    unmount();
    render(<ResultsView result={{ ...OLD_RESULT, arch: "newnet" }} />);
    expect(rowOf("newnet (fold 5)")).toBeInTheDocument();
  });
});
