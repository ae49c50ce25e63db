import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_SYMBOL, fetchSymbolSources, openingSymbol, pickerSymbols } from "./symbols";

describe("openingSymbol", () => {
  it("opens on the first symbol inference serves, before any dataset's", () => {
    expect(openingSymbol({ served: ["DEMO", "ETHUSDT"], datasets: ["AAA", "DEMO"] })).toBe("DEMO");
  });

  it("falls back to the first dataset symbol, then to BTCUSDT", () => {
    expect(openingSymbol({ served: [], datasets: ["ZZZ", "AAA"] })).toBe("ZZZ");
    expect(openingSymbol({ served: [], datasets: [] })).toBe(DEFAULT_SYMBOL);
  });
});

describe("pickerSymbols", () => {
  it("offers every known symbol once, sorted, including the one shown", () => {
    expect(pickerSymbols({ served: ["DEMO"], datasets: ["DEMO", "AAA"] }, "XRPUSDT")).toEqual([
      "AAA",
      "BTCUSDT",
      "DEMO",
      "XRPUSDT",
    ]);
    expect(pickerSymbols({ served: [], datasets: [] }, null)).toEqual(["BTCUSDT"]);
  });
});

describe("fetchSymbolSources", () => {
  afterEach(() => vi.unstubAllGlobals());

  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

  it("reads the served symbols and the datasets' symbols in dataset order", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (request: Request) =>
        new URL(request.url).pathname === "/api/live/symbols"
          ? json(200, { symbols: ["DEMO"], within_s: 10 })
          : json(200, [{ symbols: ["zzz", "DEMO"] }, { symbols: ["aaa", "ZZZ"] }]),
      ),
    );
    expect(await fetchSymbolSources()).toEqual({ served: ["DEMO"], datasets: ["ZZZ", "DEMO", "AAA"] });
  });

  it("counts a source that fails as empty, so the page still opens", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (request: Request) =>
        new URL(request.url).pathname === "/api/live/symbols"
          ? json(503, { detail: "Redis unavailable" })
          : json(200, [{ symbols: ["DEMO"] }]),
      ),
    );
    expect(await fetchSymbolSources()).toEqual({ served: [], datasets: ["DEMO"] });
  });
});
