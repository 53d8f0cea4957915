"""Atomic output files: a reader (or a rerun after a crash) never sees a half-written file.

Every writer of the workflow writes to a temporary file beside the target (same folder, so the
rename cannot cross file systems; same suffix, so format-by-extension writers still work) and
renames it over the target with ``os.replace``, which is atomic on POSIX. On an error the
temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it to ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp{os.getpid()}{target.suffix}")
    try:
        write(str(tmp))
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomic ``Path(path).write_text(text)``."""
    atomic_write(path, lambda p: Path(p).write_text(text))
