"""The render core: pure functions over local folders.

``plan`` freezes a project into a plan folder, ``render_chunk`` renders one chunk of it to
an MP4 segment, ``assemble`` joins the segments (and the audio) into the output, and
``render_local`` runs all three over local worker processes. The Lambda handler and the
CLI call the same functions; only how folders travel differs.

This package imports nothing from hfaction's edges (``aws``, ``github``, ``policies``,
``cdk``, ``cli``), nor boto3, typer or rich (``tests/unit/test_layout.py``). Heavy names
(Playwright) load on first use, so ``from hfaction.render import RenderOptions`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hfaction.render.options import RenderOptions

if TYPE_CHECKING:
    from hfaction.render.assembler import assemble
    from hfaction.render.chunk import render_chunk
    from hfaction.render.local import render_local
    from hfaction.render.planner import Plan, plan

__all__ = ["Plan", "RenderOptions", "assemble", "plan", "render_chunk", "render_local"]

_LAZY = {
    "Plan": "hfaction.render.planner",
    "plan": "hfaction.render.planner",
    "render_chunk": "hfaction.render.chunk",
    "assemble": "hfaction.render.assembler",
    "render_local": "hfaction.render.local",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hfaction.render' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
