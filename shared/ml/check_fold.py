"""Does a run's fold load for serving? The check promotion and the shadow run before pointing at a
model, so a checkpoint inference would refuse (wrong architecture for its weights, bad scaler,
non-finite output) is refused there already, with the same reason.

    python -m shared.ml.check_fold RUN_DIR FOLD    # exit 0, or 1 with the reason on stderr

The gateway never imports torch, so it runs this as a child process; the CLI and the worker call
`check_fold_loads` directly.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shared.errors import BadCheckpoint
from shared.ml.checkpoint import load_serving_model


def check_fold_loads(run_dir: Path, fold: int) -> None:
    """Raise BadCheckpoint saying why the fold would be refused by inference's hot reload."""
    load_serving_model(run_dir, fold)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m shared.ml.check_fold RUN_DIR FOLD", file=sys.stderr)
        return 2
    try:
        check_fold_loads(Path(argv[0]), int(argv[1]))
    except BadCheckpoint as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
