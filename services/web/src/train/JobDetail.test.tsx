import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Schemas } from "../api/client";
import { LiveProvider } from "../live/LiveProvider";
import type { JobEvent, LiveScores } from "../live/messages";
import { LiveSocket } from "../live/socket";
import { SessionProvider } from "../session/SessionProvider";
import { FakeSocket } from "../test/fakeSocket";
import { liveScores } from "../test/liveScores";
import { renderWithQuery } from "../test/render";
import { JobDetail } from "./JobDetail";
import { JobProgress } from "./JobParts";
import { CONFIG_DEFAULTS } from "./trainForm";

type Job = Schemas["JobDetail"];
type Progress = Schemas["Progress"];
type Minute = Schemas["LiveMinuteOut"];

const job = (status: Job["status"], progress: Progress): Job => ({
  id: "job-7",
  status,
  dataset: "btc",
  config: { ...CONFIG_DEFAULTS, epochs: 4, folds: 2 },
  progress,
  created_at: "2026-03-01T10:00:00Z",
  attempts: 1,
  cancel_requested: false,
  metrics: [],
  result: null,
});

// Fold 2 of 2 has 1 of its 4 epochs finished and is half-way through the second.
const MIDWAY: Progress = {
  fold: 2,
  folds: 2,
  epoch: 1,
  epochs: 4,
  batch: 5,
  batches: 10,
  fraction: 0.6875,
  label: "Fold 2 of 2 · epoch 2 of 4",
};
const AFTER_EPOCH_2: Progress = {
  ...MIDWAY,
  epoch: 2,
  batch: 0,
  fraction: 0.75,
  label: "Fold 2 of 2 · epoch 3 of 4",
};

let row: Job;
let fetches = 0;
// Inference's live report, the history per symbol, and the history queries asked.
let liveReport: { scores: LiveScores[]; drift_window: number; drift_margin: number };
let history: Record<string, Minute[]> = {};
let historyAsked: string[] = [];
// What GET /api/jobs/job-7 answers: the row, or 503 as while PostgreSQL is down.
let failing = false;
let live: LiveSocket;
let view: ReturnType<typeof renderWithQuery>;
const onChanged = vi.fn();

const answer = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const page = (jobId: string) => (
  <SessionProvider>
    <LiveProvider socket={live}>
      <MemoryRouter>
        <JobDetail jobId={jobId} models={[]} onChanged={onChanged} />
      </MemoryRouter>
    </LiveProvider>
  </SessionProvider>
);

function openRun(): FakeSocket {
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      const path = new URL(request.url).pathname;
      if (path === "/api/session") return answer({ signed_in: true, token_configured: true });
      // Another run's row never comes: the page must not fill the wait with job-7's.
      if (path === "/api/jobs/job-8") return new Promise<Response>(() => {});
      if (path === "/api/jobs/job-7") {
        fetches += 1;
        if (failing) return answer({ detail: "database unavailable" }, 503);
      }
      if (path === "/api/live/scores") return answer(liveReport);
      if (path === "/api/datasets") return answer([{ name: "btc", rows: 60_000, symbols: ["BTCUSDT"] }]);
      if (path === "/api/live/scores/history") {
        historyAsked.push(new URL(request.url).search);
        const symbol = new URL(request.url).searchParams.get("symbol");
        return answer({ model_version: "job-7/fold2", symbol, minutes: history[symbol ?? ""] ?? [] });
      }
      return answer(row);
    }),
  );
  live = new LiveSocket({ url: "ws://x/ws/model-test-t", createSocket: (u) => new FakeSocket(u) });
  view = renderWithQuery(page("job-7"));
  const ws = FakeSocket.last();
  act(() => ws.open());
  return ws;
}

const event = (e: Partial<JobEvent> & Pick<JobEvent, "type">): JobEvent => ({ job_id: "job-7", ...e });

beforeEach(() => {
  FakeSocket.reset();
  fetches = 0;
  liveReport = { scores: [], drift_window: 1_000, drift_margin: 0.1 };
  history = {};
  historyAsked = [];
  failing = false;
  onChanged.mockReset();
});
afterEach(() => vi.unstubAllGlobals());

