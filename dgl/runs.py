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
from dgl.outputs import atomic_write
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
    return _masks_from_subsets([s.subset for s in specs], n_modalities)


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
        **_bundle(model, specs, init_seeds, order_seeds, cfg, result, dev),
        "model": {"modality_dims": modality_dims, "width": width, "encoder": encoder, "out_dim": 1},
    }


def _bundle(model, specs, init_seeds, order_seeds, cfg, result, dev) -> dict:
    """What every saved stack holds: parameters, the specs and seeds that trace each model to
    the config, the training budget and its outcome."""
    return {
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "specs": [asdict(s) for s in specs],
        "init_seeds": init_seeds,
        "order_seeds": order_seeds,
        "train_config": asdict(cfg),
        "diverged": result.diverged.tolist(),
        "best_epoch": result.best_epoch.tolist(),
        "epochs_run": result.epochs_run,
        "train_seconds": result.seconds,
        "history": result.history,
        "device": str(dev),
    }


def save_bundle(bundle: dict, path: str | Path) -> None:
    atomic_write(path, lambda p: torch.save(bundle, p))


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
    diverged = diverged_models(bundle)
    rows = []
    for e, spec in enumerate(specs):
        subset = parse_subset(spec.subset, law.n_modalities)
        if diverged[e]:  # only what the law and the split say, nothing measured
            bayes, p = law.bayes_mse(subset), law.input_rank(subset)
            rows.append({"seed": spec.seed, "subset": format_subset(subset),
                         "n_modalities": len(subset), "encoder": bundle["model"]["encoder"],
                         "status": "diverged", "bayes_mse_subset": bayes,
                         "bayes_mse_all": bayes_all,
                         "ols_expected_mse": ols_expected_mse(bayes, p, splits.n_fit),
                         "n_inputs_rank": p, "n_fit": splits.n_fit, "n_test": splits.n_test,
                         "best_epoch": bundle["best_epoch"][e], "epochs_run": bundle["epochs_run"]})
            continue
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
            "status": "ok",
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
    return metrics_frame(rows, REGRESSION_COLUMNS)


def diverged_models(bundle: dict) -> list[bool]:
    """Which models of a saved stack diverged (NaN/inf loss) during training."""
    return list(bundle.get("diverged", [False] * len(bundle["specs"])))


def metrics_frame(rows: list[dict], columns: tuple[str, ...]) -> pl.DataFrame:
    """Per-model rows -> frame with at least ``columns`` (the order of a trained model's row);
    a diverged model's row has only its keys and ``status`` 'diverged', every measured number
    null (so no aggregate can average it in), even when every model of the frame diverged."""
    keys = list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    frame = pl.DataFrame([{k: r.get(k) for k in keys} for r in rows], infer_schema_length=None)
    return frame.with_columns(pl.col(pl.Null).cast(pl.Float64))


#: Columns of the per-model metrics of a regression cell, in order.
REGRESSION_COLUMNS = ("seed", "subset", "n_modalities", "encoder", "status", "test_mse_model",
                      "test_mse_refit", "bayes_mse_subset", "bayes_mse_all", "eta",
                      "excess_over_subset_bayes", "ols_expected_mse", "n_inputs_rank", "n_fit",
                      "n_test", "best_epoch", "epochs_run")


# --- classification cells (the imbalance study) ------------------------------------------


@dataclass(frozen=True)
class ClassificationSpec:
    """Model e of a classification stack: the dataset it trains on (index into the cell's
    datasets, with its overlap and seed for the tables) and its modality subset."""

    dataset: int
    overlap: float
    seed: int
    subset: str


