import { describe, expect, it } from "vitest";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff";

describe("backoffDelay", () => {
  it("doubles per attempt and stops at the ceiling", () => {
    const top = () => 0.999_999; // jitter at its maximum: the nominal delay
    const delays = [0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffDelay(a, DEFAULT_BACKOFF, top));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });

  it("never waits less than half the nominal delay, whatever the jitter", () => {
    for (const r of [0, 0.25, 0.5, 0.75]) {
      const d = backoffDelay(3, DEFAULT_BACKOFF, () => r);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0)).toBe(2000);
  });
});
