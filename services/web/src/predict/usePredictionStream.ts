import { useEffect, useMemo, useRef, useState } from "react";
import { useLiveMessages, useSymbolSubscription } from "../live/LiveProvider";
import { isPrediction, isPromoted, type Prediction, type Signal } from "../live/messages";

/** Points kept for the sparkline: about 30 s at 10 snapshots/s. */
export const SPARK_POINTS = 300;

export interface ModelChange {
  from: string;
  to: string;
  at: number;
}

/** One snapshot on the mid chart: its mid and the signal predicted there (null: warming up). */
export interface MidPoint {
  mid: number;
  signal: Signal | null;
}

export interface PredictionStream {
  latest: Prediction | null;
  /** The last SPARK_POINTS snapshots, oldest first. */
  points: MidPoint[];
  mids: number[];
  /** Set when the serving model's version changed while the page was open (hot reload). */
  modelChange: ModelChange | null;
  dismissModelChange: () => void;
  /** Bumped on every `promoted` message, so the page can refetch the active model. */
  promotions: number;
  received: number;
}

/**
 * Track the live predictions for one symbol: the latest, a mid history, and version changes.
 * With no symbol (not chosen yet) it subscribes to nothing but still counts promotions.
 */
export function usePredictionStream(symbol: string | null): PredictionStream {
  useSymbolSubscription(symbol);
  const [latest, setLatest] = useState<Prediction | null>(null);
  const [points, setPoints] = useState<MidPoint[]>([]);
  const mids = useMemo(() => points.map((p) => p.mid), [points]);
  const [modelChange, setModelChange] = useState<ModelChange | null>(null);
  const [promotions, setPromotions] = useState(0);
  const [received, setReceived] = useState(0);
  const lastVersion = useRef<string | null>(null);
  const lastSeq = useRef<number>(-1);

  useEffect(() => {
    setLatest(null);
    setPoints([]);
    setReceived(0);
    lastSeq.current = -1;
  }, [symbol]);

  useLiveMessages((m) => {
    if (isPromoted(m)) {
      setPromotions((n) => n + 1);
      return;
    }
    if (!isPrediction(m) || !symbol || m.symbol.toUpperCase() !== symbol.toUpperCase()) return;
    // Two subscriptions racing across a reconnect can deliver one message twice.
    if (m.seq === lastSeq.current) return;
    lastSeq.current = m.seq;
    setLatest(m);
    setReceived((n) => n + 1);
    if (Number.isFinite(m.mid)) {
      const point = { mid: m.mid, signal: m.status === "ok" ? (m.signal ?? null) : null };
      setPoints((prev) => [...prev.slice(-(SPARK_POINTS - 1)), point]);
    }
    const version = m.model_version ?? null;
    if (version && lastVersion.current && version !== lastVersion.current) {
      setModelChange({ from: lastVersion.current, to: version, at: Date.now() });
    }
    if (version) lastVersion.current = version;
  });

  return {
    latest,
    points,
    mids,
    modelChange,
    dismissModelChange: () => setModelChange(null),
    promotions,
    received,
  };
}
