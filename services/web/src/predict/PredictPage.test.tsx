import { act, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeSocket } from "../test/fakeSocket";
import { GATEWAY, openPredict, prediction } from "../test/predictPage";

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
