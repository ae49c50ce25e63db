import type { ApiError, Schemas } from "../api/client";
import { dateTime, shortVersion } from "../ui/format";
import { Notice } from "../ui/Notice";
import { shortId } from "./JobList";
import { promoteModel, shadowModel, unshadowModel, useModelCall } from "./modelCalls";

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
  const call = useModelCall(onChanged);
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

  return (
    <span className="row">
      <button
        type="button"
        className="btn btn-sm"
        onClick={() => void call.run("promote", () => promoteModel(model.id))}
        disabled={call.busy !== null || !call.signedIn}
        title={call.signedIn ? undefined : "Sign in to promote models"}
        aria-label={`${label}: model ${shortVersion(model.version)}`}
      >
        {call.busy ? "Promoting…" : label}
      </button>
      <CallError error={call.error} />
    </span>
  );
}

/**
 * The challenger's badge and Stop challenger, or Score as challenger for a version that does not
 * serve: inference then scores it live beside the champion, never sending its predictions out.
 */
export function ChallengerActions({ model, onChanged }: { model: Model; onChanged: () => void }) {
  const call = useModelCall(onChanged);
  if (model.active) return null;
  const name = `model ${shortVersion(model.version)}`;
  const signIn = call.signedIn ? undefined : "Sign in to score challengers";
  return (
    <span className="row">
      {model.shadow && (
        <span
          className="pill pill-info"
          data-testid="model-challenger"
          title="Scored live beside the serving model; its predictions are not sent to clients"
        >
          <span className="dot" aria-hidden="true" /> Challenger
        </span>
      )}
      {model.shadow ? (
        <button
          type="button"
          className="btn btn-ghost btn-sm"
          onClick={() => void call.run("stop", () => unshadowModel(model.id))}
          disabled={call.busy !== null || !call.signedIn}
          title={signIn}
          aria-label={`Stop challenger: ${name}`}
        >
          {call.busy ? "Stopping…" : "Stop challenger"}
        </button>
      ) : (
        <button
          type="button"
          className="btn btn-ghost btn-sm"
          onClick={() => void call.run("shadow", () => shadowModel(model.id))}
          disabled={call.busy !== null || !call.signedIn}
          title={signIn}
          aria-label={`Score as challenger: ${name}`}
        >
          {call.busy ? "Starting…" : "Score as challenger"}
        </button>
      )}
      <CallError error={call.error} />
    </span>
  );
}

/** Why the last action on a row failed: the gateway's message, announced. */
function CallError({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <span role="alert" className="small call-error">
      {error}
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
                <div className="model-actions">
                  <ChallengerActions model={m} onChanged={onChanged} />
                  <ModelActions model={m} models={models} onChanged={onChanged} />
                </div>
              </li>
            ))}
        </ul>
      )}
    </section>
  );
}
