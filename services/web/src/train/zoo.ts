// The networks a run can train (shared/ml/zoo.py): their names on the wire (TrainConfig.model,
// RunResult.arch) and how the UI titles them. The one place that maps a name to a title.
import type { components } from "../api/schema";

export type ModelName = components["schemas"]["TrainConfig"]["model"];

/** A run or result that does not say which network it trained is DeepLOB's: the only one before. */
export const DEFAULT_MODEL: ModelName = "deeplob";

export const MODEL_ZOO: Record<ModelName, { title: string; kind: string }> = {
  deeplob: { title: "DeepLOB", kind: "CNN + LSTM" },
  tlob: { title: "TLOB", kind: "dual-attention transformer" },
  mlplob: { title: "MLPLOB", kind: "MLP mixer" },
  binctabl: { title: "BiN-CTABL", kind: "bilinear, temporal attention" },
};

/** The zoo's names in the order the train form offers them. */
export const MODEL_NAMES = Object.keys(MODEL_ZOO) as ModelName[];

/** "DeepLOB" for deeplob (and for a missing name); a name the UI does not know, as it is. */
export function modelTitle(name: string | null | undefined): string {
  const key = name || DEFAULT_MODEL;
  return Object.hasOwn(MODEL_ZOO, key) ? MODEL_ZOO[key as ModelName].title : key;
}

/** "DeepLOB, TLOB, MLPLOB or BiN-CTABL": every title, for a sentence. */
export function modelTitlesInWords(): string {
  const titles = MODEL_NAMES.map((n) => MODEL_ZOO[n].title);
  return titles.length > 1 ? `${titles.slice(0, -1).join(", ")} or ${titles.at(-1)}` : (titles[0] ?? "");
}
