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

#: Eigenvalues of a covariance below this share of its largest are exact zeros: rounding noise
#: of a singular covariance (e.g. identical modalities at rho = 1).
RTOL = 1e-10


def psd_pinv(matrix: np.ndarray) -> np.ndarray:
    """Moore-Penrose pseudo-inverse of a symmetric positive semi-definite matrix (numpy's
    Hermitian pinv, eigenvalues below :data:`RTOL` times the largest treated as zeros)."""
    return np.linalg.pinv(matrix, rtol=RTOL, hermitian=True)


def psd_rank(matrix: np.ndarray) -> int:
    """Numerical rank of a symmetric PSD matrix, with the tolerance of :func:`psd_pinv`."""
    return int(np.linalg.matrix_rank(matrix, rtol=RTOL, hermitian=True))


class _ModalityLayout:
    """Input coordinates laid out modality after modality (dimensions ``modality_dims``)."""

    modality_dims: tuple[int, ...]

    @property
    def n_modalities(self) -> int:
        return len(self.modality_dims)

    @property
    def input_dim(self) -> int:
        return sum(self.modality_dims)

    def columns(self, subset: Subset) -> np.ndarray:
        """Indices of the input coordinates of the modalities in ``subset``."""
        starts = np.concatenate([[0], np.cumsum(self.modality_dims)])
        return np.concatenate(
            [np.arange(starts[k], starts[k + 1]) for k in sorted(subset)]
        ).astype(np.int64)


@dataclass(frozen=True)
class LinearGaussianLaw(_ModalityLayout):
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
    def latent_dim(self) -> int:
        return self.loading.shape[1]

    @property
    def covariance(self) -> np.ndarray:
        """Sigma = L L^T of (x, y); the last row/column is y."""
        return self.loading @ self.loading.T

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

    def image(self, subset: Subset, weight: np.ndarray) -> LinearGaussianLaw:
        """The law of (z, y) for linear features z = x_S W (+ any constant): one modality of
        dimension W.shape[1]; its r*((0,)) = Var(y) - c_z^T Sigma_z^+ c_z is the risk of the
        best linear head on z (for jointly Gaussian (z, y) also the Bayes risk of z)."""
        cols = self.columns(subset)
        features = weight.T @ self.loading[cols]
        return LinearGaussianLaw(np.vstack([features, self.loading[-1:]]), (weight.shape[1],))

    def bayes_mse(self, subset: Subset) -> float:
        """r*(S) = Var(y) - Cov(y, x_S) Cov(x_S)^+ Cov(x_S, y), the MSE of E[y | x_S]."""
        sigma = self.covariance
        cols = self.columns(subset)
        c_sy = sigma[cols, -1]
        explained = c_sy @ psd_pinv(sigma[np.ix_(cols, cols)]) @ c_sy
        return max(float(sigma[-1, -1] - explained), 0.0)


