"""What every study shares: its data files, the names of its files, per-model metric frames
and the counts of trained and diverged models.

Overlap travels one way in every study: a config list of floats -> the ``overlap`` of typed
records (datasets, cells, model specs, metric rows); files are named from it by
:func:`overlap_name` and found again by name, never parsed back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from dgl.train.models import ModelConfig
from dgl.train.trainer import TrainConfig, never_improved, reached_cap
from synth.datasets import Splits


def overlap_name(rho: float) -> str:
    """The overlap as file names write it: 0.8 -> 'rho0.8', 1.0 -> 'rho1'."""
    return f"rho{float(rho):g}"


@dataclass(frozen=True)
class Cell:
    """One training job of a study: its name (the file names of its runs and metrics) and the
    names of the data files it reads. Each study's cells add their coordinates and their
    ``train`` and ``evaluate``."""

    name: str
    datasets: tuple[str, ...]


def check_rows(frame: pl.DataFrame, expected: int, what: str) -> pl.DataFrame:
    """``frame`` itself, if it has the ``expected`` number of per-model rows of the grid;
    otherwise a ValueError naming ``what`` (a table built from a partial or doubled set of
    models would be silently wrong)."""
    if frame.height != expected:
        raise ValueError(f"{what}: {frame.height} per-model rows where the config's grid makes "
                         f"{expected}. Delete the study's metrics under the work dir and rerun.")
    return frame


def fraction_counts(n_max: int, val_fraction: float, fraction: float) -> tuple[int, int]:
    """The rows a fraction of n_max training rows keeps, and how many of them validate:
    n = max(2, round(f n_max)), n_val = max(1, round(val_fraction n)) (no allocation: the
    config checks count rows with it before any job)."""
    n = max(2, int(round(fraction * n_max)))
    return n, max(1, int(round(val_fraction * n)))


def fraction_rows(splits: Splits, fraction: float) -> tuple[np.ndarray, Splits]:
    """The rows a fraction trains on (the first round(f n_max), n_max = splits.n_train,
    nested; a share val_fraction of them, at least one, for validation) followed by the
    splits.n_test fresh evaluation rows, and their split."""
    n_max, n_eval = splits.n_train, splits.n_test
    n, n_val = fraction_counts(n_max, splits.val_fraction, fraction)
    return np.r_[0:n, n_max : n_max + n_eval], Splits(n, n_eval, n_val / n)


def splits_from_config(section: Mapping[str, Any]) -> Splits:
    """``splits: {n_train, n_test, val_fraction}``, the one shape of every study's splits."""
    return Splits(int(section["n_train"]), int(section["n_test"]),
                  float(section["val_fraction"]))


def train_from_config(section: Mapping[str, Any]) -> TrainConfig:
    """``train: {...}``, the one shape of every study's optimisation budget."""
    return TrainConfig(**section)


def model_config(section: Mapping[str, Any], dims: Sequence[int], encoder: str, out_dim: int
                 ) -> ModelConfig:
    """``model: {width, widths, fusion}`` of a study, for one encoder kind and output width:
    the encoder width is ``widths[encoder]`` where given (e.g. a bottleneck for linear
    encoders), else ``width``."""
    width = (section.get("widths") or {}).get(encoder, section["width"])
    return ModelConfig(tuple(dims), int(width), encoder, out_dim,
                       section.get("fusion", "concat"))


def metrics_frame(rows: list[dict], columns: tuple[str, ...]) -> pl.DataFrame:
    """Per-model rows -> frame with at least ``columns`` (the order of a trained model's row);
    a diverged model's row has only its keys and ``status`` 'diverged', every measured number
    null (so no aggregate can average it in), even when every model of the frame diverged."""
    keys = list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    frame = pl.DataFrame([{k: r.get(k) for k in keys} for r in rows], infer_schema_length=None)
    return frame.with_columns(pl.col(pl.Null).cast(pl.Float64))


def training_columns(stack, e: int) -> dict[str, Any]:
    """How model e of a trained stack ended: status, whether it converged (its patience ran
    out before the step cap), its best validation step and epoch, the budget
    spent."""
    return {"status": "diverged" if stack.diverged[e] else "ok",
            "converged": bool(stack.converged[e]), "best_step": stack.best_step[e],
            "best_epoch": stack.best_epoch[e], "steps_run": stack.steps_run,
            "epochs_run": stack.epochs_run}


def with_status(frame: pl.DataFrame) -> pl.DataFrame:
    """Per-model rows with a ``status`` column ('ok' where a frame predates it)."""
    return frame if "status" in frame.columns else frame.with_columns(status=pl.lit("ok"))


def ok_count() -> pl.Expr:
    """Models (seeds) of a group that trained without diverging."""
    return (pl.col("status") == "ok").sum()


def diverged_count() -> pl.Expr:
    """Models of a group whose loss became NaN/inf: reported, never averaged in."""
    return (pl.col("status") == "diverged").sum()


def mean_std(column: str, name: str, std_name: str | None = None) -> list[pl.Expr]:
    """The mean (``name``) and sample std (``std_name``, default ``name``_std) of a column
    over a group's models."""
    return [pl.col(column).mean().alias(name),
            pl.col(column).std().alias(std_name or f"{name}_std")]


def model_counts() -> list[pl.Expr]:
    """n_seeds (models that trained), n_diverged and n_unconverged of a group."""
    return [ok_count().alias("n_seeds"), diverged_count().alias("n_diverged"),
            unconverged_count().alias("n_unconverged")]


def with_cap_flag(frame: pl.DataFrame, train: TrainConfig) -> pl.DataFrame:
    """Per-model rows with ``converged`` recomputed from their best_step and steps_run under
    the study's budget (the trainer's own rules): not converged = hit the step cap before its
    patience ran out (:func:`dgl.train.trainer.reached_cap`) or trained without ever improving
    on its initial validation loss (:func:`dgl.train.trainer.never_improved`)."""
    capped = reached_cap(pl.col("best_step"), pl.col("steps_run"), train.max_steps,
                         train.patience_steps)
    stalled = never_improved(pl.col("best_step"), pl.col("steps_run"))
    return frame.with_columns(converged=~(capped | stalled).fill_null(False))


def unconverged_count() -> pl.Expr:
    """Models of a group not converged: at the step cap before their patience ran out, or
    never improved on their initial validation loss (averaged in,
    and counted so a reader knows)."""
    return ((pl.col("status") == "ok") & ~pl.col("converged")).sum()
