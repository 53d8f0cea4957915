"""Evaluation of a trained regression stack (Huang et al. Table 4 and the theory study).

For a frozen encoder g (the masked, concatenated features of a model's subset S),
inf_h r(h o g) over linear heads is approximated by the least-squares head refit on the
training features, and its risk by the test MSE:

    r_hat(g) = mean over test rows of (y - g(x) beta_hat - c_hat)^2,
    eta(g)   = r_hat(g) - r*(all K modalities)    (Huang et al. 2021; r*(h* o g*) = r*([K])),

beside the excess over the Bayes risk of the model's own subset, r_hat(g) - r*(S), and the
least-squares expectation r*(S)(1 + p/(n - p - 1)) for p = rank Cov(x_S).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from dgl.studies.common import metrics_frame
from dgl.train.heads import fit_linear_head, head_mse, model_features, ols_expected_mse
from dgl.train.stack import TrainedStack, model_inputs, restore
from synth.datasets import Datasets
from synth.law import LinearGaussianLaw
from synth.subsets import format_subset, parse_subset

#: Columns of the per-model metrics of a regression stack, in order.
REGRESSION_COLUMNS = ("seed", "subset", "n_modalities", "encoder", "status", "test_mse_model",
                      "test_mse_refit", "bayes_mse_subset", "bayes_mse_all", "eta",
                      "excess_over_subset_bayes", "ols_expected_mse", "n_inputs_rank", "n_fit",
                      "n_test", "best_epoch", "epochs_run")


def regression_metrics(stack: TrainedStack, datasets: Datasets, law: LinearGaussianLaw
                       ) -> pl.DataFrame:
    """One row per model: its end-to-end test MSE, the test MSE of the least-squares head
    refit on its frozen features (training rows only), eta, the excess over r*(S) and the
    least-squares expectation; a diverged model gets only what the law and the split say."""
    model = restore(stack).model
    group, x = model_inputs(stack, datasets)
    xt = torch.as_tensor(x, dtype=torch.float32)
    feats = model_features(model, xt)
    with torch.no_grad():
        pred = model(xt)[..., 0].double().numpy()
    splits = stack.plan.splits
    fit, test = splits.fit_rows(), splits.test_rows()
    bayes_all = law.bayes_mse(tuple(range(law.n_modalities)))
    rows = []
    for e, spec in enumerate(stack.plan.specs):
        subset = parse_subset(spec.subset, law.n_modalities)
        bayes, p = law.bayes_mse(subset), law.input_rank(subset)
        row = {"seed": spec.seed, "subset": format_subset(subset), "n_modalities": len(subset),
               "encoder": stack.plan.model.encoder, "status": "ok"}
        if stack.diverged[e]:  # only what the law and the split say, nothing measured
            row.update(status="diverged", bayes_mse_subset=bayes, bayes_mse_all=bayes_all)
        else:
            y_e = datasets.y[group[e]]
            beta, c = fit_linear_head(feats[e][fit], y_e[fit])
            refit = head_mse(feats[e][test], y_e[test], beta, c)
            row.update(test_mse_model=float(np.mean((pred[e][test] - y_e[test]) ** 2)),
                       test_mse_refit=refit, bayes_mse_subset=bayes, bayes_mse_all=bayes_all,
                       eta=refit - bayes_all, excess_over_subset_bayes=refit - bayes)
        row.update(ols_expected_mse=ols_expected_mse(bayes, p, splits.n_fit), n_inputs_rank=p,
                   n_fit=splits.n_fit, n_test=splits.n_test, best_epoch=stack.best_epoch[e],
                   epochs_run=stack.epochs_run)
        rows.append(row)
    return metrics_frame(rows, REGRESSION_COLUMNS)
