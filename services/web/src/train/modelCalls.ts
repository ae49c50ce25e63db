// The registry's actions on a model version (services/api/models/router.py), each a signed-in
// POST or DELETE, and the hook a button uses to run one: busy while it runs, the gateway's message
// (a 409's `detail`) when it fails, and a 401 tells the session it has expired.
import { useState } from "react";
import { api, ApiError, unwrap } from "../api/client";
import { useSession } from "../session/SessionProvider";

const path = (id: number) => ({ params: { path: { model_id: id } } });

/** Serve it. Promoting the challenger swaps the two: the champion becomes the challenger. */
export const promoteModel = (id: number) => unwrap(api.POST("/api/models/{model_id}/promote", path(id)));

/** Score it live beside the champion, as the challenger (it replaces any other). */
export const shadowModel = (id: number) => unwrap(api.POST("/api/models/{model_id}/shadow", path(id)));

/** Stop scoring it as the challenger (404 when it is not the challenger). */
export const unshadowModel = (id: number) => unwrap(api.DELETE("/api/models/{model_id}/shadow", path(id)));

export interface ModelCall {
  /** null while the session is being checked. */
  signedIn: boolean | null;
  /** Which call is running (its name), null when none. */
  busy: string | null;
  error: string | null;
  /** Run `call` under `name` unless one is running; `onDone` after it succeeds. */
  run(name: string, call: () => Promise<unknown>): Promise<void>;
  clearError(): void;
}

export function useModelCall(onDone: () => void): ModelCall {
  const session = useSession();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function run(name: string, call: () => Promise<unknown>) {
    if (busy) return;
    setBusy(name);
    setError(null);
    try {
      await call();
      onDone();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) session.expired();
      setError((e as Error).message);
    } finally {
      setBusy(null);
    }
  }

  return {
    signedIn: session.signedIn,
    busy,
    error,
    run,
    clearError: () => setError(null),
  };
}
