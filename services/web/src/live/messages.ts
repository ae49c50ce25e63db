// Messages on the WebSocket. Their types are generated (src/api/schema.d.ts) from the models in
// shared/events.py, which the gateway adds to its OpenAPI document; the gateway relays them
// unchanged, save what the relay itself says (errors) and a promotion's server-side `path`.
import type { components } from "../api/schema";

type Wire = components["schemas"];

export type Prediction = Wire["Prediction"];
export type Probabilities = Wire["Probabilities"];
export type Signal = NonNullable<Prediction["signal"]>;
/** One book level: [price, size]. */
export type Level = Wire["Book"]["asks"][number];

/** The engine's own account of a run; where the run stands is the job's `progress` (REST). */
export type JobEvent = Wire["JobEvent"];
export type JobEventType = JobEvent["type"];

/** The relay drops `path` (a directory on the server) before a promotion reaches a browser. */
export type ModelPromoted = Omit<Wire["ModelPromoted"], "path">;

/** The relay's answer to a message it cannot use. `detail`: no gateway sends it; socket.ts reads it. */
export type ErrorMessage = Wire["ErrorMessage"] & { detail?: string };

/** How the served model is doing on a symbol, live; on the symbol's channel, at most 1/s. */
export type LiveScores = Wire["LiveScores"];
export type ScoreFigures = Wire["ScoreFigures"];
export type LiveBacktest = Wire["LiveBacktest"];
/** One scored prediction: what it said and what the market then did. */
export type Outcome = Wire["Outcome"];
/** Drift flagged (degraded) or cleared for a model version on a symbol; relayed to every client. */
export type ModelDegraded = Wire["ModelDegraded"];
/** The challenger set (`model`) or removed (`model` null); relayed to every client. */
export type ModelShadow = Wire["ModelShadow"];

export type LiveMessage =
  Prediction | LiveScores | JobEvent | ModelPromoted | ModelShadow | ModelDegraded | ErrorMessage;

// Every JobEvent type, and only those: the compiler holds this to the generated union.
const JOB_TYPES: Record<JobEventType, true> = {
  queued: true,
  started: true,
  progress: true,
  epoch: true,
  fold_done: true,
  succeeded: true,
  failed: true,
  cancelled: true,
};

export function isPrediction(m: LiveMessage): m is Prediction {
  return m.type === "prediction";
}

export function isJobEvent(m: LiveMessage): m is JobEvent {
  return Object.hasOwn(JOB_TYPES, m.type) && "job_id" in m;
}

export function isPromoted(m: LiveMessage): m is ModelPromoted {
  return m.type === "promoted";
}

export function isScores(m: LiveMessage): m is LiveScores {
  return m.type === "scores";
}

export function isShadow(m: LiveMessage): m is ModelShadow {
  return m.type === "shadow";
}

export function isDegraded(m: LiveMessage): m is ModelDegraded {
  return m.type === "model_degraded";
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
