// One WebSocket per browser tab to the gateway's relay at /ws/model-test-<random>, kept alive
// across gateway restarts and network drops with backoff, re-sending subscriptions on each reconnect.
import { DEFAULT_BACKOFF, backoffDelay, type BackoffPolicy } from "./backoff";
import { parseMessage, type LiveMessage } from "./messages";

export type ConnectionStatus = "connecting" | "open" | "reconnecting" | "closed";

export interface ConnectionState {
  status: ConnectionStatus;
  /** Failed attempts since the last stable connection. */
  attempt: number;
  /** When the next attempt starts (epoch ms), while reconnecting. */
  retryAt: number | null;
  /** Last server-side error message, if any. */
  lastError: string | null;
}

type WebSocketLike = Pick<WebSocket, "send" | "close" | "readyState"> & {
  onopen: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
};

export interface LiveSocketOptions {
  url: string;
  policy?: BackoffPolicy;
  /** A connection open this long counts as healthy and resets the backoff. */
  stableMs?: number;
  createSocket?: (url: string) => WebSocketLike;
  random?: () => number;
  now?: () => number;
}

const OPEN = 1;

/** `ws(s)://<host>/ws/model-test-<random>`, as the seed's page named its session. */
export function liveUrl(loc: Pick<Location, "protocol" | "host"> = window.location): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const id = Math.random().toString(36).slice(2, 10);
  return `${scheme}//${loc.host}/ws/model-test-${id}`;
}

export class LiveSocket {
  private ws: WebSocketLike | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly symbols = new Map<string, number>();
  private readonly jobs = new Map<string, number>();
  private readonly messageListeners = new Set<(m: LiveMessage) => void>();
  private readonly stateListeners = new Set<(s: ConnectionState) => void>();
  private stopped = true;
  private _state: ConnectionState = {
    status: "closed",
    attempt: 0,
    retryAt: null,
    lastError: null,
  };

  constructor(private readonly options: LiveSocketOptions) {}

  get state(): ConnectionState {
    return this._state;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close();
    }
    this.setState({ status: "closed", retryAt: null });
  }

  /** Reconnect now instead of waiting out the backoff (the user pressed "Retry", or we came online). */
  retryNow(): void {
    if (this.stopped || this._state.status !== "reconnecting") return;
    this.clearTimers();
    this.connect();
  }

  onMessage(fn: (m: LiveMessage) => void): () => void {
    this.messageListeners.add(fn);
    return () => this.messageListeners.delete(fn);
  }

  onState(fn: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  /** Ref-counted: several components may watch the same symbol or job. Returns the release. */
  subscribeSymbol(symbol: string): () => void {
    return this.acquire(this.symbols, symbol.toUpperCase(), "subscribe", "unsubscribe");
  }

  subscribeJob(jobId: string): () => void {
    return this.acquire(this.jobs, jobId, "subscribe_jobs", "unsubscribe_jobs");
  }

  private acquire(refs: Map<string, number>, key: string, subVerb: string, unsubVerb: string): () => void {
    const count = refs.get(key) ?? 0;
    refs.set(key, count + 1);
    if (count === 0) this.send({ [subVerb]: [key] });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (refs.get(key) ?? 1) - 1;
      if (left > 0) {
        refs.set(key, left);
        return;
      }
      refs.delete(key);
      this.send({ [unsubVerb]: [key] });
    };
  }

  private send(body: Record<string, unknown>): void {
    if (this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify(body));
  }

  private connect(): void {
    this.retryTimer = null;
    this.setState({ status: this._state.attempt === 0 ? "connecting" : "reconnecting", retryAt: null });
    const create = this.options.createSocket ?? ((url: string) => new WebSocket(url));
    let ws: WebSocketLike;
    try {
      ws = create(this.options.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.setState({ status: "open", retryAt: null });
      // Subscriptions live on the connection, so a new connection gets them all again.
      if (this.symbols.size) this.send({ subscribe: [...this.symbols.keys()] });
      if (this.jobs.size) this.send({ subscribe_jobs: [...this.jobs.keys()] });
      this.stableTimer = setTimeout(() => {
        this.stableTimer = null;
        this.setState({ attempt: 0 });
      }, this.options.stableMs ?? 5_000);
    };
    ws.onmessage = (ev: MessageEvent) => {
      const msg = parseMessage(ev.data);
      if (!msg) return;
      if (msg.type === "error") {
        this.setState({ lastError: msg.message ?? msg.detail ?? "server error" });
      }
      for (const fn of this.messageListeners) fn(msg);
    };
    ws.onerror = () => {
      // onclose follows and does the bookkeeping.
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearTimers();
      if (!this.stopped) this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    const attempt = this._state.attempt;
    const delay = backoffDelay(attempt, this.options.policy ?? DEFAULT_BACKOFF, this.options.random);
    const now = (this.options.now ?? Date.now)();
    this.setState({ status: "reconnecting", attempt: attempt + 1, retryAt: now + delay });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.retryTimer = null;
    this.stableTimer = null;
  }

  private setState(patch: Partial<ConnectionState>): void {
    this._state = { ...this._state, ...patch };
    for (const fn of this.stateListeners) fn(this._state);
  }
}
