"""The one ground-truth engine for linear-Gaussian generators.

A generator is described by its law, not by a formula of its own: the joint vector
v = (x_1, ..., x_K, y) is a linear image of standard normal latents,

    v = L w,   w ~ N(0, I_m),   so   v ~ N(0, Sigma),  Sigma = L L^T.

Sampling draws w and applies L; every exact quantity (covariances, the Bayes risk of every
subset S of modalities) is derived from Sigma. For a subset S with inputs x_S the Bayes
predictor under squared loss is the conditional mean E[y | x_S] = Sigma_yS Sigma_SS^+ x_S and
its risk is

    r*(S) = Var(y) - Sigma_yS Sigma_SS^+ Sigma_Sy,

with the Moore-Penrose pseudo-inverse because Sigma_SS is singular when modalities coincide
(overlap rho = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.subsets import Subset


def psd_pinv(matrix: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Pseudo-inverse of a symmetric positive semi-definite matrix.

    Eigenvalues below ``rtol * max eigenvalue`` are treated as exact zeros (they are
    rounding noise of a singular covariance, e.g. identical modalities at rho = 1).
    """
    vals, vecs = np.linalg.eigh((matrix + matrix.T) / 2)
    keep = vals > rtol * max(vals.max(initial=0.0), 0.0)
    inv = np.zeros_like(vals)
    inv[keep] = 1.0 / vals[keep]
    return (vecs * inv) @ vecs.T


def psd_rank(matrix: np.ndarray, rtol: float = 1e-10) -> int:
    """Numerical rank of a symmetric PSD matrix, with the tolerance of :func:`psd_pinv`."""
    vals = np.linalg.eigvalsh((matrix + matrix.T) / 2)
    return int((vals > rtol * max(vals.max(initial=0.0), 0.0)).sum())


@dataclass(frozen=True)
class LinearGaussianLaw:
    """Joint Gaussian law of (x_1, ..., x_K, y) given as v = L w, w ~ N(0, I_m).

    ``loading`` has one row per input coordinate (modalities stacked in order, dimensions
    ``modality_dims``) followed by one row for the scalar target y; one column per latent.
    """

    loading: np.ndarray
    modality_dims: tuple[int, ...]

    def __post_init__(self) -> None:
        expected = sum(self.modality_dims) + 1
        if self.loading.ndim != 2 or self.loading.shape[0] != expected:
            raise ValueError(
                f"loading must have sum(modality_dims) + 1 = {expected} rows, "
                f"got shape {self.loading.shape}"
            )

    @property
    def n_modalities(self) -> int:
        return len(self.modality_dims)

    @property
    def input_dim(self) -> int:
        return sum(self.modality_dims)

    @property
    def latent_dim(self) -> int:
        return self.loading.shape[1]

    @property
    def covariance(self) -> np.ndarray:
        """Sigma = L L^T of (x, y); the last row/column is y."""
        return self.loading @ self.loading.T

    def columns(self, subset: Subset) -> np.ndarray:
        """Indices of the input coordinates of the modalities in ``subset``."""
        starts = np.concatenate([[0], np.cumsum(self.modality_dims)])
        return np.concatenate(
            [np.arange(starts[k], starts[k + 1]) for k in sorted(subset)]
        ).astype(np.int64)

    def sample_latent(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """w ~ N(0, I_m), shape [n, m]. Reusing w across laws gives common random numbers."""
        return rng.standard_normal((n, self.latent_dim))

    def apply(self, latent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) = L w for latents ``w`` of shape [n, m]: x of shape [n, D], y of shape [n]."""
        v = latent @ self.loading.T
        return v[:, :-1], v[:, -1]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n i.i.d. draws of (x, y)."""
        return self.apply(self.sample_latent(n, rng))

    def target_variance(self) -> float:
        """Var(y) = r*(empty set)."""
        return float(self.loading[-1] @ self.loading[-1])

    def input_rank(self, subset: Subset) -> int:
        """Rank of Cov(x_S): the number of linearly independent inputs of the subset."""
        cols = self.columns(subset)
        return psd_rank(self.covariance[np.ix_(cols, cols)])

    def bayes_mse(self, subset: Subset) -> float:
        """r*(S) = Var(y) - Cov(y, x_S) Cov(x_S)^+ Cov(x_S, y), the MSE of E[y | x_S]."""
        sigma = self.covariance
        cols = self.columns(subset)
        c_sy = sigma[cols, -1]
        explained = c_sy @ psd_pinv(sigma[np.ix_(cols, cols)]) @ c_sy
        return max(float(sigma[-1, -1] - explained), 0.0)
