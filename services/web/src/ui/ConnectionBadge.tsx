import { useEffect, useState } from "react";
import { useConnection, useLiveSocket } from "../live/LiveProvider";

/** Live-link state for the top bar: Live / Connecting / Reconnecting in Ns (with Retry now). */
export function ConnectionBadge() {
  const state = useConnection();
  const live = useLiveSocket();
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    if (state.status !== "reconnecting") return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [state.status]);

  if (state.status === "open") {
    return (
      <span className="pill pill-ok pill-live" role="status" aria-live="polite">
        <span className="dot" aria-hidden="true" /> Live
      </span>
    );
  }
  if (state.status === "reconnecting") {
    const secs = state.retryAt ? Math.max(0, Math.ceil((state.retryAt - now) / 1000)) : 0;
    return (
      <span className="row" role="status" aria-live="polite">
        <span className="pill pill-warn">
          <span className="dot" aria-hidden="true" />
          {secs > 0 ? `Reconnecting in ${secs}s` : "Reconnecting…"}
        </span>
        {secs > 0 && (
          <button type="button" className="btn btn-ghost btn-sm" onClick={() => live.retryNow()}>
            Retry now
          </button>
        )}
      </span>
    );
  }
  return (
    <span className="pill pill-muted" role="status" aria-live="polite">
      <span className="dot" aria-hidden="true" />
      {state.status === "connecting" ? "Connecting…" : "Offline"}
    </span>
  );
}
