// The Train form's fields, defaults and bounds. The defaults and bounds are TrainConfig's
// (shared/train_config.py), read from its schema as generated into src/api/trainConfig.ts, so a
// bad value is caught before the round trip; the gateway validates again and its 422 is shown.
import type { components } from "../api/schema";
import { TrainConfigSchema } from "../api/trainConfig";

type TrainConfig = components["schemas"]["TrainConfig"];

/** The network (shared/ml/zoo.py). */
export type Model = TrainConfig["model"];
export type LabelKind = TrainConfig["labels"];
export type Device = TrainConfig["device"];
/** TrainConfig's amp / compile: null lets the worker choose by measurement. */
export type Tristate = "auto" | "on" | "off";
/** Input scaling: per-feature z-score, or prices as bps from the mid (sizes z-scored). */
export type Norm = TrainConfig["norm"];
/** Early stopping and best-checkpoint criterion. */
export type Select = TrainConfig["select"];
/** How training batches are built (shared/ml/segments.py). */
export type Batching = TrainConfig["batching"];
/** When a finished run's model is served (shared/gate.py). */
export type Promote = TrainConfig["promote"];

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
  model: Model;
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

/** A TrainConfig field's schema: a bounded number, perhaps nullable (anyOf with null). */
interface FieldSchema {
  type?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  anyOf?: readonly FieldSchema[];
}

const FIELDS: Record<keyof typeof TrainConfigSchema.properties, FieldSchema> = TrainConfigSchema.properties;
/** TrainConfig's defaults: every field has one (the schema leaves out a null one). */
export const CONFIG_DEFAULTS = Object.fromEntries(
  Object.entries(FIELDS).map(([k, f]) => [k, f.default ?? null]),
) as Required<TrainConfig>;

/** A default as the form's text: "" for none. */
const text = (v: number | null): string => (v === null ? "" : String(v));
const tristate = (v: boolean | null): Tristate => (v === null ? "auto" : v ? "on" : "off");

export const DEFAULT_VALUES: TrainFormValues = {
  dataset: "",
  labels: CONFIG_DEFAULTS.labels,
  epochs: text(CONFIG_DEFAULTS.epochs),
  batch_size: text(CONFIG_DEFAULTS.batch_size),
  batching: CONFIG_DEFAULTS.batching,
  lr: text(CONFIG_DEFAULTS.lr),
  device: CONFIG_DEFAULTS.device,
  quick: CONFIG_DEFAULTS.quick,
  model: CONFIG_DEFAULTS.model,
  folds: text(CONFIG_DEFAULTS.folds),
  patience: text(CONFIG_DEFAULTS.patience),
  seed: text(CONFIG_DEFAULTS.seed),
  gamma: text(CONFIG_DEFAULTS.gamma),
  test_fraction: text(CONFIG_DEFAULTS.test_fraction),
  max_rows: text(CONFIG_DEFAULTS.max_rows),
  parallel_folds: CONFIG_DEFAULTS.parallel_folds,
  amp: tristate(CONFIG_DEFAULTS.amp),
  compile: tristate(CONFIG_DEFAULTS.compile),
  norm: CONFIG_DEFAULTS.norm,
  select: CONFIG_DEFAULTS.select,
  dropout_lstm: text(CONFIG_DEFAULTS.dropout_lstm),
  dropout_head: text(CONFIG_DEFAULTS.dropout_head),
  weight_decay: text(CONFIG_DEFAULTS.weight_decay),
  mirror: CONFIG_DEFAULTS.mirror,
  noise: text(CONFIG_DEFAULTS.noise),
  promote: CONFIG_DEFAULTS.promote,
  h: text(CONFIG_DEFAULTS.h),
  k: text(CONFIG_DEFAULTS.k),
  span: text(CONFIG_DEFAULTS.span),
  min_return: text(CONFIG_DEFAULTS.min_return),
  smooth_k: text(CONFIG_DEFAULTS.smooth_k),
  alpha: text(CONFIG_DEFAULTS.alpha),
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

/** What the form says about a field; its bounds come from TrainConfig. */
type Shown = Pick<Rule, "label" | "only">;

function rule(field: NumericField, shown: Shown): Rule {
  const schema = FIELDS[field as keyof typeof FIELDS];
  const nullable = schema.anyOf?.some((s) => s.type === "null") ?? false;
  const s = schema.anyOf?.find((x) => x.type !== "null") ?? schema;
  return {
    ...shown,
    integer: s.type === "integer",
    min: s.minimum ?? s.exclusiveMinimum ?? -Number.MAX_SAFE_INTEGER,
    max: s.maximum ?? s.exclusiveMaximum ?? Number.MAX_SAFE_INTEGER,
    minExclusive: s.exclusiveMinimum !== undefined,
    maxExclusive: s.exclusiveMaximum !== undefined,
    optional: nullable,
  };
}

const SHOWN: Partial<Record<NumericField, Shown>> = {
  epochs: { label: "Epochs" },
  batch_size: { label: "Batch size" },
  lr: { label: "Learning rate" },
  folds: { label: "Folds" },
  patience: { label: "Patience" },
  seed: { label: "Seed" },
  gamma: { label: "Focal gamma" },
  test_fraction: { label: "Test fraction" },
  dropout_lstm: { label: "LSTM dropout" },
  dropout_head: { label: "Head dropout" },
  weight_decay: { label: "Weight decay" },
  noise: { label: "Input noise" },
  max_rows: { label: "Max rows" },
  h: { label: "Horizon h", only: "triple_barrier" },
  k: { label: "Barrier width k", only: "triple_barrier" },
  span: { label: "Volatility span", only: "triple_barrier" },
  min_return: { label: "Minimum return", only: "triple_barrier" },
  smooth_k: { label: "Smoothing k", only: "smoothed" },
  alpha: { label: "Threshold alpha", only: "smoothed" },
};

export const RULES: Partial<Record<NumericField, Rule>> = Object.fromEntries(
  (Object.entries(SHOWN) as [NumericField, Shown][]).map(([field, shown]) => [field, rule(field, shown)]),
);

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
    model: v.model,
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
  // TrainConfig refuses it too: segments share DeepLOB's convolutions, which no other model has.
  if (v.batching === "segments" && v.model !== "deeplob") errors.batching = "Segments are for DeepLOB only";
  for (const [field, rule] of Object.entries(RULES) as [NumericField, Rule][]) {
    if (rule.only && rule.only !== v.labels) continue;
    const { value, error } = checkNumber(v[field], rule);
    if (error) errors[field] = error;
    else if (value !== undefined) config[field] = value;
  }
  if (Object.keys(errors).length) return { errors };
  return { request: { dataset: v.dataset, config }, errors };
}
