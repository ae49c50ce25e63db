import { useQuery, useQueryClient } from "@tanstack/react-query";
import type { Schemas } from "../api/client";
import { useLiveMessages } from "../live/LiveProvider";
import { isPromoted, isShadow, type LiveScores } from "../live/messages";
import { fetchLiveScores, SCORES_POLL_MS } from "./useLiveScores";

type ActiveModel = Schemas["ActiveModelOut"];
type Model = Schemas["ModelOut"];

export interface Challenger {
  /** The version scored as the challenger. */
  version: string;
  /** Its registry row, whose id Promote and Remove act on; null when only inference names it. */
  model: Model | null;
  /** Its live scores on the symbol; null until inference reports them. */
  scores: LiveScores | null;
  /** Whether inference says it scores this version now (else it has yet to load it). */
  loaded: boolean;
}

type Report = Awaited<ReturnType<typeof fetchLiveScores>>;

const same = (a: string, b: string) => a.toUpperCase() === b.toUpperCase();

function challengersOn(report: Report | undefined, symbol: string | null): LiveScores[] {
  if (!report || !symbol) return [];
  return report.scores.filter((s) => s.role === "challenger" && same(s.symbol, symbol));
}

/**
 * The challenger scored beside the served model on `symbol`, or null when there is none. The
 * registry's shadow (GET /api/models/active `shadow`) names it, else what inference scores
 * (`inference.shadow_version`), else the report's newest challenger on the symbol. Its figures
 * come only from GET /api/live/scores (the WebSocket carries the champion's alone), polled while
 * there is a challenger; a `shadow` or `promoted` message asks both again.
 */
export function useChallenger(symbol: string | null, active: ActiveModel | undefined): Challenger | null {
  const registry = active?.shadow ?? null;
  const scored = active?.inference?.shadow_version ?? null;
  const named = registry?.version ?? scored;
  const report = useQuery({
    queryKey: ["live-scores"],
    queryFn: fetchLiveScores,
    refetchInterval: (q) => (named || challengersOn(q.state.data, symbol).length ? SCORES_POLL_MS : false),
  });

  const queryClient = useQueryClient();
  useLiveMessages((m) => {
    if (!isShadow(m) && !isPromoted(m)) return;
    void queryClient.invalidateQueries({ queryKey: ["active-model"] });
    void queryClient.invalidateQueries({ queryKey: ["live-scores"] });
  });

  const entries = challengersOn(report.data, symbol);
  const newest = [...entries].sort((a, b) => (b.ts ?? 0) - (a.ts ?? 0))[0];
  const version = named ?? newest?.model_version ?? null;
  if (!version) return null;
  return {
    version,
    model: registry?.version === version ? registry : null,
    scores: entries.find((s) => s.model_version === version) ?? null,
    loaded: scored === version,
  };
}