def train_classification_stack(
    x: np.ndarray,
    y: np.ndarray,
    splits: Splits,
    modality_dims: tuple[int, ...],
    specs: list[ClassificationSpec],
    n_classes: int,
    method_name: str,
    method_options: dict,
    encoder: str,
    width: int,
    fusion: str,
    cfg: TrainConfig,
    tag: str,
    device: str = "cpu",
) -> dict:
    """Train one stack (one method with fixed options) on datasets ``x [G, n, D]``, labels
    ``y [G, n]``; ``tag`` names the variant in seeds and tables. Returns a bundle."""
    from dgl.methods import make_method

    dev = resolve_device(device)
    n_models = len(specs)
    group = torch.tensor([s.dataset for s in specs], dtype=torch.long)
    data = StackData(
        x=torch.as_tensor(x[:, : splits.n_train], dtype=torch.float32, device=dev),
        y=torch.as_tensor(y[:, : splits.n_train], dtype=torch.long, device=dev),
        group=group.to(dev),
        train_idx=torch.arange(splits.n_fit).expand(n_models, -1).contiguous().to(dev),
        val_idx=torch.arange(splits.n_fit, splits.n_train).expand(n_models, -1).contiguous().to(dev),
    )
    init_seeds = [derive_seed(s.seed, "init", s.subset, tag) for s in specs]
    order_seeds = [derive_seed(s.seed, "order", s.subset, tag) for s in specs]
    options = dict(method_options)
    if method_name == "ogm_ge":
        options.setdefault("seed", derive_seed(specs[0].seed, "ogm_noise", tag))
    method = make_method(method_name, **options)
    model = StackedLateFusion(modality_dims, width, encoder, n_classes,
                              _masks_from_subsets([s.subset for s in specs], len(modality_dims)),
                              init_seeds, fusion=fusion).to(dev)
    result = train_stack(model, data, cfg, order_seeds, task="classification", method=method)
    return {
        **_bundle(model, specs, init_seeds, order_seeds, cfg, result, dev),
        "extra_state": ({k: v.cpu() for k, v in result.extra.state_dict().items()}
                        if result.extra is not None else None),
        "model": {"modality_dims": modality_dims, "width": width, "encoder": encoder,
                  "out_dim": n_classes, "fusion": fusion},
        "method": method_name,
        "method_options": options,
        "tag": tag,
        "grad_steps": result.grad_steps,
        "grad_multi": result.grad_multi,
        "grad_uni": result.grad_uni,
    }


def _masks_from_subsets(subsets: list[str], n_modalities: int) -> torch.Tensor:
    """[E, K] booleans: model e sees the modalities of ``subsets[e]`` (e.g. '1+3')."""
    masks = torch.zeros(len(subsets), n_modalities, dtype=torch.bool)
    for e, text in enumerate(subsets):
        masks[e, list(parse_subset(text, n_modalities))] = True
    return masks


def load_classification_stack(bundle: dict):
    """Rebuild (model, method, extra) of a classification bundle on the CPU."""
    from dgl.methods import make_method

    m = bundle["model"]
    model = StackedLateFusion(m["modality_dims"], m["width"], m["encoder"], m["out_dim"],
                              bundle["state_dict"]["masks"], bundle["init_seeds"],
                              fusion=m["fusion"])
    model.load_state_dict(bundle["state_dict"])
    method = make_method(bundle["method"], **bundle["method_options"])
    extra = method.setup(model)
    if extra is not None:
        extra.load_state_dict(bundle["extra_state"])
    return model, method, extra


