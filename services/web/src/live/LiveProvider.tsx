import {
  createContext,
  useContext,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import type { LiveMessage } from "./messages";
import { LiveSocket, liveUrl, type ConnectionState } from "./socket";

const LiveContext = createContext<LiveSocket | null>(null);

/** Owns the tab's one WebSocket; pages subscribe to symbols and jobs through the hooks below. */
export function LiveProvider({ children, socket }: { children: ReactNode; socket?: LiveSocket }) {
  const [live] = useState(() => socket ?? new LiveSocket({ url: liveUrl() }));
  useEffect(() => {
    live.start();
    const online = () => live.retryNow();
    window.addEventListener("online", online);
    return () => {
      window.removeEventListener("online", online);
      live.stop();
    };
  }, [live]);
  return <LiveContext.Provider value={live}>{children}</LiveContext.Provider>;
}

export function useLiveSocket(): LiveSocket {
  const live = useContext(LiveContext);
  if (!live) throw new Error("useLiveSocket needs a <LiveProvider>");
  return live;
}

export function useConnection(): ConnectionState {
  const live = useLiveSocket();
  return useSyncExternalStore(
    (cb) => live.onState(cb),
    () => live.state,
  );
}

/** Call `handler` for every message while mounted (the latest handler; no resubscribe churn). */
export function useLiveMessages(handler: (m: LiveMessage) => void): void {
  const live = useLiveSocket();
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => live.onMessage((m) => ref.current(m)), [live]);
}

export function useSymbolSubscription(symbol: string | null): void {
  const live = useLiveSocket();
  useEffect(() => (symbol ? live.subscribeSymbol(symbol) : undefined), [live, symbol]);
}

export function useJobSubscription(jobId: string | null): void {
  const live = useLiveSocket();
  useEffect(() => (jobId ? live.subscribeJob(jobId) : undefined), [live, jobId]);
}
