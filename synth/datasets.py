"""Finite samples of a law, split into train / validation / test rows, stored as .npz.

Dataset s of a study is drawn from latents w ~ N(0, I) seeded by (s, "data") only, so every
overlap rho of the same seed uses the same latents (common random numbers: differences
between overlaps are not blurred by resampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth.law import LinearGaussianLaw
from synth.seeding import derive_seed


@dataclass(frozen=True)
class Splits:
    """Row ranges: [0, n_fit) train, [n_fit, n_train) validation, [n_train, n_total) test."""

    n_train: int
    n_test: int
    val_fraction: float

    @property
    def n_val(self) -> int:
        return int(round(self.val_fraction * self.n_train))

    @property
    def n_fit(self) -> int:
        return self.n_train - self.n_val

    @property
    def n_total(self) -> int:
        return self.n_train + self.n_test

    def __post_init__(self) -> None:
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction}")
        if self.n_val < 1 or self.n_fit < 1 or self.n_test < 1:
            raise ValueError(f"empty split: {self}")

    def fit_rows(self) -> slice:
        return slice(0, self.n_fit)

    def val_rows(self) -> slice:
        return slice(self.n_fit, self.n_train)

    def test_rows(self) -> slice:
        return slice(self.n_train, self.n_total)


def draw_datasets(
    law: LinearGaussianLaw, seeds: list[int], splits: Splits
) -> tuple[np.ndarray, np.ndarray]:
    """x [n_seeds, n_total, D] (float32) and y [n_seeds, n_total] (float64), one per seed."""
    xs, ys = [], []
    for seed in seeds:
        rng = np.random.default_rng(derive_seed(seed, "data"))
        x, y = law.sample(splits.n_total, rng)
        xs.append(x.astype(np.float32))
        ys.append(y)
    return np.stack(xs), np.stack(ys)


def save_datasets(path: str | Path, x: np.ndarray, y: np.ndarray, seeds: list[int]) -> None:
    np.savez(path, x=x, y=y, seeds=np.asarray(seeds))


def draw_overlap_datasets(
    laws: list, seeds: list[int], splits: Splits
) -> tuple[np.ndarray, np.ndarray]:
    """Datasets of several laws (e.g. one per overlap) stacked law-major: dataset index
    i * len(seeds) + j is law i drawn with seed j."""
    xs, ys = zip(*(draw_datasets(law, seeds, splits) for law in laws))
    return np.concatenate(xs), np.concatenate(ys)


def load_datasets(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    with np.load(path) as f:
        return f["x"], f["y"], [int(s) for s in f["seeds"]]
