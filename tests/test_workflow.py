"""The whole Snakemake workflow on a small config, checked against the exact ground truth."""

import subprocess
from pathlib import Path

import polars as pl
import pytest

from synth import all_subsets, format_subset, make_law

from conftest import SMALL, SNAKEMAKE

#: Tolerance of a linear-encoder cell (mean over seeds of the refit test MSE) around the
#: least-squares expectation r*(S)(1 + p/(n - p - 1)): 10 % + 0.01. Each seed's test MSE has a
#: relative sd of about sqrt(2 / n_test) = 2.2 % here, so this is > 5 sd of the seed mean.
REL_TOL, ABS_TOL = 0.10, 0.01


@pytest.mark.workflow
def test_linear_cells_match_least_squares_and_bayes(small_run: Path):
    table = pl.read_csv(small_run / "results/tables/huang_table4.csv")
    assert table.height == 9  # 3 subsets x 3 overlaps
    for r in table.iter_rows(named=True):
        law = make_law("huang_overlap", n_modalities=3, dim=4, overlap=r["overlap"])
        subset = tuple(int(m) - 1 for m in r["subset"].split("+"))
        assert r["bayes_mse"] == pytest.approx(law.bayes_mse(subset), abs=1e-9)
        assert r["linear_mean"] == pytest.approx(r["ols_expected_mse"], rel=REL_TOL, abs=ABS_TOL)
        # no model beats the Bayes risk beyond test noise
        assert r["relu_mean"] >= 0.9 * r["bayes_mse"] - ABS_TOL
        assert r["linear_n_seeds"] == r["relu_n_seeds"] == 3
    runs = pl.read_csv(small_run / "results/tables/huang_table4_runs.csv")
    assert runs.height == 9 * 2 * 3
    assert (runs["best_step"] >= 1).all()
    # eta's infimum: exact for linear encoders, never above a model's own risk beyond noise
    assert (runs.filter(pl.col("encoder") == "linear")["eta_method"] == "exact").all()
    assert (runs["eta_check"] == "ok").all()
    assert (runs["head_risk"] <= runs["test_mse_model"] + 0.05 * runs["test_mse_model"]).all()
    md = (small_run / "results/tables/huang_table4.md").read_text()
    assert md.startswith("| Modalities |") and "not in the paper's setting" in md


@pytest.mark.workflow
def test_bayes_table_covers_every_subset(small_run: Path):
    bayes = pl.read_csv(small_run / "results/tables/bayes_risk_all_subsets.csv")
    assert bayes.columns == ["overlap", "subset", "n_modalities", "bayes_mse"]
    assert bayes.height == 7 * 3
    for r in bayes.iter_rows(named=True):
        law = make_law("huang_overlap", n_modalities=3, dim=4, overlap=r["overlap"])
        subset = tuple(int(m) - 1 for m in r["subset"].split("+"))
        assert r["bayes_mse"] == pytest.approx(law.bayes_mse(subset), abs=1e-5)
    assert set(bayes["subset"]) == {format_subset(s) for s in all_subsets(3)}
    assert (small_run / "results/figures/huang_mse_vs_overlap.png").stat().st_size > 10_000


