import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Schemas } from "../api/client";
import { SessionProvider } from "../session/SessionProvider";
import { stubGateway } from "../test/gateway";
import { EMPTY_CONFUSION, liveScores } from "../test/liveScores";
import { renderWithQuery } from "../test/render";
import { ComparePage } from "./ComparePage";
import type { RunResult } from "./result";
import { TrainPage } from "./TrainPage";
import { CONFIG_DEFAULTS } from "./trainForm";
import type { ModelName } from "./zoo";

type Job = Schemas["JobDetail"];

const job = (id: string, model: ModelName, over: Partial<Job> = {}): Job => ({
  id,
  status: "succeeded",
  dataset: "btc",
  config: { ...CONFIG_DEFAULTS, model },
  progress: { fraction: 1, label: "Complete" },
  created_at: "2026-03-01T10:00:00Z",
  attempts: 1,
  cancel_requested: false,
  metrics: [],
  result: null,
  ...over,
});

const traded = (mean: number, sharpe: number) => ({
  theta: 0.6,
  test: { trades: 40, mean_net_bps: mean, sharpe },
});

const result = (arch: ModelName, f1: number, over: Partial<RunResult> = {}): RunResult => ({
  fold: 5,
  arch,
  model: { accuracy: f1 + 0.1, f1_macro: f1, calibration: { log_loss: 1.2 - f1 } },
  baselines: { majority: { f1_macro: 0.2 }, gbm_book: { f1_macro: 0.35 } },
  backtest: { entries: { model: traded(f1 * 10, f1) } },
  ...over,
});

// Three succeeded runs: TLOB has the best macro F1, DeepLOB made no trades, only MLPLOB has a Brier.
const RUNS: Record<string, Job> = {
  "run-a": job("run-a", "deeplob", {
    result: result("deeplob", 0.36, { backtest: { entries: { model: { theta: null, no_trades: true } } } }),
  }),
  "run-b": job("run-b", "tlob", { dataset: "eth", result: result("tlob", 0.41) }),
  "run-c": job("run-c", "mlplob", {
    result: result("mlplob", 0.38, {
      model: { accuracy: 0.5, f1_macro: 0.38, calibration: { log_loss: 0.95, brier: 0.61 } },
    }),
  }),
};

const gateway = (over: Record<string, unknown> = {}) => ({
  "/api/session": { signed_in: true, token_configured: true },
  "/api/models": [],
  "/api/datasets": [],
  "/api/config": {},
  ...Object.fromEntries(Object.entries(RUNS).map(([id, j]) => [`/api/jobs/${id}`, j])),
  // run-b's fold-5 model is scored live on DEMO, run-c's on DEMO but not yet over any sample.
  "/api/live/scores": {
    scores: [
      liveScores({ model_version: "run-b/fold5" }),
      liveScores({
        model_version: "run-c/fold5",
        last: { samples: 0, accuracy: null, f1_macro: null, confusion: EMPTY_CONFUSION },
      }),
    ],
    drift_window: 1_000,
    drift_margin: 0.1,
  },
  ...over,
});

function openAt(url: string, answers: Record<string, unknown> = gateway()) {
  stubGateway(answers);
  renderWithQuery(
    <SessionProvider>
      <MemoryRouter initialEntries={[url]}>
        <Routes>
          <Route path="/train" element={<TrainPage />} />
          <Route path="/train/compare" element={<ComparePage />} />
        </Routes>
      </MemoryRouter>
    </SessionProvider>,
  );
}

const row = (id: string) =>
  screen.getByRole("table", { name: "Run comparison" }).querySelector(`tr[data-row="${id}"]`)!;
const cells = (id: string) => [...row(id).querySelectorAll("td")];
const texts = (id: string) => cells(id).map((td) => td.textContent);
const best = (id: string) => cells(id).map((td) => td.classList.contains("best"));

afterEach(() => vi.unstubAllGlobals());

