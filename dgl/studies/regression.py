"""Evaluation of a trained regression stack (Huang et al. Table 4 and the theory study).

For a frozen encoder g (the masked, concatenated features of a model's subset S):

- eta(g) = inf_h r(h o g) - r*(all K modalities) (Huang et al. 2021; r*(h* o g*) = r*([K])),
  with inf_h exact or estimated on fresh rows (:mod:`dgl.studies.latent`), checked against
  the model's own risk;
- the least-squares head refit on the model's own training features (the paper's Table 4
  protocol, what a practitioner gets), its test MSE r_hat(g) and eta_train_refit =
  r_hat(g) - r*([K]): head-estimation error included, so not eta;
- the excess of that refit over r*(S) and the least-squares expectation
  r*(S)(1 + p/(n - p - 1)) for p = rank Cov(x_S).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from dgl.studies.common import metrics_frame, training_columns
from dgl.studies.latent import EtaConfig, regression_head_risks
from dgl.train.heads import (
    fit_linear_head,
    float64_copy,
    head_mse,
    model_features,
    ols_expected_mse,
)
from dgl.train.stack import TrainedStack, dataset_positions, map_rows, restore
from synth.datasets import Datasets
from synth.law import LinearGaussianLaw
from synth.subsets import format_subset, parse_subset


def _features(model, e: int, x_e: torch.Tensor, parts: tuple[slice, ...]) -> list[np.ndarray]:
    """Model e's frozen features on its inputs ``x_e`` [n, D], on the rows of each of
    ``parts`` (one model at a time, so no stack of every model's features is held);
    ``model``: the stack in float64 (:func:`~dgl.train.heads.float64_copy`, made once)."""
    sub = model.submodel([e])
    return [model_features(sub, x_e[None, rows])[0] for rows in parts]


#: Columns of the per-model metrics of a regression stack, in order.
REGRESSION_COLUMNS = ("seed", "subset", "n_modalities", "encoder", "status", "converged",
                      "test_mse_model", "head_risk", "eta", "eta_method", "eta_check", "eta_gap",
                      "eta_gap_lo", "eta_gap_hi", "test_mse_refit", "eta_train_refit",
                      "bayes_mse_subset", "bayes_mse_all", "excess_over_subset_bayes",
                      "ols_expected_mse", "n_inputs_rank", "n_fit", "n_test", "best_step",
                      "best_epoch", "steps_run", "epochs_run")


def regression_metrics(stack: TrainedStack, datasets: Datasets, law: LinearGaussianLaw,
                       eta: EtaConfig) -> pl.DataFrame:
    """One row per model: its end-to-end test MSE, eta (the best head's risk - r*([K]), with
    its check), the test MSE of the least-squares head refit on its training features and
    its excess over r*(S), the least-squares expectation, and how training ended; a diverged
    model gets only what the law and the split say."""
    restored = restore(stack)
    model = restored.model
    heads = regression_head_risks(stack, restored, {s.overlap: law for s in stack.plan.specs},
                                  datasets, eta)
    splits = stack.plan.splits
    everything = np.arange(splits.n_total)
    used = np.r_[everything[splits.fit_rows()], everything[splits.test_rows()]]
    group = dataset_positions(stack.plan, datasets)
    x = datasets.x[:, used]  # fit and test rows only (no validation), every dataset once
    pred = map_rows(model, x, group)[..., 0].double().numpy()
    fit, test = slice(0, splits.n_fit), slice(splits.n_fit, len(used))  # positions in ``used``
    model64 = float64_copy(model)
    bayes_all = law.bayes_mse(tuple(range(law.n_modalities)))
    subsets = {s.subset: parse_subset(s.subset, law.n_modalities) for s in stack.plan.specs}
    exact = {name: (law.bayes_mse(sub), law.input_rank(sub)) for name, sub in subsets.items()}
    rows = []
    for e, spec in enumerate(stack.plan.specs):
        subset = subsets[spec.subset]
        bayes, p = exact[spec.subset]  # r*(S) and rank Cov(x_S): once per subset
        row = {"seed": spec.seed, "subset": format_subset(subset), "n_modalities": len(subset),
               "encoder": stack.plan.model.encoder, **training_columns(stack, e),
               "bayes_mse_subset": bayes, "bayes_mse_all": bayes_all}
        if not stack.diverged[e]:  # a diverged model: only what the law and the split say
            y_e = datasets.y[group[e]][used]
            feats = _features(model64, e, torch.as_tensor(x[group[e]], dtype=torch.float32),
                              (fit, test))
            beta, c = fit_linear_head(feats[0], y_e[fit])
            refit = head_mse(feats[1], y_e[test], beta, c)
            row.update(test_mse_model=float(np.mean((pred[e][test] - y_e[test]) ** 2)),
                       **heads[e].columns(bayes_all), test_mse_refit=refit,
                       eta_train_refit=refit - bayes_all, excess_over_subset_bayes=refit - bayes)
        row.update(ols_expected_mse=ols_expected_mse(bayes, p, splits.n_fit), n_inputs_rank=p,
                   n_fit=splits.n_fit, n_test=splits.n_test)
        rows.append(row)
    return metrics_frame(rows, REGRESSION_COLUMNS)