@pytest.mark.workflow
def test_rerun_has_nothing_to_do(small_run: Path):
    proc = subprocess.run(
        SNAKEMAKE + ["--configfile", str(SMALL), "--directory", str(small_run), "--cores", "1",
                     "--dry-run"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.workflow
def test_lint_is_clean(tmp_path: Path):
    proc = subprocess.run(
        SNAKEMAKE + ["--configfile", str(SMALL), "--directory", str(tmp_path), "--lint"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Congratulations" in proc.stdout + proc.stderr


@pytest.mark.workflow
def test_ground_truth_tables(small_run: Path):
    truth = pl.read_csv(small_run / "results/tables/ground_truth.csv",
                        schema_overrides={"subset": pl.String, "snr": pl.String})
    # settings 'equal' (K=2: 3 subsets) and 'three' (K=3: 7 subsets), 2 overlaps x 2 synergies
    assert truth.height == (3 + 7) * 2 * 2
    assert (truth["bayes_accuracy_hw95"] < 0.01).all()
    assert ((truth["bayes_accuracy"] > 0.25) & (truth["bayes_accuracy"] <= 1)).all()
    pid = pl.read_csv(small_run / "results/tables/ground_truth_pid.csv",
                      schema_overrides={"group_a": pl.String, "group_b": pl.String})
    atoms = pid["redundancy"] + pid["unique_a"] + pid["unique_b"] + pid["synergy"]
    assert (atoms - pid["i_ab"]).abs().max() < 1e-5  # CSV keeps 6 decimals
    md = (small_run / "results/tables/ground_truth.md").read_text()
    assert md.count("— held") == 3 and "NOT held" not in md, md[:2000]
    assert (small_run / "results/figures/pid_vs_overlap.png").stat().st_size > 10_000
    reg = pl.read_csv(small_run / "results/tables/pid_regression.csv")
    assert set(reg["overlap"]) == {0.0, 0.5, 1.0}


@pytest.mark.workflow
def test_main_study_tables(small_run: Path):
    tables = small_run / "results/tables"
    text = {"regime": pl.String, "row": pl.String, "chosen_tag": pl.String}
    methods = pl.read_csv(tables / "main_methods.csv", schema_overrides=text)
    # 2 regimes x 2 overlaps x 2 fractions; rows: 5 fused methods, 2 unimodal, random
    assert methods.height == 2 * 2 * 2 * 8
    assert set(methods["row"]) == {"joint", "dgl", "dgl_pid", "ogm_ge", "ume", "unimodal_m1",
                                   "unimodal_m2", "random"}
    assert (methods["n_seeds"] == 2).all() and (methods["n_eta_violations"] == 0).all()
    # no fused method beats the Bayes accuracy of all modalities beyond test noise (1000 rows)
    assert (methods["fused_acc"] <= methods["bayes_acc_all"] + 0.05).all()
    # eta of a trained weak encoder is not below 0 beyond noise (Bayes CE of all modalities)
    assert (methods["weak_eta"].drop_nulls() > -0.05).all()
    lazy = pl.read_csv(tables / "main_laziness.csv", schema_overrides={"regime": pl.String})
    assert lazy.height == 2 * 2 * 2 * 2  # regime x overlap x fraction x modality
    assert ((lazy["gap_lo"] <= lazy["gap"]) & (lazy["gap"] <= lazy["gap_hi"])).all()
    assert (lazy["gap"] - (lazy["unimodal_acc"] - lazy["joint_acc"])).abs().max() < 1e-4
    pairs = pl.read_csv(tables / "main_paired.csv", schema_overrides={"regime": pl.String})
    assert set(pairs["comparison"]) == {"dgl - joint", "dgl_pid - dgl", "dgl_pid - joint",
                                        "best fused - best unimodal"}
    assert set(pairs["verdict"]) <= {"A better", "B better", "within noise"}
    grads = pl.read_csv(tables / "gradients.csv", schema_overrides={"regime": pl.String,
                                                                     "variant": pl.String})
    assert not set(grads["variant"]) & {"unimodal", "ume"}  # equal by construction: left out
    assert (grads["g_uni_end"] > 0).all()
    md = (tables / "main.md").read_text()
    assert "DGL+PID prediction" in md and "laziness gap" in md
    for fig in ("main_curves", "main_heatmap", "gradient_ratio"):
        assert (small_run / f"results/figures/{fig}.png").stat().st_size > 10_000


@pytest.mark.workflow
def test_theory_tables_readme_and_report(small_run: Path):
    tables = small_run / "results/tables"
    for name in ("table1_accuracy_by_subset", "table2_gamma", "table3_sample_size",
                 "table4_eta_by_overlap", "linear_case", "theorem1_bound", "crossover"):
        assert (tables / f"{name}.csv").stat().st_size > 0
        head = (tables / f"{name}.md").read_text().split("\n\n")[1]
        assert head  # the computed line stating the prediction tested
    gamma = pl.read_csv(tables / "table2_gamma.csv", schema_overrides={"M": pl.String, "N": pl.String})
    # 2 modalities: pairs (1+2, 1) and (1+2, 2); 3 fractions; 2 overlaps; 4 task/encoder cells
    # (regression linear and relu, classification relu, reversal relu)
    assert gamma.height == 2 * 3 * 2 * 4
    assert (gamma["gamma_lo"] <= gamma["gamma"]).all() and (gamma["gamma"] <= gamma["gamma_hi"]).all()
    assert set(gamma["verdict"]) <= {"held beyond noise", "within noise", "violated beyond noise"}
    runs = pl.read_csv(tables / "theory_runs.csv", schema_overrides={"subset": pl.String})
    # the best head's cross-entropy can't beat the subset's Bayes CE beyond the test noise
    cls = runs.filter(pl.col("kind") == "classification")
    assert (cls["head_risk"] >= cls["bayes_risk_subset"] - 0.05).all()
    assert "Reversal task `reversal`" in (tables / "table3_sample_size.md").read_text()
    lin = runs.filter(pl.col("encoder") == "linear")
    assert (lin["eta_method"] == "exact").all()
    readme = (small_run / "results/README.md").read_text()
    for fig in ("eta_vs_overlap", "accuracy_vs_fraction", "gamma_vs_fraction", "gradient_ratio"):
        assert f"figures/{fig}.png" in readme
    assert "Theory study" in readme and "linear case" in readme
    proc = subprocess.run(
        SNAKEMAKE + ["--configfile", str(SMALL), "--directory", str(small_run), "--report",
                     "results/report.html"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (small_run / "results/report.html").read_text(errors="ignore")
    assert len(html) > 100_000 and "gamma_vs_fraction" in html