describe("comparing runs", () => {
  it("lists each run's network, and compares only 2 to 4 succeeded runs", async () => {
    const user = userEvent.setup();
    // Given five succeeded runs and one still running
    const ids = ["run-a", "run-b", "run-c", "run-d", "run-e"];
    const items = [
      ...ids.map((id, i) => RUNS[id] ?? job(id, i % 2 ? "binctabl" : "deeplob")),
      job("run-f", "tlob", { status: "running" }),
    ];
    openAt("/train", gateway({ "/api/jobs": { items, total: items.length, page: 1, size: 10 } }));
    const list = await screen.findByRole("list", { name: "Training runs" });

    // Then each run says which network it trained
    expect(
      within(list)
        .getAllByTestId("job-model")
        .map((m) => m.textContent),
    ).toEqual(["DeepLOB", "TLOB", "MLPLOB", "BiN-CTABL", "DeepLOB", "TLOB"]);
    // And only a succeeded run can be ticked
    expect(within(list).getAllByRole("checkbox")).toHaveLength(5);
    expect(within(list).queryByRole("checkbox", { name: "Compare run run-f" })).not.toBeInTheDocument();

    // When one run is ticked, Compare says why it cannot
    await user.click(within(list).getByRole("checkbox", { name: "Compare run run-a" }));
    await user.click(screen.getByRole("button", { name: "Compare" }));
    expect(screen.getByRole("alert")).toHaveTextContent(
      "Pick at least 2 succeeded runs to compare; 1 is picked.",
    );

    // And with five
    for (const id of ids.slice(1))
      await user.click(within(list).getByRole("checkbox", { name: `Compare run ${id}` }));
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Compare" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Compare at most 4 runs at once; 5 are picked.");
    expect(screen.queryByTestId("compare-view")).not.toBeInTheDocument();

    // When two are left ticked, Compare opens them side by side
    for (const id of ["run-c", "run-d", "run-e"])
      await user.click(within(list).getByRole("checkbox", { name: `Compare run ${id}` }));
    await user.click(screen.getByRole("button", { name: "Compare" }));
    const view = await screen.findByTestId("compare-view");
    expect(
      within(view)
        .getAllByRole("columnheader")
        .map((h) => h.textContent),
    ).toEqual(["Run", "Run run-a", "Run run-b"]);
  });

  it("puts the runs in columns and marks the best of each row", async () => {
    openAt("/train/compare?jobs=run-a,run-b,run-c");
    await waitFor(() => expect(texts("model")).toEqual(["DeepLOB", "TLOB", "MLPLOB"]));

    expect(texts("dataset")).toEqual(["btc", "eth", "btc"]);
    // Test macro F1 and accuracy: the highest is the best
    expect(texts("f1")).toEqual(["0.360", "0.410 (best)", "0.380"]);
    expect(best("f1")).toEqual([false, true, false]);
    expect(best("accuracy")).toEqual([false, true, false]);
    // The backtest: DeepLOB made no trades, so the best is among the others
    expect(texts("net-bps")).toEqual(["no trades", "+4.10 (best)", "+3.80"]);
    expect(texts("sharpe")).toEqual(["no trades", "0.41 (best)", "0.38"]);
    // Calibration: the lowest log loss is the best; a Brier row since one run has it, unmarked alone
    expect(texts("log-loss")).toEqual(["0.8400", "0.7900 (best)", "0.9500"]);
    expect(best("log-loss")).toEqual([false, true, false]);
    expect(texts("brier")).toEqual(["–", "–", "0.6100"]);
    expect(best("brier")).toEqual([false, false, false]);
    // The best baseline, for context, is never marked
    expect(cells("baseline")[0]).toHaveTextContent("0.350Boosted trees, book features");
    expect(best("baseline")).toEqual([false, false, false]);
    // Live: run-b's version scored on DEMO, run-c's with nothing scored yet, run-a's not at all
    await waitFor(() => expect(texts("live-DEMO")).toEqual(["not scored live", "0.410", "–"]));
    expect(row("live-DEMO").querySelector("th")).toHaveTextContent("Live macro F1 on DEMO, last 1,000");
    expect(best("live-DEMO")).toEqual([false, false, false]);
    // Each heading links to its run's page
    expect(screen.getByRole("link", { name: "Run run-b" })).toHaveAttribute("href", "/train?job=run-b");
    // The table scrolls within its card, not the page
    expect(screen.getByTestId("compare-scroll")).toContainElement(
      screen.getByRole("table", { name: "Run comparison" }),
    );
  });

  it("refuses a link with fewer than 2 or more than 4 runs", async () => {
    openAt("/train/compare?jobs=run-a");
    expect(
      await screen.findByText(/Pick at least 2 succeeded runs to compare; 1 is picked\./),
    ).toBeInTheDocument();
    expect(screen.queryByTestId("compare-view")).not.toBeInTheDocument();
  });

  it("says which run has no result instead of comparing it", async () => {
    openAt(
      "/train/compare?jobs=run-a,run-x",
      gateway({ "/api/jobs/run-x": job("run-x", "tlob", { status: "failed" }) }),
    );
    const heading = await screen.findByRole("columnheader", { name: /Run run-x/ });
    await waitFor(() => expect(heading).toHaveTextContent("no result to compare"));
    expect(texts("f1")).toEqual(["0.360", "–"]);
    expect(best("f1")).toEqual([false, false]);
  });
});
