// The /predict page as the component tests open it: fetch answered from a table of gateway
// responses (404 for the rest), a LiveSocket over the fake WebSocket, the app's query client and
// its session (signed out unless the table answers /api/session).
import { act } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { LiveProvider } from "../live/LiveProvider";
import type { Prediction } from "../live/messages";
import { LiveSocket } from "../live/socket";
import { PredictPage } from "../predict/PredictPage";
import { SessionProvider } from "../session/SessionProvider";
import { FakeSocket } from "./fakeSocket";
import { stubGateway } from "./gateway";
import { renderWithQuery } from "./render";

// The gateway's answers on a first `make up`: inference serves DEMO, the only dataset is "demo".
export const GATEWAY: Record<string, unknown> = {
  "/api/live/symbols": { symbols: ["DEMO"], within_s: 10 },
  "/api/datasets": [{ name: "demo", rows: 60_000, symbols: ["DEMO"] }],
  "/api/models/active": { model: null, inference: { model_version: "v1", refused: [] } },
};

export const prediction = (symbol: string, patch: Partial<Prediction> = {}): Prediction => ({
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
  ...patch,
});

/**
 * Render /predict at `url` with the socket open; returns the socket to deliver messages on.
 * `answers` is the gateway's table (stubGateway, gateway.ts).
 */
export function openPredict(url: string, answers: Record<string, unknown> = GATEWAY): FakeSocket {
  stubGateway(answers);
  const live = new LiveSocket({ url: "ws://x/ws/model-test-t", createSocket: (u) => new FakeSocket(u) });
  renderWithQuery(
    <SessionProvider>
      <LiveProvider socket={live}>
        <MemoryRouter initialEntries={[url]}>
          <PredictPage />
        </MemoryRouter>
      </LiveProvider>
    </SessionProvider>,
  );
  const ws = FakeSocket.last();
  act(() => ws.open());
  return ws;
}
