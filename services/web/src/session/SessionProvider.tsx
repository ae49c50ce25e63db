// Sign-in state. The token goes to the gateway once, in POST /api/session, which answers with an
// httpOnly cookie; the page never stores the token (no localStorage, no sessionStorage).
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, unwrap } from "../api/client";

export interface Session {
  /** null while the first check is in flight. */
  signedIn: boolean | null;
  /** False when the gateway has no LOB_API_TOKEN: nobody can sign in. */
  tokenConfigured: boolean;
  signIn(token: string): Promise<void>;
  signOut(): Promise<void>;
  /** Call when an action answered 401: the cookie expired or the token was rotated. */
  expired(): void;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [signedIn, setSignedIn] = useState<boolean | null>(null);
  const [tokenConfigured, setTokenConfigured] = useState(true);

  useEffect(() => {
    let live = true;
    unwrap(api.GET("/api/session"))
      .then((s) => {
        if (!live) return;
        setSignedIn(Boolean(s.signed_in));
        setTokenConfigured(s.token_configured !== false);
      })
      .catch(() => live && setSignedIn(false));
    return () => {
      live = false;
    };
  }, []);

  const signIn = useCallback(async (token: string) => {
    const s = await unwrap(api.POST("/api/session", { body: { token } }));
    setSignedIn(Boolean(s.signed_in));
  }, []);

  const signOut = useCallback(async () => {
    await unwrap(api.DELETE("/api/session"));
    setSignedIn(false);
  }, []);

  const expired = useCallback(() => setSignedIn(false), []);

  const value = useMemo(
    () => ({ signedIn, tokenConfigured, signIn, signOut, expired }),
    [signedIn, tokenConfigured, signIn, signOut, expired],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession needs a <SessionProvider>");
  return s;
}
