import { useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { useSession } from "./SessionProvider";

/** Token sign-in. The token is posted once and then dropped from memory; the cookie carries the session. */
export function SignInCard() {
  const session = useSession();
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!token.trim()) {
      setError("Enter the API token");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await session.signIn(token.trim());
      setToken("");
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      setError(
        status === 401 || status === 403
          ? "That token is not valid."
          : status === 429
            ? "Too many attempts. Wait a minute and try again."
            : (err as Error).message,
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card signin" aria-labelledby="signin-title">
      <div className="signin-text">
        <h2 id="signin-title">Sign in to train</h2>
        <p className="muted small">
          Starting, cancelling and promoting runs needs the gateway's API token (<code>LOB_API_TOKEN</code>).
          Anyone can watch runs.
        </p>
        {!session.tokenConfigured && (
          <p className="small" style={{ color: "var(--warn)" }}>
            This gateway has no API token configured, so nobody can sign in. Set <code>LOB_API_TOKEN</code>{" "}
            and restart it (<code>lob up</code> creates one for you).
          </p>
        )}
      </div>
      <form onSubmit={submit} noValidate aria-label="Sign in">
        <div className="field">
          <label htmlFor="api-token">API token</label>
          <input
            id="api-token"
            type="password"
            autoComplete="current-password"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "api-token-error" : undefined}
          />
        </div>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error && (
          <p className="signin-error" id="api-token-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
