"""A render looked at before it runs: its plan, in a folder kept or thrown away."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hfaction.render.options import RenderOptions
from hfaction.render.planner import Plan, plan


def plan_summary(project: Path, options: RenderOptions, plan_dir: Path | None = None) -> Plan:
    """Plan ``project`` for its summary (``Plan.summary()``, ``Plan.warnings``).

    The plan folder is kept in ``plan_dir`` (a new folder) when given; otherwise the plan is
    made in a temporary folder, removed before this returns (the Plan, in memory, stays).
    """
    if plan_dir is not None:
        return plan(project, options, plan_dir)
    with tempfile.TemporaryDirectory(prefix="hfaction-plan-",
                                     ignore_cleanup_errors=True) as scratch:
        return plan(project, options, Path(scratch) / "plan")
