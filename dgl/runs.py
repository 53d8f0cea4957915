"""Training and evaluating one cell of a study: every (seed, subset) model of one dataset
family and one encoder, trained as a single stack.

A cell's runs are saved as one file (the stacked parameters plus what is needed to rebuild
the model and trace every number back to the config seeds); evaluation reloads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

from dgl.evaluate import fit_linear_head, head_mse, model_features, ols_expected_mse
from dgl.models import StackedLateFusion
from dgl.trainer import StackData, TrainConfig, resolve_device, train_stack
from synth.datasets import Splits
from synth.law import LinearGaussianLaw
from synth.seeding import derive_seed
from synth.subsets import format_subset, parse_subset


@dataclass(frozen=True)
class RunSpec:
    """Model e of a stack: dataset seed and modality subset (text form, e.g. '1+3')."""

    seed: int
    subset: str


def cell_specs(seeds: list[int], subsets: list[str]) -> list[RunSpec]:
    return [RunSpec(seed, subset) for seed in seeds for subset in subsets]


def _masks(specs: list[RunSpec], n_modalities: int) -> torch.Tensor:
    masks = torch.zeros(len(specs), n_modalities, dtype=torch.bool)
    for e, spec in enumerate(specs):
        masks[e, list(parse_subset(spec.subset, n_modalities))] = True
    return masks


def train_cell(
    x: np.ndarray,
    y: np.ndarray,
    data_seeds: list[int],
    splits: Splits,
    modality_dims: tuple[int, ...],
    specs: list[RunSpec],
    encoder: str,
    width: int,
    cfg: TrainConfig,
    device: str = "cpu",
) -> dict:
    """Train all models of ``specs`` as one stack on datasets ``x [G, n, D]``, ``y [G, n]``
    (dataset g was drawn with seed ``data_seeds[g]``). Returns a bundle for :func:`save_bundle`.
    """
    dev = resolve_device(device)
    group = torch.tensor([data_seeds.index(s.seed) for s in specs], dtype=torch.long)
    n_models = len(specs)
    fit = torch.arange(splits.n_fit).expand(n_models, -1)
    val = torch.arange(splits.n_fit, splits.n_train).expand(n_models, -1)
    train_rows = slice(0, splits.n_train)  # the test rows never reach the device
    data = StackData(
        x=torch.as_tensor(x[:, train_rows], dtype=torch.float32, device=dev),
        y=torch.as_tensor(y[:, train_rows, None], dtype=torch.float32, device=dev),
        group=group.to(dev),
        train_idx=fit.contiguous().to(dev),
        val_idx=val.contiguous().to(dev),
    )
    init_seeds = [derive_seed(s.seed, "init", s.subset, encoder) for s in specs]
    order_seeds = [derive_seed(s.seed, "order", s.subset, encoder) for s in specs]
    model = StackedLateFusion(
        modality_dims, width, encoder, 1, _masks(specs, len(modality_dims)), init_seeds
    ).to(dev)
    result = train_stack(model, data, cfg, order_seeds)
    return {
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "model": {"modality_dims": modality_dims, "width": width, "encoder": encoder, "out_dim": 1},
        "specs": [asdict(s) for s in specs],
        "init_seeds": init_seeds,
        "order_seeds": order_seeds,
        "train_config": asdict(cfg),
        "best_epoch": result.best_epoch.tolist(),
        "epochs_run": result.epochs_run,
        "train_seconds": result.seconds,
        "history": result.history,
        "device": str(dev),
    }


def save_bundle(bundle: dict, path: str | Path) -> None:
    torch.save(bundle, path)


def load_model(bundle: dict) -> StackedLateFusion:
    """Rebuild the trained stack of a bundle (on the CPU)."""
    m = bundle["model"]
    masks = bundle["state_dict"]["masks"]
    model = StackedLateFusion(
        m["modality_dims"], m["width"], m["encoder"], m["out_dim"], masks, bundle["init_seeds"]
    )
    model.load_state_dict(bundle["state_dict"])
    return model


def load_bundle(path: str | Path) -> dict:
    return torch.load(path, weights_only=False)


def evaluate_regression_cell(
    bundle: dict, x: np.ndarray, y: np.ndarray, data_seeds: list[int], splits: Splits,
    law: LinearGaussianLaw,
) -> pl.DataFrame:
    """One row per model: its end-to-end test MSE, the test MSE of the least-squares head refit
    on its frozen features (training rows only), eta = refit MSE - r*([K]), the excess over
    r*(S), and the least-squares expectation r*(S)(1 + p/(n - p - 1)) for p = rank Cov(x_S)."""
    model = load_model(bundle)
    specs = [RunSpec(**s) for s in bundle["specs"]]
    group = [data_seeds.index(s.seed) for s in specs]
    xt = torch.as_tensor(x[group], dtype=torch.float32)
    feats = model_features(model, xt)
    with torch.no_grad():
        pred = model(xt)[..., 0].double().numpy()
    bayes_all = law.bayes_mse(tuple(range(law.n_modalities)))
    fit, test = splits.fit_rows(), splits.test_rows()
    rows = []
    for e, spec in enumerate(specs):
        subset = parse_subset(spec.subset, law.n_modalities)
        y_e = y[group[e]]
        beta, c = fit_linear_head(feats[e][fit], y_e[fit])
        refit = head_mse(feats[e][test], y_e[test], beta, c)
        bayes = law.bayes_mse(subset)
        p = law.input_rank(subset)
        rows.append({
            "seed": spec.seed,
            "subset": format_subset(subset),
            "n_modalities": len(subset),
            "encoder": bundle["model"]["encoder"],
            "test_mse_model": float(np.mean((pred[e][test] - y_e[test]) ** 2)),
            "test_mse_refit": refit,
            "bayes_mse_subset": bayes,
            "bayes_mse_all": bayes_all,
            "eta": refit - bayes_all,
            "excess_over_subset_bayes": refit - bayes,
            "ols_expected_mse": ols_expected_mse(bayes, p, splits.n_fit),
            "n_inputs_rank": p,
            "n_fit": splits.n_fit,
            "n_test": splits.n_test,
            "best_epoch": bundle["best_epoch"][e],
            "epochs_run": bundle["epochs_run"],
        })
    return pl.DataFrame(rows)
