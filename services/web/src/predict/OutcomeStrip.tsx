import type { Outcome } from "../live/messages";

/** What one scored prediction said and what came: "seq 123: predicted UP, was DOWN". */
export function outcomeLabel(o: Outcome): string {
  return `seq ${o.seq}: predicted ${o.predicted}, was ${o.realised}`;
}

/** The last scored predictions, oldest first, one cell each: right (predicted = realised) or wrong. */
export function OutcomeStrip({ recent }: { recent: Outcome[] }) {
  const right = recent.filter((o) => o.predicted === o.realised).length;
  const summary = recent.length
    ? `Last ${recent.length} scored predictions, oldest first: ${right} right, ${recent.length - right} wrong.`
    : "No prediction scored yet.";
  return (
    <div className="outcomes" data-testid="live-strip">
      <div className="outcomes-head">
        <span className="k">Last {recent.length || 50} scored</span>
        {recent.length > 0 && (
          <span className="num small" aria-hidden="true">
            {right} / {recent.length} right
          </span>
        )}
      </div>
      <p className="visually-hidden" data-testid="live-strip-summary">
        {summary}
      </p>
      {recent.length > 0 ? (
        <ol className="outcome-strip" aria-label="Scored predictions, oldest first">
          {recent.map((o) => {
            const label = outcomeLabel(o);
            return (
              <li
                key={o.seq}
                className={`outcome ${o.predicted === o.realised ? "outcome-right" : "outcome-wrong"}`}
                title={label}
                aria-label={label}
              />
            );
          })}
        </ol>
      ) : (
        <p className="muted small" aria-hidden="true">
          {summary}
        </p>
      )}
    </div>
  );
}
