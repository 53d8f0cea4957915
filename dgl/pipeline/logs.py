"""Logging set-up for workflow scripts: progress lines go to the rule's log file and stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def configure(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send ``logging`` records to ``log_path`` (if given) and to stderr, with timestamps."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=level, format="%(asctime)s %(name)s %(message)s", handlers=handlers, force=True
    )
