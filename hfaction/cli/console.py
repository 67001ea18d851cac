"""Where commands print: results to stdout, progress, notes and errors to stderr."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(document: Any) -> None:
    stdout.print_json(json.dumps(document))


def warn(message: str) -> None:
    stderr.print(f"warning: {message}", markup=False)
