"""Every file the workflow reads or writes, in one place: atomic writes, CSV tables,
figures, datasets (.npz) and trained stacks (.pt).

Atomic writes: every writer writes to a temporary file beside the target (same folder, so the
rename cannot cross file systems; same suffix, so format-by-extension writers still work) and
renames it over the target with ``os.replace``, which is atomic on POSIX; a reader (or a rerun
after a crash) never sees a half-written file. On an error the temporary file is removed and
the target is left as it was.

Trained stacks are stored as plain tensors, numbers and strings and loaded with
``torch.load(weights_only=True)``: a file planted under the work dir cannot run code.

Intermediates (datasets, trained stacks, per-model metrics, ground truth, gradient traces:
everything under the work dir that a later job reads) are written with a record beside them,
``<file>.check.json``: the file's sha256, its size and (tables) its row count. Every reader
of an intermediate verifies it first (:func:`verify`) and, on a missing record or a mismatch
(a truncated, edited or half-copied file), stops naming the file and saying to delete it and
rerun, instead of computing tables from it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from synth.datasets import Datasets

if TYPE_CHECKING:  # torch and the training layer load only where stacks are read or written:
    from dgl.train.stack import TrainedStack  # a data or ground-truth job needs neither

#: Columns that hold names, never numbers (a subset "1" must stay the string "1").
TEXT_COLUMNS = ("subset", "group_a", "group_b", "snr", "setting", "encoder", "pid", "method",
                "variant", "tag", "options", "status", "device", "task", "kind", "M", "N",
                "eta_method", "eta_check", "probe_check", "prediction", "verdict", "theorem1")
#: Columns that hold true/false (read back as such even when every value is empty).
BOOL_COLUMNS = ("converged", "chosen", "info_gain", "n_better_smallest")


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


def write_csv(frame: pl.DataFrame, path: str | os.PathLike, digits: int | None = None) -> None:
    """A frame as CSV: every float to ``digits`` decimals (all of them when None). A float that
    would print as a negative zero ('-0.0000') is written unsigned."""
    if digits is not None:
        half = 0.5 * 10.0 ** -digits
        floats = [c for c, t in frame.schema.items() if t.is_float()]
        frame = frame.with_columns(
            pl.when((pl.col(c) <= 0) & (pl.col(c) > -half)).then(0.0).otherwise(pl.col(c))
            .alias(c) for c in floats)
    atomic_write(path, lambda p: frame.write_csv(p, float_precision=digits))


def read_table(path: str | os.PathLike, **kwargs) -> pl.DataFrame:
    """Read a CSV of the pipeline (or a resource), keeping name columns as strings."""
    schema = pl.read_csv(path, n_rows=0, **kwargs).columns
    frame = pl.read_csv(
        path, schema_overrides={c: pl.String for c in schema if c in TEXT_COLUMNS}, **kwargs
    )
    empty = [c for c in frame.columns  # numbers of diverged models only: all empty
             if c not in TEXT_COLUMNS and frame[c].dtype == pl.String
             and frame[c].null_count() == frame.height]
    flags = [c for c in empty if c in BOOL_COLUMNS]
    return frame.with_columns(pl.col([c for c in empty if c not in flags]).cast(pl.Float64),
                              pl.col(flags).cast(pl.Boolean))


def save_figure(fig, path: str | os.PathLike) -> None:
    """A matplotlib figure as PNG (150 dpi), then closed."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda p: fig.savefig(p, dpi=150))
    plt.close(fig)


def save_datasets(path: str | os.PathLike, datasets: Datasets) -> None:
    keys = np.asarray(datasets.keys, dtype=object)
    atomic_write(path, lambda p: np.savez(p, x=datasets.x, y=datasets.y,
                                          overlaps=keys[:, 0].astype(float),
                                          seeds=keys[:, 1].astype(np.int64)))
    record(path, int(datasets.x.shape[0] * datasets.x.shape[1]))


def load_datasets(paths: Sequence[str | os.PathLike]) -> Datasets:
    """The datasets of one or more files, in the given order."""
    parts = []
    for path in paths:
        verify(path)
        with np.load(path) as f:
            keys = tuple(zip(f["overlaps"].tolist(), f["seeds"].tolist()))
            parts.append(Datasets(f["x"], f["y"], keys))
    return parts[0] if len(parts) == 1 else Datasets.concat(parts)


def save_stacks(path: str | os.PathLike, stacks: Sequence[TrainedStack]) -> None:
    """Trained stacks as plain containers (see :meth:`TrainedStack.to_state`)."""
    import torch

    atomic_write(path, lambda p: torch.save([s.to_state() for s in stacks], p))
    record(path, len(stacks))


def load_stacks(path: str | os.PathLike) -> list[TrainedStack]:
    """The stacks of a file written by :func:`save_stacks`, loaded with weights_only=True."""
    import torch

    from dgl.train.stack import TrainedStack

    verify(path)
    return [TrainedStack.from_state(s) for s in torch.load(path, weights_only=True)]


#: The record written beside every intermediate.
CHECK_SUFFIX = ".check.json"


class IntermediateError(RuntimeError):
    """An intermediate whose contents are not what was written (or that has no record)."""


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_path(path: str | os.PathLike) -> Path:
    return Path(f"{path}{CHECK_SUFFIX}")


def record(path: str | os.PathLike, rows: int | None = None) -> None:
    """Write the record of the intermediate ``path`` (just written): sha256, bytes, rows."""
    facts = {"sha256": _sha256(path), "bytes": Path(path).stat().st_size, "rows": rows}
    write_text(_check_path(path), json.dumps(facts, indent=1) + "\n")


def verify(path: str | os.PathLike) -> None:
    """Raise :class:`IntermediateError` unless ``path`` matches the record written with it."""
    check = _check_path(path)
    rerun = f"Delete {path} and rerun snakemake (it is rebuilt from its inputs)."
    if not check.exists():
        raise IntermediateError(f"intermediate {path}: no record of what was written "
                                f"({check.name} is missing). {rerun}")
    facts = json.loads(check.read_text())
    if Path(path).stat().st_size != facts["bytes"] or _sha256(path) != facts["sha256"]:
        rows = f", {facts['rows']} rows" if facts.get("rows") is not None else ""
        raise IntermediateError(f"intermediate {path}: its contents differ from what was "
                                f"written ({facts['bytes']} bytes{rows}; now "
                                f"{Path(path).stat().st_size} bytes): truncated or edited. "
                                f"{rerun}")


def write_intermediate(frame: pl.DataFrame, path: str | os.PathLike) -> None:
    """A per-model (or ground-truth) table of the work dir, with its record."""
    write_csv(frame, path)
    record(path, frame.height)


def read_intermediate(path: str | os.PathLike, **kwargs) -> pl.DataFrame:
    """A table written by :func:`write_intermediate`, verified against its record first."""
    verify(path)
    return read_table(path, **kwargs)
