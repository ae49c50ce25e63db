import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeSocket } from "../test/fakeSocket";
import { LiveSocket, liveUrl } from "./socket";

function makeSocket() {
  return new LiveSocket({
    url: "ws://gateway/ws/model-test-abc",
    createSocket: (url) => new FakeSocket(url),
    random: () => 0.999_999, // no jitter: delays are the nominal 500, 1000, 2000 ...
    stableMs: 5000,
  });
}

describe("LiveSocket", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.reset();
  });
  afterEach(() => vi.useRealTimers());

  it("names its session model-test-<random>, as the seed's page did", () => {
    const url = liveUrl({ protocol: "https:", host: "hub.example:8443" });
    expect(url).toMatch(/^wss:\/\/hub\.example:8443\/ws\/model-test-[a-z0-9]+$/);
  });

  it("reconnects with growing delays while the gateway stays down", () => {
    const live = makeSocket();
    live.start();
    expect(FakeSocket.instances).toHaveLength(1);

    FakeSocket.last().drop();
    expect(live.state.status).toBe("reconnecting");
    vi.advanceTimersByTime(499);
    expect(FakeSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.instances).toHaveLength(2);

    FakeSocket.last().drop();
    vi.advanceTimersByTime(999);
    expect(FakeSocket.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.instances).toHaveLength(3);
    expect(live.state.attempt).toBe(2);
    live.stop();
  });

  it("resets the backoff once a connection has stayed up", () => {
    const live = makeSocket();
    live.start();
    for (let i = 0; i < 3; i += 1) {
      FakeSocket.last().drop();
      vi.runOnlyPendingTimers();
    }
    expect(live.state.attempt).toBe(3);

    FakeSocket.last().open();
    expect(live.state.status).toBe("open");
    vi.advanceTimersByTime(5000);
    expect(live.state.attempt).toBe(0);

    FakeSocket.last().drop();
    expect(live.state.retryAt! - Date.now()).toBe(500);
    live.stop();
  });

  it("re-sends every subscription on a new connection and drops released ones", () => {
    const live = makeSocket();
    live.start();
    const releaseBtc = live.subscribeSymbol("btcusdt");
    live.subscribeJob("42");
    const first = FakeSocket.last();
    first.open();
    expect(first.sent).toEqual([{ subscribe: ["BTCUSDT"] }, { subscribe_jobs: ["42"] }]);

    first.drop();
    vi.runOnlyPendingTimers();
    releaseBtc();
    const second = FakeSocket.last();
    second.open();
    expect(second.sent).toEqual([{ subscribe_jobs: ["42"] }]);
    live.stop();
  });

  it("keeps a symbol subscribed while any component still watches it", () => {
    const live = makeSocket();
    live.start();
    FakeSocket.last().open();
    const a = live.subscribeSymbol("ETHUSDT");
    const b = live.subscribeSymbol("ETHUSDT");
    a();
    expect(FakeSocket.last().sent).toEqual([{ subscribe: ["ETHUSDT"] }]);
    b();
    expect(FakeSocket.last().sent).toEqual([{ subscribe: ["ETHUSDT"] }, { unsubscribe: ["ETHUSDT"] }]);
    live.stop();
  });

  it("stops retrying after stop()", () => {
    const live = makeSocket();
    live.start();
    FakeSocket.last().drop();
    live.stop();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(live.state.status).toBe("closed");
  });
});
