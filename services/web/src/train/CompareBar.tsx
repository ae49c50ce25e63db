import { useState } from "react";
import { useNavigate } from "react-router";
import { COMPARE_MAX, COMPARE_MIN, compareProblem, compareUrl } from "./compare";

/**
 * Under the run list: how many runs are ticked for comparison, Compare (which opens
 * /train/compare, or says why it cannot: fewer than 2 or more than 4) and Clear.
 */
export function CompareBar({ selected, onClear }: { selected: string[]; onClear: () => void }) {
  const navigate = useNavigate();
  // The count Compare was refused at: the message stands until the selection changes.
  const [refused, setRefused] = useState<number | null>(null);
  const problem = refused === selected.length ? compareProblem(selected.length) : null;

  function compare() {
    if (compareProblem(selected.length)) setRefused(selected.length);
    else navigate(compareUrl(selected));
  }

  return (
    <div className="compare-bar" role="group" aria-label="Compare runs">
      <span className="small muted" data-testid="compare-count">
        {selected.length
          ? `${selected.length} run${selected.length === 1 ? "" : "s"} ticked to compare`
          : `Tick ${COMPARE_MIN} to ${COMPARE_MAX} succeeded runs to compare them`}
      </span>
      <span className="row">
        {selected.length > 0 && (
          <button type="button" className="btn btn-ghost btn-sm" onClick={onClear}>
            Clear
          </button>
        )}
        <button type="button" className="btn btn-sm" onClick={compare}>
          Compare
        </button>
      </span>
      {problem && (
        <p role="alert" className="small call-error compare-problem">
          {problem}
        </p>
      )}
    </div>
  );
}
