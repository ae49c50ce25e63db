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

  it("sends the model-quality settings with TrainConfig's defaults", () => {
    const { request } = buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc" });
    expect(request?.config).toMatchObject({
      norm: "mid_bps",
      select: "val_f1",
      batching: "windows",
      dropout_lstm: 0,
      dropout_head: 0,
      weight_decay: 0,
      mirror: false,
      noise: 0,
      promote: "if_better",
    });
  });

  it("sends the batching chosen", () => {
    const { request } = buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc", batching: "segments" });
    expect(request?.config).toMatchObject({ batching: "segments" });
  });

  it("sends the model chosen, DeepLOB by default", () => {
    expect(buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc" }).request?.config.model).toBe("deeplob");
    const { request } = buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc", model: "tlob" });
    expect(request?.config).toMatchObject({ model: "tlob", batching: "windows" });
  });

  it("refuses segments for a model other than DeepLOB", () => {
    const bad = buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc", model: "mlplob", batching: "segments" });
    expect(bad.request).toBeUndefined();
    expect(bad.errors).toEqual({ batching: "Segments are for DeepLOB only" });
  });

  it("sends mirror and noise", () => {
    const { request, errors } = buildJobRequest({
      ...DEFAULT_VALUES,
      dataset: "btc",
      mirror: true,
      noise: "0.05",
    });
    expect(errors).toEqual({});
    expect(request?.config).toMatchObject({ norm: "mid_bps", mirror: true, noise: 0.05 });
  });

  it("refuses mirrored books with z-scored prices", () => {
    const bad = buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc", mirror: true, norm: "zscore" });
    expect(bad.request).toBeUndefined();
    expect(bad.errors).toEqual({ mirror: "Mirrored books need prices as bps from the mid" });
    // Without mirror, z-score is fine.
    const ok = buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc", norm: "zscore" });
    expect(ok.errors).toEqual({});
    expect(ok.request?.config).toMatchObject({ norm: "zscore", mirror: false });
  });

  it("holds input noise within [0, 10]", () => {
    for (const noise of ["-0.1", "10.5"]) {
      const { request, errors } = buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc", noise });
      expect(request).toBeUndefined();
      expect(errors).toEqual({ noise: "Input noise must be at least 0 and at most 10" });
    }
    expect(buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc", noise: "" }).errors).toEqual({
      noise: "Input noise is required",
    });
    expect(buildJobRequest({ ...DEFAULT_VALUES, dataset: "btc", noise: "10" }).request?.config.noise).toBe(
      10,
    );
  });

  it("holds dropout below 1 and weight decay within [0, 1]", () => {
    const ok = buildJobRequest({
      ...DEFAULT_VALUES,
      dataset: "btc",
      dropout_lstm: "0.3",
      dropout_head: "0.99",
      weight_decay: "1",
      promote: "always",
      norm: "zscore",
      select: "val_loss",
    });
    expect(ok.errors).toEqual({});
    expect(ok.request?.config).toMatchObject({
      dropout_lstm: 0.3,
      dropout_head: 0.99,
      weight_decay: 1,
      promote: "always",
      norm: "zscore",
      select: "val_loss",
    });
    const bad = buildJobRequest({
      ...DEFAULT_VALUES,
      dataset: "btc",
      dropout_lstm: "1",
      dropout_head: "-0.1",
      weight_decay: "1.5",
    });
    expect(bad.request).toBeUndefined();
    expect(bad.errors).toEqual({
      dropout_lstm: "LSTM dropout must be at least 0 and below 1",
      dropout_head: "Head dropout must be at least 0 and below 1",
      weight_decay: "Weight decay must be at least 0 and at most 1",
    });
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
