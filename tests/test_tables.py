import polars as pl
import pytest

from dgl.studies.huang2021 import huang_table4, huang_table4_markdown, is_huang2021_setting


def metrics_frame():
    rows = []
    for enc, shift in (("linear", 0.0), ("relu", 5.0)):
        for seed, value in enumerate([100.0, 102.0, 104.0]):
            rows.append({
                "seed": seed, "subset": "1", "n_modalities": 1, "encoder": enc, "overlap": 0.0,
                "test_mse_model": value + shift + 1, "test_mse_refit": value + shift,
                "head_risk": value + shift - 1.5, "status": "ok", "converged": seed != 2,
                "eta_check": "ok", "bayes_mse_subset": 100.0, "ols_expected_mse": 101.0,
            })
    return pl.DataFrame(rows)


def test_table4_aggregates_and_checks_paper_tolerance():
    paper = pl.DataFrame({"subset": ["1"], "overlap": [0.0], "paper_mse": [95.0],
                          "paper_std": [1.0]})
    t = huang_table4(metrics_frame(), paper)
    r = t.row(0, named=True)
    assert r["linear_mean"] == pytest.approx(102.0) and r["linear_std"] == pytest.approx(2.0)
    assert r["relu_mean"] == pytest.approx(107.0) and r["linear_n_seeds"] == 3
    # |102 - 95| = 7 > max(3 * 1, 0.05 * 95 = 4.75)
    assert r["linear_within_paper_tol"] is False
    t2 = huang_table4(metrics_frame(), paper.with_columns(pl.lit(3.0).alias("paper_std")))
    assert t2["linear_within_paper_tol"][0] is True  # 7 <= 9
    assert r["linear_head_mean"] == pytest.approx(100.5) and r["linear_n_unconverged"] == 1
    md = huang_table4_markdown(t)
    assert "102.00 ± 2.00" in md and "outside paper tolerance" in md
    assert "best head 100.50 (1 not converged)" in md


def test_table4_without_paper_values():
    t = huang_table4(metrics_frame(), None)
    assert "linear_within_paper_tol" not in t.columns
    assert "not in the paper's setting" in huang_table4_markdown(t)


def test_paper_setting():
    assert is_huang2021_setting(4, 100, 7000, 3000)
    assert not is_huang2021_setting(3, 100, 7000, 3000)


def test_imbalance_selection_and_table_count_diverged_models():
    """A sweep point whose models all diverged is never chosen; a chosen variant with one
    diverged seed averages the others and reports the count."""
    from dgl.studies.imbalance import chosen_rows, imbalance_table, sweep_table

    rows = []
    for tag, alpha_acc in (("dgl_alpha1", 0.70), ("dgl_alpha8", None)):
        for seed in range(3):
            bad = alpha_acc is None or (tag == "dgl_alpha1" and seed == 2)
            for modality in (1, 2):
                rows.append({"setting": "s", "overlap": 0.0, "variant": "dgl", "tag": tag,
                             "options": "{}", "method": "dgl", "seed": seed, "subset": "1+2",
                             "modality": modality, "status": "diverged" if bad else "ok",
                             "val_acc": None if bad else alpha_acc + 0.01 * seed,
                             "test_acc": None if bad else 0.6,
                             "converged": not bad,
                             "probe_acc": None if bad else 0.5 + 0.1 * modality,
                             "probe_ce": None if bad else 1.0,
                             "probe_acc_train": None if bad else 0.45 + 0.1 * modality,
                             "probe_check": None if bad else "ok"})
    metrics = pl.DataFrame(rows, infer_schema_length=None)
    sweep = sweep_table(metrics)
    chosen = chosen_rows(metrics, sweep)
    assert set(chosen["tag"]) == {"dgl_alpha1"}
    assert sweep.filter(pl.col("tag") == "dgl_alpha8")["n_diverged"][0] == 3
    truth = pl.DataFrame({"setting": ["s"] * 3, "overlap": [0.0] * 3, "subset": ["1", "2", "1+2"],
                          "bayes_accuracy": [0.8, 0.7, 0.9], "bayes_accuracy_hw95": [0.001] * 3,
                          "bayes_cross_entropy": [0.5, 0.6, 0.3]})
    table = imbalance_table(chosen, truth)
    assert table["n_seeds"].to_list() == [2, 2] and table["n_diverged"].to_list() == [1, 1]
    assert table["probe_acc"].to_list() == pytest.approx([0.6, 0.7])
    assert table["probe_acc_train"].to_list() == pytest.approx([0.55, 0.65])
    assert table["n_unconverged"].to_list() == [0, 0]
