import { act, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Schemas } from "../api/client";
import { LiveProvider } from "../live/LiveProvider";
import type { JobEvent } from "../live/messages";
import { LiveSocket } from "../live/socket";
import { SessionProvider } from "../session/SessionProvider";
import { FakeSocket } from "../test/fakeSocket";
import { JobDetail } from "./JobDetail";
import { CONFIG_DEFAULTS } from "./trainForm";

type Job = Schemas["JobDetail"];
type Progress = Schemas["Progress"];

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

function openRun(): FakeSocket {
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      const path = new URL(request.url).pathname;
      if (path === "/api/jobs/job-7") fetches += 1;
      const body = path === "/api/session" ? { signed_in: true, token_configured: true } : row;
      return new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json" } });
    }),
  );
  const live = new LiveSocket({ url: "ws://x/ws/model-test-t", createSocket: (u) => new FakeSocket(u) });
  render(
    <SessionProvider>
      <LiveProvider socket={live}>
        <MemoryRouter>
          <JobDetail jobId="job-7" models={[]} onChanged={() => {}} />
        </MemoryRouter>
      </LiveProvider>
    </SessionProvider>,
  );
  const ws = FakeSocket.last();
  act(() => ws.open());
  return ws;
}

const event = (e: Partial<JobEvent> & Pick<JobEvent, "type">): JobEvent => ({ job_id: "job-7", ...e });

describe("JobDetail progress", () => {
  beforeEach(() => {
    FakeSocket.reset();
    fetches = 0;
  });
  afterEach(() => vi.unstubAllGlobals());

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