@torch.no_grad()
def _accuracy_ce(logits: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
    return ((logits.argmax(-1) == y).double().mean(1).numpy(),
            ce.view(y.shape).double().mean(1).numpy())


def evaluate_classification_stack(bundle: dict, x: np.ndarray, y: np.ndarray, splits: Splits,
                                  probe_models: set[int] | None = None) -> pl.DataFrame:
    """One row per (model, modality in its subset): fused validation and test accuracy / CE of
    the method's predictions, and the linear probe of that modality's frozen encoder (fitted
    on the training rows, evaluated on the test rows) for the models in ``probe_models``
    (default: all; the others get empty probe columns)."""
    from dgl.probes import fit_probe, probe_metrics

    model, method, extra = load_classification_stack(bundle)
    specs = [ClassificationSpec(**s) for s in bundle["specs"]]
    group = [s.dataset for s in specs]
    xt = torch.as_tensor(x[group], dtype=torch.float32)
    yt = torch.as_tensor(y[group], dtype=torch.long)
    fit, val, test = splits.fit_rows(), splits.val_rows(), splits.test_rows()
    with torch.no_grad():
        logits = torch.cat([method.logits(model, extra, xt[:, i : i + 8192])
                            for i in range(0, xt.shape[1], 8192)], dim=1)
        feats = None if probe_models == set() else [  # frozen features: for the probes only
            torch.cat(parts, dim=1) for parts in zip(*[
                model.encode(xt[:, i : i + 8192]) for i in range(0, xt.shape[1], 8192)])]
    val_acc, val_ce = _accuracy_ce(logits[:, val], yt[:, val])
    test_acc, test_ce = _accuracy_ce(logits[:, test], yt[:, test])
    masks = model.masks
    diverged = torch.tensor(diverged_models(bundle))
    rows = []
    for k in range(len(model.modality_dims)):
        for e in (masks[:, k] & diverged).nonzero().squeeze(1).tolist():
            rows.append({
                "tag": bundle["tag"], "method": bundle["method"],
                "options": json_options(bundle["method_options"]),
                "overlap": specs[e].overlap, "seed": specs[e].seed, "subset": specs[e].subset,
                "modality": k + 1, "status": "diverged",
                "best_epoch": bundle["best_epoch"][e], "epochs_run": bundle["epochs_run"]})
        users = (masks[:, k] & ~diverged).nonzero().squeeze(1).tolist()
        probed = [e for e in users if probe_models is None or e in probe_models]
        p_acc = p_ce = {}
        if probed:
            idx = torch.tensor(probed)
            probe = fit_probe(feats[k][idx][:, fit], yt[idx][:, fit], model.out_dim)
            acc, ce = probe_metrics(feats[k][idx][:, test], yt[idx][:, test], probe)
            p_acc = dict(zip(probed, acc.tolist()))
            p_ce = dict(zip(probed, ce.tolist()))
        for e in users:
            rows.append({
                "tag": bundle["tag"], "method": bundle["method"],
                "options": json_options(bundle["method_options"]),
                "overlap": specs[e].overlap, "seed": specs[e].seed, "subset": specs[e].subset,
                "modality": k + 1, "status": "ok",
                "val_acc": float(val_acc[e]), "val_ce": float(val_ce[e]),
                "test_acc": float(test_acc[e]), "test_ce": float(test_ce[e]),
                "probe_acc": p_acc.get(e), "probe_ce": p_ce.get(e),
                "best_epoch": bundle["best_epoch"][e], "epochs_run": bundle["epochs_run"],
            })
    return metrics_frame(rows, CLASSIFICATION_COLUMNS)


#: Columns of the per-(model, modality) metrics of a classification stack, in order.
CLASSIFICATION_COLUMNS = ("tag", "method", "options", "overlap", "seed", "subset", "modality",
                          "status", "val_acc", "val_ce", "test_acc", "test_ce", "probe_acc",
                          "probe_ce", "best_epoch", "epochs_run")


def json_options(options: dict) -> str:
    import json

    return json.dumps({k: v for k, v in sorted(options.items()) if k != "seed"}, sort_keys=True)


def gradient_frame(bundle: dict) -> pl.DataFrame:
    """The gradient-norm trace of a bundle: one row per (probe step, model, modality)."""
    if bundle["grad_multi"] is None:
        return pl.DataFrame()
    specs = [ClassificationSpec(**s) for s in bundle["specs"]]
    gm, gu = bundle["grad_multi"].numpy(), bundle["grad_uni"].numpy()  # [P, K, E]
    total = max(bundle["grad_steps"][-1], 1)
    rows = []
    for p, step in enumerate(bundle["grad_steps"]):
        for k in range(gm.shape[1]):
            for e, spec in enumerate(specs):
                if (gu[p, k, e] == 0 and gm[p, k, e] == 0) or np.isnan(gu[p, k, e]):
                    continue  # modality not in the subset, or the model had stopped
                rows.append({"tag": bundle["tag"], "method": bundle["method"],
                             "overlap": spec.overlap, "seed": spec.seed, "subset": spec.subset,
                             "modality": k + 1, "step": step, "progress": step / total,
                             "g_multi": float(gm[p, k, e]), "g_uni": float(gu[p, k, e])})
    return pl.DataFrame(rows)


def expand_variants(variants: dict) -> list[dict]:
    """Config variants -> one entry per trained configuration: {'variant', 'method', 'options',
    'tag'}; every combination of a variant's ``sweep`` values is one entry (tag names it)."""
    import itertools

    out = []
    for name, spec in variants.items():
        sweep = spec.get("sweep", {}) or {}
        keys = sorted(sweep)
        for values in itertools.product(*(sweep[k] for k in keys)) if keys else [()]:
            options = dict(spec.get("options", {}) or {}, **dict(zip(keys, values)))
            tag = name + "".join(f"_{k}{v:g}" if isinstance(v, (int, float)) else f"_{k}{v}"
                                 for k, v in zip(keys, values))
            out.append({"variant": name, "method": spec["method"], "options": options, "tag": tag})
    return out


def imbalance_specs(method: str, overlaps: list[float], seeds: list[int], n_modalities: int
                    ) -> list[ClassificationSpec]:
    """The models of one stack: every (overlap, seed) dataset, on all modalities, or one model
    per modality for ``unimodal``. Dataset index = overlap index * len(seeds) + seed index."""
    subsets = ([str(k + 1) for k in range(n_modalities)] if method == "unimodal"
               else ["+".join(str(k + 1) for k in range(n_modalities))])
    return [ClassificationSpec(dataset=i * len(seeds) + j, overlap=float(rho), seed=s, subset=sub)
            for i, rho in enumerate(overlaps) for j, s in enumerate(seeds) for sub in subsets]
