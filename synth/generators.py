"""Named data generators. Each returns the exact law of the data it generates.

A generator knows nothing about training: it maps its knobs to a law, and the law samples
data and answers every ground-truth question (see :mod:`synth.law`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from synth.law import ClassConditionalGaussianLaw, LinearGaussianLaw
from synth.registry import Registry

Law = LinearGaussianLaw | ClassConditionalGaussianLaw
GENERATORS: Registry[Callable[..., Law]] = Registry("generator")


def make_law(name: str, **params: Any) -> Law:
    """The law of the generator registered as ``name`` with knobs ``params``."""
    return GENERATORS.get(name)(**params)


@dataclass(frozen=True)
class LawSpec:
    """A generator and the knobs a study holds fixed, as every config section writes them:
    ``law: {generator, params}``. The knobs a study varies (overlap, per-modality SNR) are
    given to :meth:`build`."""

    generator: str
    params: Mapping[str, Any]

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> LawSpec:
        return cls(section["generator"], dict(section.get("params") or {}))

    def build(self, **knobs: Any) -> Law:
        """The law at these knobs (they take precedence over the fixed ones)."""
        return make_law(self.generator, **{**self.params, **knobs})


@GENERATORS.register("huang_overlap")
def huang_overlap(
    n_modalities: int = 4, dim: int = 100, overlap: float = 0.5, target_noise_var: float = 0.0
) -> LinearGaussianLaw:
    """The simulated data of Huang et al. (NeurIPS 2021), Table 4.

    x_1 ~ N(0, I_d); for k >= 2, x_k = rho * x_1 + (1 - rho) * e_k with e_k ~ N(0, I_d)
    independent, rho = ``overlap`` in [0, 1]; the target is y = sum over all K modalities and
    all d coordinates of x, plus optional label noise N(0, ``target_noise_var``) (the paper's
    target is noise-free: then r*(all modalities) = 0).

    Latents w = (x_1, e_2, ..., e_K[, noise]); for S containing modality 1 the Bayes MSE is
    d (1 - rho)^2 (K - |S|) (+ noise variance).
    """
    if n_modalities < 1:
        raise ValueError(f"n_modalities must be >= 1, got {n_modalities}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap must lie in [0, 1], got {overlap}")
    if target_noise_var < 0:
        raise ValueError(f"target_noise_var must be >= 0, got {target_noise_var}")
    k, d, rho = n_modalities, dim, float(overlap)
    n_latent = k * d + (1 if target_noise_var > 0 else 0)
    loading = np.zeros((k * d + 1, n_latent))
    eye = np.eye(d)
    loading[:d, :d] = eye
    for m in range(1, k):
        rows = slice(m * d, (m + 1) * d)
        loading[rows, :d] = rho * eye
        loading[rows, m * d : (m + 1) * d] = (1.0 - rho) * eye
    loading[-1, :] = loading[:-1, :].sum(axis=0)
    if target_noise_var > 0:
        loading[-1, -1] = np.sqrt(target_noise_var)
    return LinearGaussianLaw(loading=loading, modality_dims=(d,) * k)


def _class_means(rng: np.random.Generator, n_classes: int, dim: int) -> np.ndarray:
    """C class means in R^dim, centred over classes and scaled so that the between-class
    variance per coordinate, averaged over coordinates, is exactly 1."""
    if dim == 0:
        return np.zeros((n_classes, 0))
    mu = rng.standard_normal((n_classes, dim))
    mu -= mu.mean(axis=0)
    return mu / np.sqrt((mu**2).mean())


def _rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


@GENERATORS.register("latent_classes")
def latent_classes(
    snr: list[float] = (4.0, 1.0),
    overlap: float = 0.5,
    n_classes: int = 10,
    shared_dim: int = 4,
    unique_dim: int = 4,
    nuisance_dims: int | list[int] = 8,
    synergy: float = 0.0,
    separation: float = 1.0,
    shared_noise: str = "nested",
    structure_seed: int = 0,
) -> ClassConditionalGaussianLaw:
    """Classification with dialled overlap, imbalance and synergy; K = len(snr) modalities.

    y is uniform on C classes. Latent class means (fixed by ``structure_seed``): a shared block
    mu_s[y] in R^{q_s} and, per modality k, a unique block mu_k[y] in R^{q_u}, each with
    between-class variance 1 per coordinate (times ``separation``^2). Modality k sees, before a
    fixed random rotation R_k of R^{d_k},

        [ sqrt(rho) mu_s[y] + xi_k ;  sqrt(1 - rho) mu_k[y] + zeta_k ;  nu_k ;  (t_k) ],

    - overlap rho: the share of each modality's between-class variance carried by the shared
      block (rho = 1: all modalities carry the same information about y; rho = 0: each its own);
    - snr_k: between-class variance per signal coordinate over the noise variance
      sigma_k^2 = 1/snr_k; zeta_k ~ N(0, sigma_k^2 I) and the nuisance coordinates
      nu_k ~ N(0, sigma_k^2 I) (``nuisance_dims``) are independent across modalities;
    - ``shared_noise``: 'nested' makes the shared-block noise xi_k a degradation of every
      cleaner modality's (Cov(xi_j, xi_k) = min(sigma_j^2, sigma_k^2) I): equal SNRs then give
      identical views, and a noisier modality's shared view is a garbling of a cleaner one's.
      'independent' draws xi_k ~ N(0, sigma_k^2 I) independently, so two views of the shared
      block average their noise (information that a min-MI decomposition counts as synergy);
    - synergy strength r in [0, 1): modalities 1 and 2 carry one more coordinate each, t_1 and
      t_2, N(0, 1) marginally with Corr(t_1, t_2 | y) = +r for even y and -r for odd y: no
      information about y in either alone, only in their interaction (the class covariances
      then differ, and the Bayes posterior is quadratic). Present for K >= 2 whatever r is, so
      every setting of the knobs has the same dimensions.

    d_k = q_s + q_u + nuisance_k (+ 1 for modalities 1 and 2 when K >= 2).
    """
    snr_arr = np.asarray(snr, dtype=float)
    nuis = _check_latent_knobs(snr_arr, overlap, n_classes, synergy, shared_noise, shared_dim,
                               unique_dim, nuisance_dims, separation)
    k = len(snr_arr)
    rng = np.random.default_rng(structure_seed)
    qs, qu, c, rho = shared_dim, unique_dim, n_classes, float(overlap)
    mu_s = _class_means(rng, c, qs) * separation
    mu_u = [_class_means(rng, c, qu) * separation for _ in range(k)]
    layout = _LatentLayout(qs, qu, tuple(nuis), 1.0 / np.sqrt(snr_arr))
    rotations = [_rotation(rng, d) for d in layout.dims]
    means, loadings = [], []
    for m, d in enumerate(layout.dims):
        mean_m = np.zeros((c, d))
        mean_m[:, :qs] = np.sqrt(rho) * mu_s
        mean_m[:, qs : qs + qu] = np.sqrt(1.0 - rho) * mu_u[m]
        load_m = _modality_loading(layout, m, c, shared_noise, synergy)
        means.append(mean_m @ rotations[m].T)
        loadings.append(np.einsum("de,cem->cdm", rotations[m], load_m))
    return ClassConditionalGaussianLaw(priors=np.full(c, 1.0 / c), means=np.hstack(means),
                                       loadings=np.hstack(loadings),
                                       modality_dims=tuple(layout.dims))


def _check_latent_knobs(snr: np.ndarray, overlap: float, n_classes: int, synergy: float,
                        shared_noise: str, shared_dim: int, unique_dim: int,
                        nuisance_dims: int | list[int], separation: float) -> list[int]:
    """Refuse knobs :func:`latent_classes` is not defined for; the nuisance dimension of every
    modality."""
    k = len(snr)
    if k < 1:
        raise ValueError("snr needs one entry per modality (K >= 1)")
    if np.any(~np.isfinite(snr)) or np.any(snr <= 0):
        raise ValueError(f"snr entries must be positive and finite, got {list(snr)}")
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap must lie in [0, 1], got {overlap}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    if not 0.0 <= synergy < 1.0:
        raise ValueError(f"synergy must lie in [0, 1), got {synergy}")
    if synergy > 0 and k < 2:
        raise ValueError("synergy needs at least two modalities")
    if shared_noise not in ("nested", "independent"):
        raise ValueError(f"shared_noise must be 'nested' or 'independent', got {shared_noise!r}")
    if shared_dim < 0 or unique_dim < 0 or shared_dim + unique_dim == 0:
        raise ValueError("shared_dim and unique_dim must be >= 0, not both 0")
    nuis = ([int(nuisance_dims)] * k if np.isscalar(nuisance_dims)
            else [int(v) for v in nuisance_dims])
    if len(nuis) != k or min(nuis) < 0:
        raise ValueError(f"nuisance_dims: one non-negative entry per modality, got {nuisance_dims}")
    if separation <= 0:
        raise ValueError(f"separation must be positive, got {separation}")
    return nuis


@dataclass(frozen=True)
class _LatentLayout:
    """Where the noise of each modality sits among the latents w of :func:`latent_classes`:
    shared-noise blocks (K x q_s) | unique noise (K x q_u) | nuisance | synergy (2), and the
    noise standard deviation sigma_k = 1/sqrt(snr_k) of each modality."""

    qs: int
    qu: int
    nuis: tuple[int, ...]
    sigma: np.ndarray

    @property
    def k(self) -> int:
        return len(self.nuis)

    @property
    def syn(self) -> list[int]:
        """1 for modalities 1 and 2 when K >= 2: they carry the synergy coordinate."""
        return [1 if (self.k >= 2 and m < 2) else 0 for m in range(self.k)]

    @property
    def dims(self) -> list[int]:
        return [self.qs + self.qu + self.nuis[m] + self.syn[m] for m in range(self.k)]

    @property
    def n_latent(self) -> int:
        return self.k * self.qs + self.k * self.qu + sum(self.nuis) + (2 if self.k >= 2 else 0)

    @property
    def off_unique(self) -> int:
        return self.k * self.qs

    def off_nuisance(self, m: int) -> int:
        return self.k * self.qs + self.k * self.qu + sum(self.nuis[:m])

    @property
    def off_synergy(self) -> int:
        return self.off_nuisance(self.k)


def _modality_loading(layout: _LatentLayout, m: int, c: int, shared_noise: str, synergy: float
                      ) -> np.ndarray:
    """L_c restricted to modality m, before its rotation: [C, d_m, n_latent]."""
    qs, qu, nuis, sigma = layout.qs, layout.qu, layout.nuis[m], layout.sigma
    load_m = np.zeros((c, layout.dims[m], layout.n_latent))
    if shared_noise == "nested":  # increments of every cleaner-or-equal modality
        order = np.argsort(sigma, kind="stable")
        rank = np.empty(layout.k, dtype=int)
        rank[order] = np.arange(layout.k)
        sorted_var = np.concatenate([[0.0], sigma[order] ** 2])
        for j in range(rank[m] + 1):
            inc = np.sqrt(sorted_var[j + 1] - sorted_var[j])
            load_m[:, :qs, j * qs : (j + 1) * qs] = inc * np.eye(qs)
    else:
        load_m[:, :qs, m * qs : (m + 1) * qs] = sigma[m] * np.eye(qs)
    off_u, off_n = layout.off_unique, layout.off_nuisance(m)
    load_m[:, qs : qs + qu, off_u + m * qu : off_u + (m + 1) * qu] = sigma[m] * np.eye(qu)
    load_m[:, qs + qu : qs + qu + nuis, off_n : off_n + nuis] = sigma[m] * np.eye(nuis)
    if layout.syn[m]:
        last, off_syn = layout.dims[m] - 1, layout.off_synergy
        if m == 0:
            load_m[:, last, off_syn] = 1.0
        else:
            r = synergy * np.where(np.arange(c) % 2 == 0, 1.0, -1.0)
            load_m[:, last, off_syn] = r
            load_m[:, last, off_syn + 1] = np.sqrt(1.0 - r**2)
    return load_m
