"""The device-cell tool's comparison of two runs of one cell (dgl.perf.device_cell), against
scipy's own t interval, and its refusals."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from scipy import stats

from dgl.perf.device_cell import compare_metrics, run_cell
from dgl.studies.main import MainStudy

SMALL = yaml.safe_load((Path(__file__).parent / "config" / "small.yaml").read_text())


def _metrics(test_acc, best_step):
    n = len(test_acc)
    return pl.DataFrame({"tag": ["joint"] * n, "overlap": [0.5] * n, "seed": list(range(n)),
                         "subset": ["1+2"] * n, "part": [0] * n, "test_acc": test_acc,
                         "best_step": best_step})


def test_identical_runs_compare_equal():
    run = _metrics([0.9, 0.8, 0.7], [100, 200, 300])
    out = compare_metrics(run, run)
    assert out["same_best_step"] == 1.0 and out["rows"] == 3
    assert out["test_acc_mean_diff"] == 0 and out["test_acc_max_abs_diff"] == 0


def test_differences_and_their_t_interval():
    """Mean difference and half-width equal scipy's one-sample t interval of the row
    differences; the largest differences over all rows and over rows whose best step agrees;
    a missing value (a diverged model) is left out."""
    ours = _metrics([0.90, 0.85, 0.70, 0.60, None], [100, 200, 300, 400, 500])
    theirs = _metrics([0.88, 0.86, 0.60, 0.61, 0.5], [100, 200, 250, 400, 500])
    diff = np.array([0.02, -0.01, 0.10, -0.01])
    low, high = stats.ttest_1samp(diff, 0).confidence_interval(0.95)
    out = compare_metrics(ours, theirs)
    assert out["same_best_step"] == pytest.approx(0.8)
    assert out["test_acc_mean_diff"] == pytest.approx(diff.mean())
    assert out["test_acc_ci95"] == pytest.approx((high - low) / 2)
    assert out["test_acc_max_abs_diff"] == pytest.approx(0.10)
    assert out["test_acc_max_abs_diff_same_step"] == pytest.approx(0.02)


def test_runs_of_different_cells_are_refused():
    run = _metrics([0.9, 0.8], [1, 2])
    with pytest.raises(ValueError, match="different rows"):
        compare_metrics(run, run.with_columns(pl.col("seed") + 1))
    with pytest.raises(ValueError, match="different rows"):
        compare_metrics(run, run.head(1))


def test_only_self_contained_studies_run(tmp_path):
    with pytest.raises(ValueError, match=r"one of \['huang2021', 'main'\]"):
        run_cell({}, "theory", "x", "cpu", tmp_path)


def test_an_unknown_cell_is_refused_with_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"cell 'nope' of main: one of \[.*'lazy_f1'"):
        run_cell(SMALL, "main", "nope", "cpu", tmp_path)


def test_a_cell_runs_whole_and_compares_equal_to_itself(tmp_path):
    """The small config's smallest main cell, drawn, trained and evaluated on the CPU: every
    row its grid makes, each phase timed, and a second run identical to the first."""
    metrics, seconds = run_cell(SMALL, "main", "control_f0.1", "cpu", tmp_path)
    cell = next(c for c in MainStudy.from_config(SMALL["main"]).cells()
                if c.name == "control_f0.1")
    assert metrics.height == cell.expected_rows()
    assert set(seconds) == {"data", "train", "evaluate"} and min(seconds.values()) > 0
    again, _ = run_cell(SMALL, "main", "control_f0.1", "cpu", tmp_path)
    assert compare_metrics(again, metrics)["same_best_step"] == 1.0
    assert again.equals(metrics)


def test_a_metric_empty_in_every_row_is_left_out():
    run = _metrics([0.9, 0.8], [1, 2]).with_columns(head_acc=pl.lit(None, dtype=pl.Float64))
    out = compare_metrics(run, run)
    assert "test_acc_mean_diff" in out and not any(k.startswith("head_acc") for k in out)
