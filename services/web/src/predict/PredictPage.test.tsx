import { act, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LiveProvider } from "../live/LiveProvider";
import type { Prediction } from "../live/messages";
import { LiveSocket } from "../live/socket";
import { FakeSocket } from "../test/fakeSocket";
import { PredictPage } from "./PredictPage";

// The gateway's answers on a first `make up`: inference serves DEMO, the only dataset is "demo".
const GATEWAY: Record<string, unknown> = {
  "/api/live/symbols": { symbols: ["DEMO"], within_s: 10 },
  "/api/datasets": [{ name: "demo", rows: 60_000, symbols: ["DEMO"] }],
  "/api/models/active": { model: null, inference: { model_version: "v1", refused: [] } },
};

const prediction = (symbol: string): Prediction => ({
  type: "prediction",
  status: "ok",
  ts: 1_700_000_000_000_000_000,
  symbol,
  best_bid: 99.5,
  best_ask: 100.5,
  mid: 100,
  probs: { down: 0.1, neutral: 0.2, up: 0.7 },
  signal: "UP",
  confidence: 0.7,
  model_version: "v1",
  latency_ms: 1.2,
  seq: 1,
});

function openPredict(url: string, answers: Record<string, unknown> = GATEWAY): FakeSocket {
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      const body = answers[new URL(request.url).pathname];
      return body === undefined
        ? new Response('{"detail": "not found"}', { status: 404 })
        : new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json" } });
    }),
  );
  const live = new LiveSocket({ url: "ws://x/ws/model-test-t", createSocket: (u) => new FakeSocket(u) });
  render(
    <LiveProvider socket={live}>
      <MemoryRouter initialEntries={[url]}>
        <PredictPage />
      </MemoryRouter>
    </LiveProvider>,
  );
  const ws = FakeSocket.last();
  act(() => ws.open());
  return ws;
}

describe("PredictPage", () => {
  beforeEach(() => FakeSocket.reset());
  afterEach(() => vi.unstubAllGlobals());

  it("with no ?symbol= opens on the symbol inference serves and shows its predictions", async () => {
    // Given the page opened at /predict, no symbol in the URL
    const ws = openPredict("/predict");

    // Then it subscribes to the served symbol only, and picks it in the picker
    await waitFor(() => expect(ws.sent).toContainEqual({ subscribe: ["DEMO"] }));
    expect(ws.sent).not.toContainEqual({ subscribe: ["BTCUSDT"] });
    expect(screen.getByLabelText("Symbol")).toHaveValue("DEMO");

    // And its predictions show
    act(() => ws.deliver(prediction("DEMO")));
    expect(screen.getByTestId("signal")).toHaveTextContent("UP");
  });

  it("falls back to the first dataset symbol while inference serves nothing", async () => {
    const ws = openPredict("/predict", {
      ...GATEWAY,
      "/api/live/symbols": { symbols: [], within_s: 10 },
      "/api/datasets": [{ name: "eth", rows: 10, symbols: ["ETHUSDT"] }],
    });
    await waitFor(() => expect(ws.sent).toContainEqual({ subscribe: ["ETHUSDT"] }));
  });

  it("keeps the symbol the URL asks for", async () => {
    const ws = openPredict("/predict?symbol=xrpusdt");
    await waitFor(() => expect(screen.getByLabelText("Symbol")).toHaveValue("XRPUSDT"));
    expect(ws.sent).toContainEqual({ subscribe: ["XRPUSDT"] });
    expect(ws.sent).not.toContainEqual({ subscribe: ["DEMO"] });
  });
});
