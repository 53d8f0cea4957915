import numpy as np
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


def _main_rows(effect_at: dict[float, float], seeds=range(4)) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-(model, part) rows of the main study for one regime and fraction: joint, dgl,
    dgl_pid, unimodal_m2 and random, with the weak modality's (2) head CE of dgl_pid below
    dgl's by ``effect_at[overlap]`` (plus a seed-dependent wobble)."""
    rows = []
    for rho in effect_at:
        for seed in seeds:
            for variant, method, subset in (("joint", "joint", "1+2"), ("dgl", "dgl", "1+2"),
                                            ("dgl_pid", "dgl_pid", "1+2"),
                                            ("unimodal", "unimodal", "2"),
                                            ("random", "joint", "1+2")):
                ce = {"joint": 1.0, "dgl": 0.9, "random": 2.0, "unimodal": 0.8,
                      "dgl_pid": 0.9 - effect_at[rho]}[variant] + 0.01 * seed * (variant == "dgl_pid")
                acc = {"joint": 0.50, "dgl": 0.55, "random": 0.2, "unimodal": 0.60,
                       "dgl_pid": 0.56}[variant] + 0.001 * seed
                for part in ([2] if subset == "2" else [0, 1, 2]):
                    rows.append({"regime": "lazy", "fraction": 1.0, "n_train": 100,
                                 "overlap": rho, "seed": seed, "variant": variant,
                                 "tag": variant, "method": method, "subset": subset,
                                 "part": part, "chosen": True, "status": "ok",
                                 "converged": True, "val_acc": acc, "test_acc": acc,
                                 "test_ce": ce, "head_acc": acc if part == 2 else 0.9,
                                 "head_ce": ce if part == 2 else 0.2, "head_check": "ok"})
    truth = pl.DataFrame({"setting": ["lazy"] * 3 * len(effect_at),
                          "overlap": [r for r in effect_at for _ in range(3)],
                          "subset": ["1", "2", "1+2"] * len(effect_at),
                          "bayes_accuracy": [0.99, 0.6, 0.995] * len(effect_at),
                          "bayes_cross_entropy": [0.05, 0.7, 0.03] * len(effect_at)})
    return pl.DataFrame(rows, infer_schema_length=None), truth


def test_main_tables_against_hand_computed_differences():
    from dgl.studies.main import (chosen_models, laziness_table, methods_table, paired_table,
                                  weak_modalities)

    metrics, truth = _main_rows({0.0: 0.2, 1.0: 0.0})
    chosen = chosen_models(metrics)
    assert weak_modalities(truth) == {"lazy": 2}
    lazy = laziness_table(chosen, truth).filter(pl.col("modality") == 2)
    # unimodal 0.60 + 0.001 s, joint 0.50 + 0.001 s: a gap of exactly 0.10 at every seed
    assert lazy["gap"].to_list() == pytest.approx([0.10, 0.10])
    assert lazy["headroom"].to_list() == pytest.approx([0.40, 0.40])
    methods = methods_table(chosen, truth)
    dgl = methods.filter((pl.col("row") == "dgl") & (pl.col("overlap") == 0.0))
    assert dgl["weak_eta"][0] == pytest.approx(0.9 - 0.03)  # head CE - Bayes CE of all
    assert dgl["fused_eta"][0] == pytest.approx(0.2 - 0.03)
    pairs = paired_table(chosen, truth)
    eta = pairs.filter((pl.col("comparison") == "dgl_pid - dgl") & (pl.col("measure") == "weak_eta"))
    # per seed: -0.2 + 0.01 s at rho 0 (s = 0..3): mean -0.185, t interval with 3 df
    from scipy import stats
    d = np.array([-0.2 + 0.01 * s for s in range(4)])
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    row = eta.filter(pl.col("overlap") == 0.0).row(0, named=True)
    assert (row["diff"], row["lo"], row["hi"]) == pytest.approx((d.mean(), d.mean() - half,
                                                                 d.mean() + half))
    assert row["verdict"] == "A better"  # lower eta is better
    acc = pairs.filter((pl.col("comparison") == "dgl - joint") & (pl.col("measure") == "fused_acc"))
    assert acc["diff"].to_list() == pytest.approx([0.05, 0.05]) and set(acc["verdict"]) == {"A better"}


def test_pid_prediction_can_hold_and_can_fail():
    from dgl.studies.main import chosen_models, pid_prediction

    held, truth = _main_rows({0.0: 0.2, 1.0: 0.0})
    assert pid_prediction(chosen_models(held), truth)["verdict"].to_list() == ["held"]
    against, truth = _main_rows({0.0: 0.0, 1.0: 0.2})
    assert pid_prediction(chosen_models(against), truth)["verdict"].to_list() == ["contradicted"]


def test_main_choice_never_takes_a_diverged_point():
    from dgl.studies.main import choose_points

    class Stack:  # what choose_points reads of a trained stack
        def __init__(self, tag, diverged):
            from dgl.train.stack import CellSpec
            self.plan = type("P", (), {"tag": tag, "variant": "dgl",
                                       "specs": (CellSpec(0.0, 0, "1+2"), CellSpec(0.0, 1, "1+2"))})
            self.diverged = diverged

    stacks = [Stack("dgl_alpha1", (False, False)), Stack("dgl_alpha4", (True, True)),
              Stack("dgl_alpha8", (False, False))]
    fused = {"dgl_alpha1": {"val_acc": np.array([0.5, 0.6])},
             "dgl_alpha4": {"val_acc": np.array([0.9, 0.9])},
             "dgl_alpha8": {"val_acc": np.array([0.6, 0.5])}}
    assert choose_points(stacks, fused) == {("dgl_alpha1", 0.0)}  # tie: the first point
