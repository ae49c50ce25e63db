// The Train form's fields, defaults and bounds. Bounds mirror shared/train_config.py (TrainConfig),
// so a bad value is caught before the round trip; the gateway validates again and its 422 is shown.

export type LabelKind = "triple_barrier" | "smoothed";
export type Device = "auto" | "cpu" | "cuda";
/** TrainConfig's amp / compile: null lets the worker choose by measurement. */
export type Tristate = "auto" | "on" | "off";
/** Input scaling: per-feature z-score, or prices as bps from the mid (sizes z-scored). */
export type Norm = "zscore" | "mid_bps";
/** Early stopping and best-checkpoint criterion. */
export type Select = "val_loss" | "val_f1";
/** How training batches are built (shared/ml/segments.py). */
export type Batching = "windows" | "segments";
/** When a finished run's model is served (shared/gate.py). */
export type Promote = "if_better" | "always" | "never";

export interface TrainFormValues {
  dataset: string;
  labels: LabelKind;
  epochs: string;
  batch_size: string;
  batching: Batching;
  lr: string;
  device: Device;
  quick: boolean;
  // Advanced
  folds: string;
  patience: string;
  seed: string;
  gamma: string;
  test_fraction: string;
  max_rows: string;
  parallel_folds: boolean;
  amp: Tristate;
  compile: Tristate;
  norm: Norm;
  select: Select;
  dropout_lstm: string;
  dropout_head: string;
  weight_decay: string;
  /** Also train on mirrored books (UP and DOWN swap); needs norm "mid_bps". */
  mirror: boolean;
  noise: string;
  promote: Promote;
  h: string;
  k: string;
  span: string;
  min_return: string;
  smooth_k: string;
  alpha: string;
}

export const DEFAULT_VALUES: TrainFormValues = {
  dataset: "",
  labels: "triple_barrier",
  epochs: "20",
  batch_size: "128",
  batching: "windows",
  lr: "0.0001",
  device: "auto",
  quick: false,
  folds: "5",
  patience: "5",
  seed: "0",
  gamma: "2",
  test_fraction: "0.1",
  max_rows: "",
  parallel_folds: false,
  amp: "auto",
  compile: "auto",
  norm: "mid_bps",
  select: "val_f1",
  dropout_lstm: "0",
  dropout_head: "0",
  weight_decay: "0",
  mirror: false,
  noise: "0",
  promote: "if_better",
  h: "100",
  k: "1",
  span: "100",
  min_return: "0",
  smooth_k: "10",
  alpha: "0.00002",
};

type NumericField = {
  [K in keyof TrainFormValues]: TrainFormValues[K] extends string ? K : never;
}[keyof TrainFormValues];

interface Rule {
  label: string;
  integer: boolean;
  min: number;
  max: number;
  /** Bound is exclusive (TrainConfig's gt / lt). */
  minExclusive?: boolean;
  maxExclusive?: boolean;
  optional?: boolean;
  /** Only sent and checked for this label kind. */
  only?: LabelKind;
}

export const RULES: Partial<Record<NumericField, Rule>> = {
  epochs: { label: "Epochs", integer: true, min: 1, max: 1000 },
  batch_size: { label: "Batch size", integer: true, min: 1, max: 65536 },
  lr: { label: "Learning rate", integer: false, min: 0, max: 1, minExclusive: true },
  folds: { label: "Folds", integer: true, min: 1, max: 20 },
  patience: { label: "Patience", integer: true, min: 1, max: 1000 },
  seed: { label: "Seed", integer: true, min: 0, max: 2 ** 31 - 1 },
  gamma: { label: "Focal gamma", integer: false, min: 0, max: 10 },
  test_fraction: {
    label: "Test fraction",
    integer: false,
    min: 0,
    max: 0.5,
    minExclusive: true,
    maxExclusive: true,
  },
  dropout_lstm: { label: "LSTM dropout", integer: false, min: 0, max: 1, maxExclusive: true },
  dropout_head: { label: "Head dropout", integer: false, min: 0, max: 1, maxExclusive: true },
  weight_decay: { label: "Weight decay", integer: false, min: 0, max: 1 },
  noise: { label: "Input noise", integer: false, min: 0, max: 10 },
  max_rows: { label: "Max rows", integer: true, min: 1000, max: Number.MAX_SAFE_INTEGER, optional: true },
  h: { label: "Horizon h", integer: true, min: 1, max: 10000, only: "triple_barrier" },
  k: {
    label: "Barrier width k",
    integer: false,
    min: 0,
    max: 100,
    minExclusive: true,
    only: "triple_barrier",
  },
  span: { label: "Volatility span", integer: true, min: 2, max: 100000, only: "triple_barrier" },
  min_return: { label: "Minimum return", integer: false, min: 0, max: 1, only: "triple_barrier" },
  smooth_k: { label: "Smoothing k", integer: true, min: 1, max: 10000, only: "smoothed" },
  alpha: { label: "Threshold alpha", integer: false, min: 0, max: 1, only: "smoothed" },
};

export type FormErrors = Partial<Record<keyof TrainFormValues, string>>;

export interface JobRequest {
  dataset: string;
  config: Record<string, string | number | boolean | null>;
}

const TRISTATE: Record<Tristate, boolean | null> = { auto: null, on: true, off: false };

function checkNumber(raw: string, rule: Rule): { value?: number; error?: string } {
  const text = raw.trim();
  if (text === "") return rule.optional ? {} : { error: `${rule.label} is required` };
  const value = Number(text);
  if (!Number.isFinite(value)) return { error: `${rule.label} must be a number` };
  if (rule.integer && !Number.isInteger(value)) return { error: `${rule.label} must be a whole number` };
  const low = rule.minExclusive ? value <= rule.min : value < rule.min;
  const high = rule.maxExclusive ? value >= rule.max : value > rule.max;
  if (low || high) {
    const lo = `${rule.minExclusive ? "above" : "at least"} ${rule.min}`;
    const hi =
      rule.max === Number.MAX_SAFE_INTEGER
        ? ""
        : ` and ${rule.maxExclusive ? "below" : "at most"} ${rule.max}`;
    return { error: `${rule.label} must be ${lo}${hi}` };
  }
  return { value };
}

/** Validate the form and build the POST /api/jobs body; errors are keyed by field. */
export function buildJobRequest(v: TrainFormValues): { request?: JobRequest; errors: FormErrors } {
  const errors: FormErrors = {};
  const config: JobRequest["config"] = {
    labels: v.labels,
    device: v.device,
    quick: v.quick,
    parallel_folds: v.parallel_folds,
    amp: TRISTATE[v.amp],
    compile: TRISTATE[v.compile],
    norm: v.norm,
    select: v.select,
    batching: v.batching,
    mirror: v.mirror,
    promote: v.promote,
  };
  if (!v.dataset) errors.dataset = "Choose a dataset";
  // TrainConfig refuses it too: a z-scored raw price has no mirror.
  if (v.mirror && v.norm !== "mid_bps") errors.mirror = "Mirrored books need prices as bps from the mid";
  for (const [field, rule] of Object.entries(RULES) as [NumericField, Rule][]) {
    if (rule.only && rule.only !== v.labels) continue;
    const { value, error } = checkNumber(v[field], rule);
    if (error) errors[field] = error;
    else if (value !== undefined) config[field] = value;
  }
  if (Object.keys(errors).length) return { errors };
  return { request: { dataset: v.dataset, config }, errors };
}
