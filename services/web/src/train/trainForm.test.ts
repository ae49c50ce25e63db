import { describe, expect, it } from "vitest";
import { DEFAULT_VALUES, buildJobRequest } from "./trainForm";

describe("buildJobRequest", () => {
  it("builds a job body with numbers, only for the chosen label kind", () => {
    const { request, errors } = buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc", quick: true });
    expect(errors).toEqual({});
    expect(request?.dataset).toBe("btc");
    expect(request?.config).toMatchObject({
      labels: "triple_barrier",
      epochs: 20,
      lr: 0.0001,
      quick: true,
      h: 100,
    });
    expect(request?.config).not.toHaveProperty("smooth_k");
    expect(request?.config).toMatchObject({ amp: null, compile: null }); // the worker decides
    expect(request?.config).not.toHaveProperty("max_rows"); // blank optional field is left to the server default
  });

  it("names every field that is out of the TrainConfig bounds", () => {
    const { request, errors } = buildJobRequest({
      ...DEFAULT_VALUES,
      dataset: "",
      epochs: "0",
      batch_size: "12.5",
      lr: "0",
      test_fraction: "0.5",
      max_rows: "10",
      labels: "smoothed",
      alpha: "abc",
    });
    expect(request).toBeUndefined();
    expect(errors).toEqual({
      dataset: "Choose a dataset",
      epochs: "Epochs must be at least 1 and at most 1000",
      batch_size: "Batch size must be a whole number",
      lr: "Learning rate must be above 0 and at most 1",
      test_fraction: "Test fraction must be above 0 and below 0.5",
      max_rows: "Max rows must be at least 1000",
      alpha: "Threshold alpha must be a number",
    });
  });
});
