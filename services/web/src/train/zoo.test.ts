import { describe, expect, it } from "vitest";
import { TrainConfigSchema } from "../api/trainConfig";
import { CONFIG_DEFAULTS } from "./trainForm";
import { DEFAULT_MODEL, MODEL_NAMES, modelTitle, modelTitlesInWords } from "./zoo";

describe("the model zoo", () => {
  it("titles every network TrainConfig offers, and defaults as TrainConfig does", () => {
    expect(MODEL_NAMES).toEqual(TrainConfigSchema.properties.model.enum);
    expect(MODEL_NAMES.map(modelTitle)).toEqual(["DeepLOB", "TLOB", "MLPLOB", "BiN-CTABL"]);
    expect(DEFAULT_MODEL).toBe(CONFIG_DEFAULTS.model);
    expect(modelTitle(undefined)).toBe("DeepLOB");
    expect(modelTitle("")).toBe("DeepLOB");
  });

  it("names them all in a sentence", () => {
    expect(modelTitlesInWords()).toBe("DeepLOB, TLOB, MLPLOB or BiN-CTABL");
  });
});
