import { useId, useState, type CSSProperties, type FormEvent, type ReactNode } from "react";
import { ApiError, type Schemas } from "../api/client";
import { rows } from "../ui/format";
import { Notice } from "../ui/Notice";
import {
  DEFAULT_VALUES,
  buildJobRequest,
  type FormErrors,
  type JobRequest,
  type TrainFormValues,
} from "./trainForm";
import { MODEL_NAMES, MODEL_ZOO, type ModelName } from "./zoo";

type Dataset = Schemas["DatasetOut"];

interface Props {
  datasets: Dataset[];
  onSubmit: (request: JobRequest) => Promise<void>;
  onCancel: () => void;
}

/** The Train form: the settings most runs change up front, the rest under Advanced. */
export function TrainForm({ datasets, onSubmit, onCancel }: Props) {
  const [values, setValues] = useState<TrainFormValues>(() => ({
    ...DEFAULT_VALUES,
    dataset: datasets.length === 1 ? datasets[0]!.name : "",
  }));
  const [errors, setErrors] = useState<FormErrors>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const set = <K extends keyof TrainFormValues>(key: K, value: TrainFormValues[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
    if (errors[key]) setErrors((e) => ({ ...e, [key]: undefined }));
    // The mirror error is about the normalisation too: changing it answers the error.
    if (key === "norm" && errors.mirror) setErrors((e) => ({ ...e, mirror: undefined }));
    // Likewise the batching error is about the model.
    if (key === "model" && errors.batching) setErrors((e) => ({ ...e, batching: undefined }));
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    const { request, errors: found } = buildJobRequest(values);
    setErrors(found);
    if (!request) {
      // Put the keyboard where the first problem is.
      const first = Object.keys(found)[0];
      if (first) document.getElementById(`tf-${first}`)?.focus();
      return;
    }
    setBusy(true);
    setServerError(null);
    try {
      await onSubmit(request);
    } catch (err) {
      setServerError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  const num = (key: keyof TrainFormValues, label: string, help?: string, step = "any") => (
    <Field id={`tf-${key}`} label={label} help={help} error={errors[key]}>
      <input
        id={`tf-${key}`}
        type="number"
        inputMode="decimal"
        step={step}
        value={values[key] as string}
        onChange={(e) => set(key, e.target.value as never)}
        aria-invalid={errors[key] ? true : undefined}
        aria-describedby={errors[key] ? `tf-${key}-error` : help ? `tf-${key}-help` : undefined}
      />
    </Field>
  );

  type Flag = "quick" | "parallel_folds" | "mirror";
  const check = (key: Flag, label: ReactNode, className = "field span-all", style?: CSSProperties) => (
    <div className={className} style={style}>
      <label className="check" htmlFor={`tf-${key}`}>
        <input
          id={`tf-${key}`}
          type="checkbox"
          checked={values[key]}
          onChange={(e) => set(key, e.target.checked)}
          aria-invalid={errors[key] ? true : undefined}
          aria-describedby={errors[key] ? `tf-${key}-error` : undefined}
        />
        <span>{label}</span>
      </label>
      {errors[key] && (
        <span className="error" id={`tf-${key}-error`}>
          {errors[key]}
        </span>
      )}
    </div>
  );

  const choice = <K extends keyof TrainFormValues>(
    key: K,
    label: string,
    options: [TrainFormValues[K] & string, string][],
    help?: string,
  ) => (
    <Field id={`tf-${key}`} label={label} help={help} error={errors[key]}>
      <select
        id={`tf-${key}`}
        value={values[key] as string}
        onChange={(e) => set(key, e.target.value as TrainFormValues[K])}
        aria-invalid={errors[key] ? true : undefined}
        aria-describedby={errors[key] ? `tf-${key}-error` : help ? `tf-${key}-help` : undefined}
      >
        {options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </Field>
  );

  const selected = datasets.find((d) => d.name === values.dataset);

  return (
    <form onSubmit={submit} noValidate aria-label="New training run" className="stack">
      <div className="form-grid">
        <Field
          id="tf-dataset"
          label="Dataset"
          error={errors.dataset}
          help={selected ? `${rows(selected.rows)} rows · ${(selected.symbols ?? []).join(", ")}` : undefined}
          className="span-2"
        >
          <select
            id="tf-dataset"
            value={values.dataset}
            onChange={(e) => set("dataset", e.target.value)}
            aria-invalid={errors.dataset ? true : undefined}
            aria-describedby={errors.dataset ? "tf-dataset-error" : "tf-dataset-help"}
          >
            <option value="">Choose a dataset…</option>
            {datasets.map((d) => (
              <option key={d.name} value={d.name}>
                {d.name} ({rows(d.rows)} rows)
              </option>
            ))}
          </select>
        </Field>
        <Field id="tf-labels" label="Labels">
          <select
            id="tf-labels"
            value={values.labels}
            onChange={(e) => set("labels", e.target.value as TrainFormValues["labels"])}
          >
            <option value="triple_barrier">Triple barrier</option>
            <option value="smoothed">Smoothed mid-price</option>
          </select>
        </Field>
        {num("epochs", "Epochs", undefined, "1")}
        {num("batch_size", "Batch size", undefined, "1")}
        {num("lr", "Learning rate")}
        <Field id="tf-device" label="Device">
          <select
            id="tf-device"
            value={values.device}
            onChange={(e) => set("device", e.target.value as TrainFormValues["device"])}
          >
            <option value="auto">Auto (GPU if the worker has one)</option>
            <option value="cpu">CPU</option>
            <option value="cuda">CUDA GPU</option>
          </select>
        </Field>
        {check(
          "quick",
          <>
            Quick run{" "}
            <span className="faint">— 5,000 rows and 1 epoch, to check the pipeline end to end</span>
          </>,
          "field span-2",
          { justifyContent: "flex-end" },
        )}
      </div>

      <details className="advanced">
        <summary>Advanced settings</summary>
        <div className="advanced-body">
          <div className="fieldset-title">Cross-validation and optimisation</div>
          <div className="form-grid">
            {choice(
              "model",
              "Network",
              MODEL_NAMES.map((n): [ModelName, string] => [
                n,
                `${MODEL_ZOO[n].title} (${MODEL_ZOO[n].kind})`,
              ]),
              "each trained the same way on the same rows; segments are DeepLOB only",
            )}
            {num("folds", "Walk-forward folds", undefined, "1")}
            {num(
              "patience",
              "Early-stop patience",
              `epochs without a better validation ${values.select === "val_f1" ? "F1" : "loss"}`,
              "1",
            )}
            {num("test_fraction", "Test fraction", "held out at the end, never trained on")}
            {num("gamma", "Focal loss gamma")}
            {num("seed", "Random seed", undefined, "1")}
            {num("max_rows", "Max rows", "blank: the whole dataset", "1")}
            <Field id="tf-amp" label="Mixed precision (bf16)">
              <select
                id="tf-amp"
                value={values.amp}
                onChange={(e) => set("amp", e.target.value as TrainFormValues["amp"])}
              >
                <option value="auto">Auto (the worker measures)</option>
                <option value="on">On</option>
                <option value="off">Off</option>
              </select>
            </Field>
            <Field id="tf-compile" label="torch.compile">
              <select
                id="tf-compile"
                value={values.compile}
                onChange={(e) => set("compile", e.target.value as TrainFormValues["compile"])}
              >
                <option value="auto">Auto (the worker measures)</option>
                <option value="on">On</option>
                <option value="off">Off</option>
              </select>
            </Field>
            {choice(
              "batching",
              "Training batches",
              [
                ["windows", "Independent windows"],
                ["segments", "Segments (shared conv work, faster)"],
              ],
              "segments share the conv work of overlapping windows: ~2.5x faster, less proven",
            )}
            {check("parallel_folds", "Train folds in parallel on separate workers")}
          </div>
          <div className="fieldset-title">Inputs, regularisation and promotion</div>
          <div className="form-grid">
            {choice("norm", "Input normalisation", [
              ["mid_bps", "Prices as bps from the mid"],
              ["zscore", "Z-score per feature"],
            ])}
            {choice("select", "Best checkpoint by", [
              ["val_loss", "Validation loss"],
              ["val_f1", "Validation macro F1"],
            ])}
            {num("dropout_lstm", "LSTM input dropout", "0 (off) up to, not including, 1")}
            {num("dropout_head", "Head dropout", "before the output layer; below 1")}
            {num("weight_decay", "Weight decay", "AdamW, 0 to 1; 0: off")}
            {num("noise", "Input noise", "std of Gaussian noise on the scaled inputs; 0: off")}
            {choice(
              "promote",
              "Promote the model",
              [
                ["if_better", "If it beats every baseline"],
                ["always", "Always"],
                ["never", "Never (keep it a candidate)"],
              ],
              "a model not promoted stays a candidate you can promote by hand",
            )}
            {check("mirror", "Also train on mirrored books (UP and DOWN swap)")}
          </div>
          <div className="fieldset-title">
            {values.labels === "triple_barrier" ? "Triple-barrier labels" : "Smoothed mid-price labels"}
          </div>
          <div className="form-grid">
            {values.labels === "triple_barrier" ? (
              <>
                {num("h", "Horizon h (rows)", undefined, "1")}
                {num("k", "Barrier width k (σ)")}
                {num("span", "Volatility span", undefined, "1")}
                {num("min_return", "Minimum return")}
              </>
            ) : (
              <>
                {num("smooth_k", "Rows averaged ahead k", undefined, "1")}
                {num("alpha", "Threshold alpha")}
              </>
            )}
          </div>
        </div>
      </details>

      {serverError && (
        <Notice tone="bad" title="The gateway refused the run.">
          {serverError}
        </Notice>
      )}

      <div className="form-actions">
        <button type="button" className="btn btn-ghost" onClick={onCancel}>
          Close
        </button>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? "Starting…" : "Start training"}
        </button>
      </div>
    </form>
  );
}

function Field({
  id,
  label,
  help,
  error,
  className,
  children,
}: {
  id: string;
  label: string;
  help?: string;
  error?: string;
  className?: string;
  children: ReactNode;
}) {
  const fallback = useId();
  const key = id || fallback;
  return (
    <div className={`field${className ? ` ${className}` : ""}`}>
      <label htmlFor={key}>{label}</label>
      {children}
      {error ? (
        <span className="error" id={`${key}-error`}>
          {error}
        </span>
      ) : help ? (
        <span className="help" id={`${key}-help`}>
          {help}
        </span>
      ) : null}
    </div>
  );
}
