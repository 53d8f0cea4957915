"""Heads on frozen encoders: the features of a trained stack and the least-squares head.

For a frozen encoder g (here: the masked, concatenated features of a model's subset S),
inf_h r(h o g) over linear heads h(z) = z beta + c is approximated by least squares on the
training features (the ERM head), and its risk by the test MSE:

    r_hat(g) = mean over test rows of (y - g(x) beta_hat - c_hat)^2,
    eta(g)   = r_hat(g) - r*(all K modalities)    (Huang et al. 2021; r*(h* o g*) = r*([K])),

together with the excess over the Bayes risk of the model's own subset, r_hat(g) - r*(S).
The least-squares fit uses the minimum-norm solution (LAPACK gelsd in float64), so rank-
deficient features (identical modalities at rho = 1, dead ReLU units) are handled exactly.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor

from dgl.train.models import StackedLateFusion


@torch.no_grad()
def model_features(model: StackedLateFusion, x: Tensor, chunk: int = 8192) -> list[np.ndarray]:
    """Features of each model on its own inputs ``x [E, n, D]``: a list of [n, h |S_e|] arrays
    holding only the blocks of the modalities in the model's subset (in modality order).

    Computed in float64: features that are exactly rank-deficient (a linear encoder of width
    h > d_k has rank d_k) must stay so to the precision the least-squares rank cut assumes;
    float32 rounding would add spurious directions and the head would fit noise through them.
    Each encoder runs only for the models that use it, chunk by chunk, straight into the
    output arrays (no zero-padded blocks).
    """
    model64 = copy.deepcopy(model).cpu().double()
    masks = model.masks.cpu()
    h, n = model.config.width, x.shape[1]
    out = [np.empty((n, h * int(masks[e].sum()))) for e in range(model.n_models)]
    column = (masks.cumsum(dim=1) - 1) * h  # first column of modality k in model e's features
    x_k = model64.split(x.cpu())
    for k in range(masks.shape[1]):
        users = masks[:, k].nonzero().squeeze(1)
        if not len(users):
            continue
        weight, bias = model64.enc_weight[k][users], model64.enc_bias[k][users]
        for start in range(0, n, chunk):
            z = model64._encoder(k, x_k[k][users, start : start + chunk].double(), bias, weight)
            z = z.numpy()
            for j, e in enumerate(users.tolist()):
                col = int(column[e, k])
                out[e][start : start + chunk, col : col + h] = z[j]
    return out


def fit_linear_head(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares head (beta, c) minimising sum (y - z beta - c)^2, minimum-norm solution."""
    design = np.hstack([z, np.ones((z.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef[:-1], float(coef[-1])


def head_mse(z: np.ndarray, y: np.ndarray, beta: np.ndarray, c: float) -> float:
    """Mean squared error of the head (beta, c) on features z."""
    return float(np.mean((y - z @ beta - c) ** 2))


def ols_expected_mse(bayes_mse: float, n_inputs: int, n_train: int) -> float:
    """E[test MSE] of least squares on p = ``n_inputs`` jointly Gaussian inputs from n training
    rows when the Bayes residual is Gaussian with variance r*(S): r*(S) (1 + p / (n - p - 1))."""
    if n_train - n_inputs - 1 <= 0:
        return float("inf")
    return bayes_mse * (1.0 + n_inputs / (n_train - n_inputs - 1))
