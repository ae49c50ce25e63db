// Which symbol the Predict page opens on, and which ones its picker offers.
import { api, unwrap } from "../api/client";

/** The last resort: the live Binance feed's symbol, when the gateway knows of nothing else. */
export const DEFAULT_SYMBOL = "BTCUSDT";

export interface SymbolSources {
  /** What inference serves now (GET /api/live/symbols), by name. */
  served: string[];
  /** Symbols of the imported datasets, in dataset order (GET /api/datasets). */
  datasets: string[];
}

/** With no ?symbol= in the URL: the first symbol served, else the first dataset's, else BTCUSDT. */
export function openingSymbol({ served, datasets }: SymbolSources): string {
  return served[0] ?? datasets[0] ?? DEFAULT_SYMBOL;
}

/** The picker's list: every symbol known, sorted, with the one shown always among them. */
export function pickerSymbols({ served, datasets }: SymbolSources, shown: string | null): string[] {
  const found = new Set([DEFAULT_SYMBOL, ...served, ...datasets]);
  if (shown) found.add(shown);
  return [...found].sort();
}

const upper = (symbols: readonly string[] | null | undefined) => (symbols ?? []).map((s) => s.toUpperCase());

/** Ask the gateway; a source that fails counts as empty, so this never rejects. */
export async function fetchSymbolSources(): Promise<SymbolSources> {
  const [live, datasets] = await Promise.allSettled([
    unwrap(api.GET("/api/live/symbols")),
    unwrap(api.GET("/api/datasets")),
  ]);
  return {
    served: live.status === "fulfilled" ? upper(live.value.symbols) : [],
    datasets:
      datasets.status === "fulfilled" ? [...new Set(datasets.value.flatMap((d) => upper(d.symbols)))] : [],
  };
}
