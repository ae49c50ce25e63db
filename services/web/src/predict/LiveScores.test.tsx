import { act, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { LiveScores, ModelDegraded, Outcome } from "../live/messages";
import { FakeSocket } from "../test/fakeSocket";
import { EMPTY_CONFUSION, liveScores } from "../test/liveScores";
import { GATEWAY, openPredict, prediction } from "../test/predictPage";

const NONE = EMPTY_CONFUSION;
const scores = liveScores;

const degraded = (patch: Partial<ModelDegraded> = {}): ModelDegraded => ({
  type: "model_degraded",
  model_version: "v1",
  symbol: "DEMO",
  degraded: true,
  live_f1_macro: 0.31,
  test_f1_macro: 0.45,
  margin: 0.1,
  window: 1_000,
  resolved: 1_500,
  ...patch,
});

/** What GET /api/live/scores answers: inference's report holding `entries`. */
const report = (...entries: LiveScores[]) => ({
  ...GATEWAY,
  "/api/live/scores": { scores: entries, drift_window: 1_000, drift_margin: 0.1, updated_at: 1 },
});

async function openServing(answers: Record<string, unknown> = report()) {
  const ws = openPredict("/predict?symbol=DEMO", answers);
  await waitFor(() => expect(ws.sent).toContainEqual({ subscribe: ["DEMO"] }));
  act(() => ws.deliver(prediction("DEMO")));
  return ws;
}

const text = (id: string) => screen.getByTestId(id).textContent;

describe("PredictPage live scores", () => {
  beforeEach(() => FakeSocket.reset());
  afterEach(() => vi.unstubAllGlobals());

  it("shows the live hit rate and macro F1 beside the test-set figures, and the live backtest", async () => {
    // Given the page serving v1 on DEMO
    const ws = await openServing();

    // When a scores message for v1 on DEMO comes
    act(() => ws.deliver(scores()));

    // Then the live figures stand beside the test set's
    const card = screen.getByTestId("live-scores");
    expect(within(card).getByRole("columnheader", { name: "Last 1,000" })).toBeInTheDocument();
    expect(text("live-acc-last")).toBe("52.0%");
    expect(text("live-acc-load")).toBe("50.0%");
    expect(text("live-acc-test")).toBe("48.0%");
    expect(text("live-f1-last")).toBe("0.410");
    expect(text("live-f1-load")).toBe("0.400");
    expect(text("live-f1-test")).toBe("0.450");
    // And the backtest: closed trades, their net bps (signed) and hit rate
    expect(text("live-trades")).toBe("7");
    expect(text("live-net-bps")).toBe("+12.50 bps");
    expect(text("live-hit-rate")).toBe("57.1%");
    expect(screen.queryByTestId("live-scores-pending")).not.toBeInTheDocument();
  });

  it("falls back to GET /api/live/scores, shows no figure while nothing is scored, then takes the live message", async () => {
    // Given inference reports v1 on DEMO resolved only in the labeller's warm-up (nothing scored)
    const warm = scores({
      resolved: 40,
      last: { samples: 0, accuracy: null, f1_macro: null, confusion: NONE },
      since_load: { samples: 0, accuracy: null, f1_macro: null, confusion: NONE },
      backtest: { theta: 0.6, fee_bps: 1, horizon: 10, trades: 0, net_bps: 0, hit_rate: null, position: 0 },
    });
    const ws = await openServing(report(warm, scores({ model_version: "v0" })));

    // Then the page says so, with no live figure (not 0%), and the test figures beside
    await waitFor(() =>
      expect(screen.getByTestId("live-scores-pending")).toHaveTextContent("Not scored yet"),
    );
    expect(text("live-scores-pending")).toContain("40 predictions resolved in the labeller's warm-up");
    expect(text("live-acc-last")).toBe("–");
    expect(text("live-f1-load")).toBe("–");
    expect(screen.getByTestId("live-scores")).not.toHaveTextContent("0.0%");
    expect(text("live-acc-test")).toBe("48.0%");
    expect(text("live-net-bps")).toBe("–");

    // When the first scores message comes, it replaces what REST said
    act(() => ws.deliver(scores()));
    expect(text("live-acc-last")).toBe("52.0%");
    expect(screen.queryByTestId("live-scores-pending")).not.toBeInTheDocument();
  });

  it("before any score says how many predictions wait, and ignores other versions and symbols", async () => {
    // Given inference has scored nothing of v1 yet
    const ws = await openServing();
    await waitFor(() => expect(text("live-scores-pending")).toContain("1 prediction received here"));
    act(() => ws.deliver(prediction("DEMO", { seq: 2 })));
    expect(text("live-scores-pending")).toContain("2 predictions received here");

    // When scores come for another version, or another symbol
    act(() => {
      ws.deliver(scores({ model_version: "v0" }));
      ws.deliver(scores({ symbol: "ETHUSDT" }));
    });

    // Then none is shown as v1's on DEMO
    expect(screen.queryByTestId("live-acc-last")).not.toBeInTheDocument();
    expect(screen.getByTestId("live-scores-pending")).toBeInTheDocument();
  });

  it("draws the last scored predictions as a strip of right and wrong, each labelled", async () => {
    const ws = await openServing();
    const recent: Outcome[] = [
      { seq: 121, predicted: "UP", realised: "UP" },
      { seq: 122, predicted: "NEUTRAL", realised: "NEUTRAL" },
      { seq: 123, predicted: "UP", realised: "DOWN" },
    ];

    act(() => ws.deliver(scores({ recent })));

    const strip = screen.getByTestId("live-strip");
    const cells = within(strip).getAllByRole("listitem");
    expect(cells.map((c) => c.className)).toEqual([
      "outcome outcome-right",
      "outcome outcome-right",
      "outcome outcome-wrong",
    ]);
    expect(cells[2]).toHaveAttribute("title", "seq 123: predicted UP, was DOWN");
    expect(within(strip).getByLabelText("seq 123: predicted UP, was DOWN")).toBe(cells[2]);
    expect(text("live-strip-summary")).toBe("Last 3 scored predictions, oldest first: 2 right, 1 wrong.");
  });

  it("shows the drift banner on model_degraded for the served version and clears it on recovery", async () => {
    const ws = await openServing();
    expect(screen.queryByTestId("live-degraded")).not.toBeInTheDocument();

    // A flag for another version or symbol is not this page's
    act(() => {
      ws.deliver(degraded({ model_version: "v0" }));
      ws.deliver(degraded({ symbol: "ETHUSDT" }));
    });
    expect(screen.queryByTestId("live-degraded")).not.toBeInTheDocument();

    // When v1 is flagged on DEMO
    act(() => ws.deliver(degraded()));

    // Then the banner says by how much, as an alert
    const banner = screen.getByTestId("live-degraded");
    expect(within(banner).getByRole("alert")).toHaveTextContent(
      "Live macro F1 0.31 over the last 1,000 is more than 0.10 below its test F1 0.45.",
    );

    // And a scores message still flagged keeps it, the figures the flag came with unchanged
    act(() => ws.deliver(scores({ degraded: true })));
    expect(screen.getByTestId("live-degraded")).toHaveTextContent("Live macro F1 0.31");

    // When the model recovers, the banner goes
    act(() => ws.deliver(degraded({ degraded: false, live_f1_macro: 0.4 })));
    expect(screen.queryByTestId("live-degraded")).not.toBeInTheDocument();
  });

  it("shows the banner when the scores message itself says degraded, with REST's drift margin", async () => {
    const ws = await openServing();
    await waitFor(() => expect(screen.getByTestId("live-scores-pending")).toBeInTheDocument());

    act(() =>
      ws.deliver(
        scores({ degraded: true, last: { samples: 1_000, accuracy: 0.4, f1_macro: 0.3, confusion: NONE } }),
      ),
    );
    expect(screen.getByTestId("live-degraded")).toHaveTextContent(
      "Live macro F1 0.30 over the last 1,000 is more than 0.10 below its test F1 0.45.",
    );

    act(() => ws.deliver(scores({ degraded: false })));
    expect(screen.queryByTestId("live-degraded")).not.toBeInTheDocument();
  });

  it("marks each UP and DOWN prediction on the mid chart, NEUTRAL unmarked", async () => {
    const ws = await openServing(); // seq 1: UP at 100
    act(() => {
      ws.deliver(prediction("DEMO", { seq: 2, mid: 101, signal: "NEUTRAL" }));
      ws.deliver(prediction("DEMO", { seq: 3, mid: 99, signal: "DOWN" }));
    });

    const markers = screen.getByTestId("signal-markers");
    expect([...markers.children].map((m) => [m.className, m.textContent])).toEqual([
      ["spark-marker spark-marker-UP", "▲"],
      ["spark-marker spark-marker-DOWN", "▼"],
    ]);
    // At their mids: UP at 100 (halfway up), DOWN at 99 (the bottom of the range)
    expect(markers.children[0]).toHaveStyle({ left: "1%", top: "50%" });
    expect(screen.getByRole("img", { name: /DEMO mid price/ })).toHaveAccessibleName(
      expect.stringContaining("1 UP and 1 DOWN signals marked"),
    );
  });
});
