import { act, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LiveProvider } from "../live/LiveProvider";
import type { Prediction } from "../live/messages";
import { LiveSocket } from "../live/socket";
import { FakeSocket } from "../test/fakeSocket";
import { usePredictionStream } from "./usePredictionStream";

function Probe({ symbol }: { symbol: string }) {
  const s = usePredictionStream(symbol);
  return (
    <div>
      <span data-testid="signal">{s.latest?.signal ?? "none"}</span>
      <span data-testid="mids">{s.mids.join(",")}</span>
      <span data-testid="change">
        {s.modelChange ? `${s.modelChange.from}->${s.modelChange.to}` : "none"}
      </span>
    </div>
  );
}

const prediction = (seq: number, version: string, mid: number, symbol = "BTCUSDT"): Prediction => ({
  type: "prediction",
  status: "ok",
  ts: 1_700_000_000_000_000_000 + seq,
  symbol,
  best_bid: mid - 0.5,
  best_ask: mid + 0.5,
  mid,
  probs: { down: 0.1, neutral: 0.2, up: 0.7 },
  signal: "UP",
  confidence: 0.7,
  model_version: version,
  latency_ms: 1.2,
  seq,
});

describe("usePredictionStream", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.reset();
  });
  afterEach(() => vi.useRealTimers());

  it("subscribes to its symbol, keeps the mid history, and flags a model swap", () => {
    const live = new LiveSocket({ url: "ws://x/ws/model-test-t", createSocket: (u) => new FakeSocket(u) });
    render(
      <LiveProvider socket={live}>
        <Probe symbol="BTCUSDT" />
      </LiveProvider>,
    );
    const ws = FakeSocket.last();
    act(() => ws.open());
    expect(ws.sent).toContainEqual({ subscribe: ["BTCUSDT"] });

    act(() => {
      ws.deliver(prediction(1, "v1", 100));
      ws.deliver(prediction(1, "v1", 100)); // duplicate: drawn once
      ws.deliver(prediction(7, "v1", 50, "ETHUSDT")); // other symbol: ignored
      ws.deliver(prediction(2, "v1", 101));
    });
    expect(screen.getByTestId("signal")).toHaveTextContent("UP");
    expect(screen.getByTestId("mids")).toHaveTextContent("100,101");
    expect(screen.getByTestId("change")).toHaveTextContent("none");

    act(() => ws.deliver(prediction(3, "v2", 102)));
    expect(screen.getByTestId("change")).toHaveTextContent("v1->v2");
  });
});