@dataclass(frozen=True)
class ClassConditionalGaussianLaw(_ModalityLayout):
    """Law of (x, y) with y ~ Categorical(priors) and x | y = c ~ N(m_c, Sigma_c), given as

        x = m_c + L_c w,   w ~ N(0, I_m),   Sigma_c = L_c L_c^T,

    ``means [C, D]``, ``loadings [C, D, m]`` (the same latents w for every class, so draws under
    different knob settings can share random numbers). Any subset S of modalities keeps the
    form: x_S | y = c ~ N(m_{c,S}, Sigma_{c,SS}), so the posterior

        p(c | x_S) = pi_c N(x_S; m_{c,S}, Sigma_{c,SS}) / sum_c' pi_c' N(x_S; m_{c',S}, Sigma_{c',SS})

    is exact: linear in x_S (LDA) when every Sigma_c is equal, quadratic (QDA) otherwise.
    """

    priors: np.ndarray
    means: np.ndarray
    loadings: np.ndarray
    modality_dims: tuple[int, ...]

    def __post_init__(self) -> None:
        c, d = self.means.shape
        if self.priors.shape != (c,) or not np.isclose(self.priors.sum(), 1.0):
            raise ValueError("priors must be a probability vector, one entry per class")
        if self.loadings.shape[:2] != (c, d) or d != sum(self.modality_dims):
            raise ValueError(
                f"loadings must be [C, D, m] with D = sum(modality_dims) = "
                f"{sum(self.modality_dims)}; got means {self.means.shape}, "
                f"loadings {self.loadings.shape}"
            )

    @property
    def n_classes(self) -> int:
        return int(self.means.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.loadings.shape[2])

    def covariances(self) -> np.ndarray:
        """Sigma_c = L_c L_c^T, shape [C, D, D]."""
        return np.einsum("cdm,cem->cde", self.loadings, self.loadings)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n draws: x [n, D] and integer labels y [n]. Labels are drawn before the latents, so
        two laws with the same C, priors and latent dimension share random numbers."""
        y = rng.choice(self.n_classes, size=n, p=self.priors)
        w = rng.standard_normal((n, self.latent_dim))
        x = np.empty((n, self.input_dim))
        for c in range(self.n_classes):
            rows = y == c
            x[rows] = self.means[c] + w[rows] @ self.loadings[c].T
        return x, y

    def log_posterior(self, x_s: np.ndarray, subset: Subset) -> np.ndarray:
        """log p(c | x_S) for rows ``x_s [n, |x_S|]`` (the subset's columns), shape [n, C]."""
        return self.posterior(subset)(x_s)

    def posterior(self, subset: Subset) -> SubsetPosterior:
        """The exact posterior of a subset, factorised once for repeated use."""
        cols = self.columns(subset)
        covs = self.covariances()[:, cols][:, :, cols]
        # classes sharing a covariance share one factorisation (LDA: a single one)
        groups: dict[bytes, list[int]] = {}
        for c in range(self.n_classes):
            groups.setdefault(np.round(covs[c], 12).tobytes(), []).append(c)
        factors = []
        for members in groups.values():
            vals, vecs = np.linalg.eigh(covs[members[0]])
            keep = vals > 1e-10 * vals.max()
            whiten = vecs[:, keep] / np.sqrt(vals[keep])
            factors.append((members, whiten, np.log(vals[keep]).sum(),
                            self.means[members][:, cols] @ whiten))
        return SubsetPosterior(np.log(self.priors), factors)

    def shares_covariance(self) -> bool:
        """Whether every class has the same covariance (then every posterior is a softmax of
        linear functions: LDA)."""
        covs = self.covariances()
        return bool(np.allclose(covs, covs[0], rtol=0, atol=1e-12 * np.abs(covs).max()))

    def image(self, subset: Subset, weight: np.ndarray, bias: np.ndarray | None = None
              ) -> ClassConditionalGaussianLaw:
        """The law of (z, y) for linear features z = x_S W + b: one modality of dimension
        W.shape[1], z | y = c ~ N(m_{c,S} W + b, W^T Sigma_{c,SS} W). Its Bayes cross-entropy
        is the risk of the best head on z; with a shared covariance that head is linear."""
        cols = self.columns(subset)
        means = self.means[:, cols] @ weight + (0.0 if bias is None else bias)
        loadings = np.einsum("dh,cdm->chm", weight, self.loadings[:, cols])
        return ClassConditionalGaussianLaw(self.priors, means, loadings, (weight.shape[1],))

    def binary_bayes_error(self, subset: Subset) -> float:
        """Closed form for two classes with one shared covariance (LDA):
        Bayes error = pi_0 Phi(-Delta/2 - t/Delta) + pi_1 Phi(-Delta/2 + t/Delta), with Delta the
        Mahalanobis distance between the class means and t = log(pi_0/pi_1)."""
        from scipy.special import ndtr  # the standard normal cdf (scipy.stats.norm.cdf's)

        if self.n_classes != 2:
            raise ValueError("binary_bayes_error needs exactly two classes")
        cols = self.columns(subset)
        covs = self.covariances()[:, cols][:, :, cols]
        if not np.allclose(covs[0], covs[1]):
            raise ValueError("binary_bayes_error needs a covariance shared by both classes")
        diff = self.means[1, cols] - self.means[0, cols]
        delta = float(np.sqrt(diff @ psd_pinv(covs[0]) @ diff))
        if delta == 0.0:
            return float(self.priors.min())
        t = float(np.log(self.priors[0] / self.priors[1]))
        return float(
            self.priors[0] * ndtr(-delta / 2 - t / delta)
            + self.priors[1] * ndtr(-delta / 2 + t / delta)
        )


class SubsetPosterior:
    """log p(c | x_S) of a :class:`ClassConditionalGaussianLaw`: for each group of classes with
    a common covariance, a whitening W (Sigma^+ = W W^T on its range) and its log
    pseudo-determinant; log N(x; m_c, Sigma) = -1/2 ||W^T (x - m_c)||^2 - 1/2 log|Sigma| + const."""

    def __init__(self, log_prior: np.ndarray, factors: list) -> None:
        self.log_prior = log_prior
        self.factors = factors

    def __call__(self, x_s: np.ndarray) -> np.ndarray:
        loglik = np.empty((x_s.shape[0], self.log_prior.shape[0]))
        for members, whiten, log_det, white_means in self.factors:
            zx = x_s @ whiten
            sq = (zx**2).sum(axis=1, keepdims=True) - 2 * zx @ white_means.T + (
                white_means**2).sum(axis=1)
            loglik[:, members] = -0.5 * (sq + log_det)
        logits = loglik + self.log_prior
        return logits - _logsumexp_rows(logits)


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log sum_j exp(a_ij) per row [n, 1], shifted by the row maximum (finite rows; the same
    value as scipy.special.logsumexp, at a fraction of its cost on [n, C] blocks)."""
    top = a.max(axis=1, keepdims=True)
    return top + np.log(np.exp(a - top).sum(axis=1, keepdims=True))
