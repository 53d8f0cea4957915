"""Named data generators. Each returns the exact law of the data it generates.

A generator knows nothing about training: it maps its knobs to a law, and the law samples
data and answers every ground-truth question (see :mod:`synth.law`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from synth.law import LinearGaussianLaw
from synth.registry import Registry

GENERATORS: Registry[Callable[..., LinearGaussianLaw]] = Registry("generator")


def make_law(name: str, **params: Any) -> LinearGaussianLaw:
    """The law of the generator registered as ``name`` with knobs ``params``."""
    return GENERATORS.get(name)(**params)


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