describe("JobDetail progress", () => {
  it("shows the gateway's progress as it is: label, percentage and batch", async () => {
    // Given a run whose row says fold 2 of 2, epoch 2 of 4 under way
    row = job("running", MIDWAY);
    openRun();

    // Then the page shows the row's own figures
    await waitFor(() => expect(screen.getByTestId("job-progress")).toHaveTextContent("69%"));
    expect(screen.getByTestId("job-progress-label")).toHaveTextContent("Fold 2 of 2 · epoch 2 of 4");
    expect(screen.getByText("5 / 10")).toBeInTheDocument();
  });

  it("asks the gateway again when an epoch ends, and shows its answer", async () => {
    row = job("running", MIDWAY);
    const ws = openRun();
    await waitFor(() => expect(screen.getByTestId("job-progress")).toHaveTextContent("69%"));
    const before = fetches;

    // When the worker has written epoch 2's end to the row and its event arrives
    row = job("running", AFTER_EPOCH_2);
    act(() => ws.deliver(event({ type: "epoch", fold: 2, folds: 2, epoch: 2, epochs: 4 })));

    // Then the page fetches the job and shows the row's new position
    await waitFor(() => expect(screen.getByTestId("job-progress")).toHaveTextContent("75%"));
    expect(fetches).toBe(before + 1);
    expect(screen.getByTestId("job-progress-label")).toHaveTextContent("Fold 2 of 2 · epoch 3 of 4");
  });

  it("fetches on progress events no more often than the row changes", async () => {
    row = job("running", MIDWAY);
    const ws = openRun();
    await waitFor(() => expect(screen.getByTestId("job-progress")).toHaveTextContent("69%"));
    const before = fetches;

    // When three progress events arrive in quick succession
    act(() => {
      for (const batch of [6, 7, 8])
        ws.deliver(event({ type: "progress", fold: 2, folds: 2, epoch: 2, epochs: 4, batch, batches: 10 }));
    });

    // Then the job is fetched once
    await waitFor(() => expect(fetches).toBe(before + 1));
    expect(screen.getByTestId("job-progress")).toHaveTextContent("69%");
  });

  it("is whole once the run succeeded", async () => {
    row = job("succeeded", { ...MIDWAY, fraction: 1, label: "Complete" });
    openRun();
    await waitFor(() => expect(screen.getByTestId("job-progress")).toHaveTextContent("100%"));
    expect(screen.getByTestId("job-progress-label")).toHaveTextContent("Complete");
  });
});

describe("JobDetail data", () => {
  it("keeps the last good row on screen while a fetch fails", async () => {
    row = job("running", MIDWAY);
    const ws = openRun();
    await waitFor(() => expect(screen.getByTestId("job-progress")).toHaveTextContent("69%"));

    // When the gateway answers 503 to the fetch an epoch's event asks for
    failing = true;
    act(() => ws.deliver(event({ type: "epoch", fold: 2, folds: 2, epoch: 2, epochs: 4 })));
    await waitFor(() => expect(view.client.getQueryState(["job", "job-7"])?.status).toBe("error"));

    // Then the run it had stays, and no error replaces it
    expect(screen.getByTestId("job-progress")).toHaveTextContent("69%");
    expect(screen.queryByText("Could not load the run.")).not.toBeInTheDocument();
  });

  it("never shows one run's row under another run's id", async () => {
    row = job("running", MIDWAY);
    openRun();
    await waitFor(() => expect(screen.getByTestId("job-detail")).toBeInTheDocument());

    // When the same page is asked for job-8, whose row has not come yet
    view.rerender(page("job-8"));

    // Then it waits, showing nothing of job-7
    expect(screen.getByText("Loading run…")).toBeInTheDocument();
    expect(screen.queryByTestId("job-detail")).not.toBeInTheDocument();
  });

  it("after Cancel, fetches the run again and tells the page the lists changed", async () => {
    row = job("running", MIDWAY);
    openRun();
    const button = await screen.findByRole("button", { name: "Cancel run" });
    await waitFor(() => expect(button).toBeEnabled());
    const before = fetches;

    // When the cancel is accepted and the row says so
    row = job("cancelled", MIDWAY);
    fireEvent.click(button);

    // Then the page shows the row's new status
    await waitFor(() => expect(screen.getByTestId("job-detail")).toHaveAttribute("data-status", "cancelled"));
    expect(fetches).toBe(before + 1);
    expect(onChanged).toHaveBeenCalled();
    expect(screen.getByText("This run was cancelled.")).toBeInTheDocument();
  });
});

