// Messages on the WebSocket. They mirror shared/events.py (Prediction, JobEvent) in the Python
// package; the gateway relays them unchanged.

export type Signal = "UP" | "NEUTRAL" | "DOWN";

export interface Probabilities {
  down: number;
  neutral: number;
  up: number;
}

/** One book level: [price, size]. */
export type Level = [number, number];

export interface Prediction {
  type: "prediction";
  status: "ok" | "warming_up";
  ts: number;
  symbol: string;
  best_bid: number;
  best_ask: number;
  mid: number;
  probs?: Probabilities | null;
  signal?: Signal | null;
  confidence?: number | null;
  model_version?: string | null;
  latency_ms: number;
  seq: number;
  warmup_have?: number | null;
  warmup_need?: number | null;
  /** Top levels, best first, when the inference service includes them. */
  book?: { asks: Level[]; bids: Level[] } | null;
}

export type JobEventType =
  "queued" | "started" | "progress" | "epoch" | "fold_done" | "succeeded" | "failed" | "cancelled";

export interface JobEvent {
  type: JobEventType;
  job_id: string;
  ts?: number;
  fold?: number | null;
  folds?: number | null;
  epoch?: number | null;
  epochs?: number | null;
  batch?: number | null;
  batches?: number | null;
  metrics?: Record<string, number> | null;
  message?: string | null;
}

export interface ModelPromoted {
  type: "promoted";
  version_id: number;
  job_id: string;
  fold: number;
  path: string;
  ts?: number;
}

export interface ErrorMessage {
  type: "error";
  message?: string;
  detail?: string;
  code?: string;
}

export type LiveMessage = Prediction | JobEvent | ModelPromoted | ErrorMessage;

const JOB_TYPES = new Set<string>([
  "queued",
  "started",
  "progress",
  "epoch",
  "fold_done",
  "succeeded",
  "failed",
  "cancelled",
]);

export function isPrediction(m: LiveMessage): m is Prediction {
  return m.type === "prediction";
}

export function isJobEvent(m: LiveMessage): m is JobEvent {
  return JOB_TYPES.has(m.type) && "job_id" in m;
}

export function isPromoted(m: LiveMessage): m is ModelPromoted {
  return m.type === "promoted";
}

export function isError(m: LiveMessage): m is ErrorMessage {
  return m.type === "error";
}

/** Parse one frame; anything that is not a typed message is dropped rather than trusted. */
export function parseMessage(raw: unknown): LiveMessage | null {
  if (typeof raw !== "string") return null;
  try {
    const value: unknown = JSON.parse(raw);
    if (value && typeof value === "object" && typeof (value as { type?: unknown }).type === "string") {
      return value as LiveMessage;
    }
  } catch {
    // A malformed frame is ignored: the next one carries the current state anyway.
  }
  return null;
}
