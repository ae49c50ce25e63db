import type { ReactNode } from "react";

type Tone = "info" | "warn" | "bad" | "ok";

const ICON: Record<Tone, string> = { info: "ℹ", warn: "!", bad: "✕", ok: "✓" };

/** An inline message. Errors are announced to screen readers (role=alert), the rest politely. */
export function Notice({
  tone,
  title,
  children,
  action,
}: {
  tone: Tone;
  title?: ReactNode;
  children?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className={`notice notice-${tone}`} role={tone === "bad" ? "alert" : "status"}>
      <span aria-hidden="true">{ICON[tone]}</span>
      <div className="notice-body">
        {title && <strong>{title}</strong>} {children}
      </div>
      {action}
    </div>
  );
}

export function EmptyState({ icon, title, children }: { icon: string; title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <div className="empty-icon" aria-hidden="true">
        {icon}
      </div>
      <h3>{title}</h3>
      {children && <p>{children}</p>}
    </div>
  );
}
