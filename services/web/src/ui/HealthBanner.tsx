import { useEffect, useState } from "react";
import { api } from "../api/client";

const POLL_MS = 15_000;
const NAMES: Record<string, string> = { redis: "Redis", database: "PostgreSQL" };
const EFFECT: Record<string, string> = {
  redis: "live predictions, job updates and new runs are paused",
  database: "runs and models cannot be listed or changed",
};

export type Health = { kind: "ok" } | { kind: "down"; failing: [string, string][] } | { kind: "unreachable" };

/** Ask the gateway's /readyz which dependencies answer; 503 names the ones that do not. */
export async function checkHealth(): Promise<Health> {
  try {
    const { data, error, response } = await api.GET("/readyz");
    const body = data ?? error;
    if (response.ok) return { kind: "ok" };
    const checks = (body?.checks ?? {}) as Record<string, string>;
    const failing = Object.entries(checks).filter(([, v]) => v !== "ok");
    return failing.length ? { kind: "down", failing } : { kind: "unreachable" };
  } catch {
    return { kind: "unreachable" };
  }
}

/** A banner under the top bar while Redis or PostgreSQL is down; gone when they are back. */
export function HealthBanner({ poll = POLL_MS }: { poll?: number }) {
  const [health, setHealth] = useState<Health>({ kind: "ok" });
  useEffect(() => {
    let live = true;
    const run = () => void checkHealth().then((h) => live && setHealth(h));
    run();
    const t = setInterval(run, poll);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [poll]);

  if (health.kind === "ok") return null;
  return (
    <div className="health-banner" role="alert">
      <div className="health-inner">
        {health.kind === "unreachable" ? (
          <>
            <strong>The gateway is not answering.</strong> Retrying every {Math.round(poll / 1000)} s.
          </>
        ) : (
          health.failing.map(([name, why]) => (
            <span key={name} title={why}>
              <strong>{NAMES[name] ?? name} is down:</strong> {EFFECT[name] ?? why}. It recovers by itself.
            </span>
          ))
        )}
      </div>
    </div>
  );
}
