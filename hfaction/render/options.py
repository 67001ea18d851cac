"""The options of one render: the one schema the CLI, the Lambda handler and the action share.

Kept free of heavy imports (no Playwright): the CLI declares its options from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RenderOptions:
    entry: str = "index.html"
    fps: str | None = None
    width: int | None = None
    height: int | None = None
    quality: str = "standard"
    crf: int | None = None
    chunk_size: int | None = None
    parallelism: int = 1  # how many chunks will run at once, for the automatic chunk size
    variables: dict[str, str] = field(default_factory=dict)
    browser: str | None = None
    asset_cache: Path | None = None
    ready_timeout: float = 30.0
    seed: int = 0
    strict_fonts: bool = False  # a machine font named first is an error, not a warning
