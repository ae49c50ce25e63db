import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "../api/client";
import { useLiveMessages } from "../live/LiveProvider";
import { isDegraded, isPrediction, isScores, type LiveScores } from "../live/messages";

/** How often GET /api/live/scores is asked while no `scores` message has come for the pair. */
export const SCORES_POLL_MS = 5_000;

/** Where the served model stands on drift, as the newest message about it said. */
export interface Drift {
  degraded: boolean;
  liveF1: number | null;
  testF1: number | null;
  /** null when only a scores message spoke: it carries the flag, not the margin or window. */
  margin: number | null;
  window: number | null;
}

export interface LiveScoring {
  /** The served version's live scores on the symbol: the newest scores message, else REST's. */
  scores: LiveScores | null;
  from: "live" | "rest" | null;
  drift: Drift | null;
  /** Inference's drift settings (REST), for a flag that came without them. */
  driftMargin: number | null;
  driftWindow: number | null;
  /** Why REST has no figures: the gateway's error, or inference not reporting. */
  error: string | null;
  /** ok predictions of the served version on the symbol received since the page opened. */
  seen: number;
}

const pairKey = (version: string, symbol: string) => `${version}|${symbol.toUpperCase()}`;

/** Inference's report: every recent model version's live scores on every symbol, with its role. */
export function fetchLiveScores() {
  return unwrap(api.GET("/api/live/scores"));
}

/**
 * The live scores of `version` (the served model) on `symbol`: its `scores` messages on the
 * symbol's subscription (at most one a second), GET /api/live/scores until the first comes, and
 * its drift flag from `model_degraded` (relayed to every client) or the scores' own `degraded`,
 * the one received last winning. Messages about other versions or symbols are ignored.
 */
export function useLiveScores(symbol: string | null, version: string | null): LiveScoring {
  const key = symbol && version ? pairKey(version, symbol) : null;
  const [live, setLive] = useState<Record<string, LiveScores>>({});
  const [drifts, setDrifts] = useState<Record<string, Drift>>({});
  // Per pair, so a prediction counts even when it comes before the page knows the version.
  const [seen, setSeen] = useState<Record<string, number>>({});
  const heard = key ? live[key] : undefined;

  const rest = useQuery({
    queryKey: ["live-scores"],
    queryFn: fetchLiveScores,
    refetchInterval: heard ? false : SCORES_POLL_MS,
  });

  useLiveMessages((m) => {
    if (isPrediction(m)) {
      if (symbol && m.status === "ok" && m.model_version && m.symbol.toUpperCase() === symbol.toUpperCase()) {
        const k = pairKey(m.model_version, m.symbol);
        setSeen((prev) => ({ ...prev, [k]: (prev[k] ?? 0) + 1 }));
      }
      return;
    }
    if (isScores(m)) {
      const k = pairKey(m.model_version, m.symbol);
      setLive((prev) => ({ ...prev, [k]: m }));
      setDrifts((prev) =>
        prev[k]?.degraded === m.degraded
          ? prev // the same state: keep the figures the flag came with
          : {
              ...prev,
              [k]: {
                degraded: m.degraded,
                liveF1: m.last.f1_macro ?? null,
                testF1: m.test_f1_macro ?? null,
                margin: null,
                window: m.last.samples,
              },
            },
      );
      return;
    }
    if (isDegraded(m)) {
      const drift: Drift = {
        degraded: m.degraded,
        liveF1: m.live_f1_macro,
        testF1: m.test_f1_macro,
        margin: m.margin,
        window: m.window,
      };
      setDrifts((prev) => ({ ...prev, [pairKey(m.model_version, m.symbol)]: drift }));
    }
  });

  const reported =
    key && rest.data
      ? (rest.data.scores.find((s) => pairKey(s.model_version, s.symbol) === key) ?? null)
      : null;
  const scores = heard ?? reported;
  const fromRest: Drift | null = reported?.degraded
    ? {
        degraded: true,
        liveF1: reported.last.f1_macro ?? null,
        testF1: reported.test_f1_macro ?? null,
        margin: null,
        window: reported.last.samples,
      }
    : null;
  return {
    scores,
    from: heard ? "live" : reported ? "rest" : null,
    drift: (key ? drifts[key] : undefined) ?? fromRest,
    driftMargin: rest.data?.drift_margin ?? null,
    driftWindow: rest.data?.drift_window ?? null,
    error: rest.error?.message ?? rest.data?.inference_error ?? null,
    seen: (key ? seen[key] : undefined) ?? 0,
  };
}
