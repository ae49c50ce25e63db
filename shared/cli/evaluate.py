"""`lob eval`: the whole test-set table of a finished run, model beside every baseline.

lob eval 20261201-101500-btc           # print the table (re-scores a run from an older evaluation)
lob eval 20261201-101500-btc --rescore # score it again anyway
"""

from __future__ import annotations

from typing import Annotated

import typer

from shared.errors import BadConfig, NotFound


def eval_run(
    run_id: Annotated[str, typer.Argument(help="A finished run under $LOB_HOME/runs.")],
    rescore: Annotated[
        bool, typer.Option(help="score the run again even if its result is current")
    ] = False,
) -> None:
    """Print a finished run's test-set table: per model and baseline, accuracy, macro F1, MCC,
    trades, net bps per trade after spread and fees, Sharpe per trade, and bps at zero cost;
    then calibration and the promotion gate's verdict. A run scored by an older version of the
    evaluation is re-scored first (result.json and the manifest are rewritten; the model is not).
    """
    from shared.cli.train import RUN_ID_RE
    from shared.config import get_settings
    from shared.ml.evaluation import EVAL_VERSION, needs_rescoring
    from shared.ml.finalize import format_result, rescore_run
    from shared.rundir import RunDir

    if not RUN_ID_RE.fullmatch(run_id):
        raise BadConfig(f"invalid run id {run_id!r}: letters, digits, '_', '-', '.'")
    run = RunDir(get_settings().storage.runs / run_id)
    if not run.path.is_dir():
        raise NotFound(f"unknown run {run_id!r} (no {run.path})")
    result = run.read_result()
    if rescore or needs_rescoring(result):
        why = "as asked" if rescore else f"its result predates evaluation v{EVAL_VERSION}"
        typer.echo(f"re-scoring run {run_id} ({why})", err=True)
        rescore_run(run.path, echo=lambda line: typer.echo(line, err=True))
        result = run.read_result()
    assert result is not None
    typer.echo(format_result(result))
