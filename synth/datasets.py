"""Finite samples of a law: datasets keyed by (overlap, seed), and their row splits.

Dataset (rho, s) is drawn from latents seeded by (s, "data") only, so every overlap rho of the
same seed uses the same latents (common random numbers: differences between overlaps are not
blurred by resampling). Datasets of several overlaps travel together as one
:class:`Datasets`, found by their key, never by a position convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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


@dataclass(frozen=True)
class Datasets:
    """G datasets of the same shape: x [G, n, D] (float32), y [G, n] (targets or class
    indices); dataset g was drawn at overlap ``keys[g][0]`` with seed ``keys[g][1]``."""

    x: np.ndarray
    y: np.ndarray
    keys: tuple[tuple[float, int], ...]

    def __post_init__(self) -> None:
        keys = tuple((float(rho), int(seed)) for rho, seed in self.keys)
        object.__setattr__(self, "keys", keys)
        if len(set(keys)) != len(keys) or {self.x.shape[0], self.y.shape[0]} != {len(keys)}:
            raise ValueError(f"one distinct (overlap, seed) key per dataset, got {keys} for "
                             f"x {self.x.shape}, y {self.y.shape}")

    def index(self, overlap: float, seed: int) -> int:
        """Position of the dataset drawn at ``overlap`` with ``seed``."""
        try:
            return self.keys.index((float(overlap), int(seed)))
        except ValueError:
            raise KeyError(f"no dataset at overlap {overlap} with seed {seed}; held: "
                           f"{list(self.keys)}") from None

    def rows(self, rows: np.ndarray | slice) -> Datasets:
        """The same datasets restricted to ``rows`` (in that order); a view, not a copy, when
        ``rows`` are consecutive (e.g. every row: a copy of 316 MB in a theory evaluation)."""
        if isinstance(rows, np.ndarray) and rows.ndim == 1 and len(rows) and bool(
                (np.diff(rows) == 1).all()):
            rows = slice(int(rows[0]), int(rows[-1]) + 1)
        return Datasets(self.x[:, rows], self.y[:, rows], self.keys)

    @staticmethod
    def concat(parts: Sequence[Datasets]) -> Datasets:
        """Datasets of several draws (e.g. one per overlap), in the given order."""
        return Datasets(np.concatenate([p.x for p in parts]),
                        np.concatenate([p.y for p in parts]),
                        tuple(k for p in parts for k in p.keys))


def stratified_order(y: np.ndarray) -> np.ndarray:
    """A permutation of rows with labels ``y`` that interleaves the classes: the first
    occurrence of every class (in class order), then every class's second one, and so on;
    rows of classes that run out are left to the others. Every prefix of k C rows then holds
    k rows of each of the C classes while they last, and prefixes are nested."""
    classes, inverse = np.unique(y, return_inverse=True)
    rank = np.zeros(len(y), dtype=np.int64)
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        rank[members] = np.arange(len(members))
    return np.lexsort((inverse, rank))


def draw_datasets(law, overlap: float, seeds: Sequence[int], n_rows: int, stratify: int = 0
                  ) -> Datasets:
    """One dataset of ``n_rows`` rows per seed from ``law`` (the law of the generator at
    ``overlap``): x float32, y as the law samples it. ``stratify`` > 0 (classification): its
    first ``stratify`` rows are put in :func:`stratified_order` (the rows after them, the
    test rows, are left as drawn)."""
    xs, ys = [], []
    for seed in seeds:
        rng = np.random.default_rng(derive_seed(seed, "data"))
        x, y = law.sample(n_rows, rng)
        if stratify:
            order = np.r_[stratified_order(y[:stratify]), stratify:n_rows]
            x, y = x[order], y[order]
        xs.append(x.astype(np.float32))
        ys.append(y)
    return Datasets(np.stack(xs), np.stack(ys), tuple((overlap, s) for s in seeds))


@dataclass(frozen=True)
class DatasetSpec:
    """One data file of a study: ``n_rows`` rows per seed of ``law`` (a
    :class:`~synth.generators.LawSpec`) at ``overlap``; the first ``stratify`` rows in
    stratified class order (0: as drawn). Here, with the data, so that drawing a data file
    imports no training code."""

    name: str
    law: Any
    overlap: float
    seeds: tuple[int, ...]
    n_rows: int
    stratify: int = 0

    def draw(self) -> Datasets:
        return draw_datasets(self.law.build(overlap=self.overlap), self.overlap, self.seeds,
                             self.n_rows, self.stratify)
