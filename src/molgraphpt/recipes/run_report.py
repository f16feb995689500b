"""Write the run report (``report.md`` + PNG plots) at the end of every run."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def write_run_report(run_dir: Path) -> Path | None:
    """Write ``run_dir/report.md`` with :func:`molgraphpt.report.write_report`.

    The run's results are already on disk when this is called, so a failure to draw the report
    does not fail the run: it is logged as a warning naming the error and the command that
    writes the report again (``molgraphpt report RUN_DIR``).

    Returns:
        The report's path, or None when it could not be written.
    """
    from molgraphpt.report import write_report

    try:
        path = write_report(run_dir)
    except Exception as err:  # noqa: BLE001 - the run itself succeeded; say so and go on
        logger.warning(
            "could not write the run report of %s (%s: %s); the results are saved. "
            "Try again with: molgraphpt report %s",
            run_dir,
            type(err).__name__,
            err,
            run_dir,
        )
        return None
    logger.info("report: %s", path)
    return path
