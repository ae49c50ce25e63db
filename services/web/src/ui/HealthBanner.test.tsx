import { render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HealthBanner } from "./HealthBanner";

// The gateway's own /readyz answer when Redis is down (services/api/system/router.py).
const REDIS_DOWN = {
  status: "unavailable",
  checks: { database: "ok", redis: "unavailable: ConnectionError: Error 111 connecting to 127.0.0.1:6379." },
};

function answer(status: number, body: unknown) {
  vi.stubGlobal(
    "fetch",
    vi.fn(
      async () =>
        new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }),
    ),
  );
}

describe("HealthBanner", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("names the dependency that is down and what stops working", async () => {
    answer(503, REDIS_DOWN);
    render(<HealthBanner />);
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Redis is down");
    expect(alert).toHaveTextContent("live predictions, job updates and new runs are paused");
    expect(alert).not.toHaveTextContent("PostgreSQL");
  });

  it("stays out of the way while everything answers", async () => {
    answer(200, { status: "ok", checks: { database: "ok", redis: "ok" } });
    render(<HealthBanner />);
    await vi.waitFor(() => expect(fetch).toHaveBeenCalled());
    expect(screen.queryByRole("alert")).toBeNull();
  });
});
