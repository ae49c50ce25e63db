// Reconnect delays: exponential with "equal jitter", so a restarted gateway is not hit by every
// browser at the same instant, yet each client still waits at least half the nominal delay.

export interface BackoffPolicy {
  /** Delay before the first retry, ms. */
  baseMs: number;
  /** Ceiling for any delay, ms. */
  maxMs: number;
  /** Growth per failed attempt. */
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 15_000, factor: 2 };

/**
 * Delay before reconnect attempt number `attempt` (0 = first retry after a drop).
 * `random` returns [0, 1); injected so tests are deterministic.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const nominal = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, attempt));
  const half = nominal / 2;
  return Math.round(half + random() * half);
}