describe("JobProgress", () => {
  it("draws the gateway's fraction and batch position as they are", () => {
    render(<JobProgress progress={MIDWAY} status="running" />);

    expect(screen.getByRole("progressbar", { name: "Run progress" })).toHaveAttribute("aria-valuenow", "69");
    const batch = screen.getByRole("progressbar", { name: "Batch progress" });
    expect(batch).toHaveAttribute("aria-valuenow", "5");
    expect(batch).toHaveAttribute("aria-valuemax", "10");
  });

  it("leaves the batch out once the run is over", () => {
    render(<JobProgress progress={MIDWAY} status="failed" />);

    expect(screen.getByTestId("job-progress")).toHaveTextContent("69%");
    expect(screen.queryByRole("progressbar", { name: "Batch progress" })).not.toBeInTheDocument();
  });
});

const DONE: Progress = { ...MIDWAY, fraction: 1, label: "Complete" };

const minute = (at: string, f1: number, accuracy: number): Minute => ({
  minute: at,
  resolved: 60,
  correct: 30,
  accuracy: 0.5,
  confusion: [
    [10, 5, 5],
    [5, 10, 5],
    [5, 5, 10],
  ],
  window_accuracy: accuracy,
  window_f1_macro: f1,
  trades: 1,
  net_bps: 2.5,
});

const succeeded = (over: Partial<Job> = {}): Job => ({
  ...job("succeeded", DONE),
  config: { ...CONFIG_DEFAULTS, epochs: 4, folds: 2, model: "tlob" },
  result: { fold: 2, arch: "tlob", model: { accuracy: 0.5, f1_macro: 0.45 } },
  ...over,
});

describe("JobDetail live history", () => {
  it("charts the served version's windowed macro F1 and accuracy per minute against its test F1", async () => {
    // Given a succeeded run whose job-7/fold2 inference has scored on BTCUSDT for two minutes
    row = succeeded();
    history = {
      BTCUSDT: [minute("2026-03-02T10:00:00Z", 0.41, 0.5), minute("2026-03-02T10:01:00Z", 0.43, 0.52)],
    };
    openRun();

    // Then the run page draws them, with the test macro F1 as the reference
    const card = await screen.findByTestId("live-history");
    expect(
      await within(card).findByRole("figure", {
        name: "Live macro F1 and accuracy per minute on BTCUSDT, against its test macro F1 0.450",
      }),
    ).toBeInTheDocument();
    expect(within(card).getByTestId("live-history-summary")).toHaveTextContent(
      "2 minutes, 120 predictions scored; live macro F1 now 0.430 against 0.450 on the test set.",
    );
    expect(historyAsked).toContain("?model_version=job-7%2Ffold2&symbol=BTCUSDT");
  });

  it("offers each symbol the version is scored on, the live report's first", async () => {
    row = succeeded();
    liveReport.scores = [liveScores({ model_version: "job-7/fold2", symbol: "ETHUSDT" })];
    history = { BTCUSDT: [minute("2026-03-02T10:00:00Z", 0.4, 0.5)] };
    openRun();

    // The live report's symbol is shown first: no rows there yet
    const card = await screen.findByTestId("live-history");
    const tabs = await within(card).findByRole("group", { name: "Symbol shown" });
    expect(within(tabs).getByRole("button", { name: "ETHUSDT" })).toHaveAttribute("aria-pressed", "true");
    expect(await within(card).findByTestId("live-history-empty")).toHaveTextContent("No live history yet");

    // When the dataset's symbol is picked, its minute shows
    fireEvent.click(within(tabs).getByRole("button", { name: "BTCUSDT" }));
    expect(await within(card).findByRole("figure", { name: /per minute on BTCUSDT/ })).toBeInTheDocument();
  });

  it("says there is no live history yet when there are no rows", async () => {
    row = succeeded();
    openRun();
    const card = await screen.findByTestId("live-history");
    expect(await within(card).findByTestId("live-history-empty")).toHaveTextContent("No live history yet");
    expect(within(card).queryByRole("figure")).not.toBeInTheDocument();
  });

  it("is not asked for while the run has not succeeded", async () => {
    row = job("running", MIDWAY);
    openRun();
    await waitFor(() => expect(screen.getByTestId("job-progress")).toHaveTextContent("69%"));
    await act(async () => {});
    expect(screen.queryByTestId("live-history")).not.toBeInTheDocument();
    expect(historyAsked).toEqual([]);
  });

  it("names the run's network, and titles its results after it", async () => {
    row = succeeded();
    openRun();
    expect(await screen.findByTestId("run-model")).toHaveTextContent("TLOB");
    expect(await screen.findByText("TLOB (fold 2)")).toBeInTheDocument();
  });
});
