// Number and time formatting in one place, so every page prints figures the same way.

export function pct(x: number | null | undefined, digits = 1): string {
  return x == null || !Number.isFinite(x) ? "–" : `${(x * 100).toFixed(digits)}%`;
}

/**
 * Prices keep the precision they need: 2 decimals for BTC-size prices, more for small ones.
 * `scale` picks the precision from another figure, so a spread prints like the prices around it.
 */
export function price(x: number | null | undefined, scale?: number): string {
  if (x == null || !Number.isFinite(x)) return "–";
  const ref = Math.abs(scale ?? x);
  const digits = ref >= 1000 ? 2 : ref >= 1 ? 4 : 6;
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function size(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return "–";
  return x.toLocaleString("en-US", { maximumFractionDigits: 4 });
}

export function fixed(x: number | null | undefined, digits = 3): string {
  return x == null || !Number.isFinite(x) ? "–" : x.toFixed(digits);
}

/** A figure that can go either way (P&L in bps): always signed, so a loss never reads as a gain. */
export function signed(x: number | null | undefined, digits = 2): string {
  if (x == null || !Number.isFinite(x)) return "–";
  const text = Math.abs(x).toFixed(digits);
  if (Number(text) === 0) return (0).toFixed(digits);
  return `${x > 0 ? "+" : "−"}${text}`;
}

/** Snapshot times are ns since the epoch (shared/events.py Prediction.ts). */
export function timeOfNs(ns: number): string {
  return new Date(ns / 1e6).toLocaleTimeString("en-GB", { hour12: false });
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short", hour12: false });
}

/** Short, human duration between two ISO times (or until now). */
export function duration(startIso: string | null | undefined, endIso?: string | null): string {
  if (!startIso) return "–";
  const start = new Date(startIso).getTime();
  const end = endIso ? new Date(endIso).getTime() : Date.now();
  if (!Number.isFinite(start) || !Number.isFinite(end)) return "–";
  const s = Math.max(0, Math.round((end - start) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function rows(n: number | null | undefined): string {
  if (n == null) return "–";
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(n);
}

/** Model versions can be long hashes or run paths; show a stable short form. */
export function shortVersion(v: string | null | undefined): string {
  if (!v) return "–";
  return v.length > 24 ? `${v.slice(0, 10)}…${v.slice(-8)}` : v;
}
