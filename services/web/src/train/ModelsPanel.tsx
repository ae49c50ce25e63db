import { useState } from "react";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { useSession } from "../session/SessionProvider";
import { dateTime, shortVersion } from "../ui/format";
import { Notice } from "../ui/Notice";
import { shortId } from "./JobList";

type Model = Schemas["ModelOut"];

/** A version never promoted is a candidate: the promotion gate (shared/gate.py) held it back. */
export function isCandidate(model: Model): boolean {
  return !model.active && !model.promoted_at;
}

/** Candidate or promoted, with the promotion gate's verdict when the registry recorded one. */
export function GateLine({ model }: { model: Model }) {
  const candidate = isCandidate(model);
  if (!candidate && model.gate_passed == null && !model.gate_reason) return null;
  const [tone, word] = candidate
    ? ["pill-warn", "Candidate"]
    : model.active
      ? ["pill-ok", "Promoted"]
      : ["pill-muted", "Promoted before"];
  const gate =
    model.gate_passed === true ? "gate passed" : model.gate_passed === false ? "gate failed" : null;
  return (
    <div className="gate-line small" data-testid="model-gate">
      <span className={`pill ${tone}`}>{word}</span>
      {gate && <span style={{ color: model.gate_passed ? "var(--up)" : "var(--down)" }}>{gate}</span>}
      {model.gate_reason && <span className="muted">{model.gate_reason}</span>}
    </div>
  );
}

/**
 * Serving badge, or Promote (a candidate, or newer than the serving model) / Roll back (a version
 * served before, older than the serving one).
 */
export function ModelActions({
  model,
  models,
  onChanged,
}: {
  model: Model;
  models: Model[];
  onChanged: () => void;
}) {
  const session = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (model.active) {
    return (
      <span className="pill pill-ok" data-testid="model-serving">
        <span className="dot" aria-hidden="true" /> Serving
      </span>
    );
  }
  const serving = models.find((m) => m.active);
  const older = serving && !isCandidate(model) ? model.id < serving.id : false;
  const label = older ? "Roll back to this" : "Promote";

  async function promote() {
    setBusy(true);
    setError(null);
    try {
      await unwrap(api.POST("/api/models/{model_id}/promote", { params: { path: { model_id: model.id } } }));
      onChanged();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) session.expired();
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <span className="row">
      <button
        type="button"
        className="btn btn-sm"
        onClick={promote}
        disabled={busy || !session.signedIn}
        title={session.signedIn ? undefined : "Sign in to promote models"}
        aria-label={`${label}: model ${shortVersion(model.version)}`}
      >
        {busy ? "Promoting…" : label}
      </button>
      {error && (
        <span role="alert" className="small" style={{ color: "var(--down)" }}>
          {error}
        </span>
      )}
    </span>
  );
}

/** Every registered model version, newest first, with the serving one marked. */
export function ModelsPanel({
  models,
  error,
  onChanged,
}: {
  models: Model[];
  error: ApiError | null;
  onChanged: () => void;
}) {
  return (
    <section className="card" aria-labelledby="models-title">
      <div className="card-head">
        <h2 id="models-title">Model versions</h2>
        <span className="hint">{models.length ? `${models.length} registered` : ""}</span>
      </div>
      {error && !models.length ? (
        <Notice tone="bad">{error.message}</Notice>
      ) : models.length === 0 ? (
        <p className="muted small">
          No model yet. A run that succeeds registers its fold-5 model, and promotes it if it beats every
          baseline (or always, or never, as the run was set to).
        </p>
      ) : (
        <ul className="models">
          {[...models]
            .sort((a, b) => b.id - a.id)
            .map((m) => (
              <li className="model-row" key={m.id}>
                <div style={{ flex: 1, minWidth: 0 }}>
                  <div className="model-name" title={m.version}>
                    v{m.id} · {shortVersion(m.version)}
                  </div>
                  <div className="faint small">
                    run {shortId(m.job_id)} · {dateTime(m.created_at)}
                  </div>
                  <GateLine model={m} />
                </div>
                <ModelActions model={m} models={models} onChanged={onChanged} />
              </li>
            ))}
        </ul>
      )}
    </section>
  );
}
