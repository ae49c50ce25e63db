const TONE: Record<string, string> = {
  queued: "pill-muted",
  running: "pill-info pill-live",
  succeeded: "pill-ok",
  failed: "pill-bad",
  cancelled: "pill-warn",
};

const LABEL: Record<string, string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function StatusPill({ status }: { status: string }) {
  return (
    <span className={`pill ${TONE[status] ?? "pill-muted"}`} data-status={status}>
      <span className="dot" aria-hidden="true" />
      {LABEL[status] ?? status}
    </span>
  );
}
