"""Grid thinning of the scaling benchmark (dgl.perf.scaling)."""

from pathlib import Path

import pytest
import yaml

from dgl.perf.scaling import count_models, scaled_config

SMALL = yaml.safe_load((Path(__file__).parent / "config" / "small.yaml").read_text())


def test_model_count_of_the_small_config_by_hand():
    # Huang: 3 overlaps x 2 encoders x 3 seeds x 3 subsets. Main, per dataset and fraction:
    # unimodal 2 + joint + dgl x2 (alpha sweep) + dgl_pid + ogm_ge + ume = 8 per regime, 2
    # regimes; x 2 overlaps x 2 seeds x 2 fractions. Theory: 2 overlaps x 3 fractions x 3 seeds x (2 encoders x 3 subsets
    # of K=2 regression + 1 encoder x 3 subsets of K=2 classification + 1 encoder x 3 subsets of
    # the K=2 reversal task).
    assert count_models(SMALL) == {"huang2021": 54, "main": 128, "theory": 216}


def test_scaled_config_thins_only_the_grid():
    full = sum(count_models(SMALL).values())
    assert scaled_config(SMALL, 1.0) == SMALL
    half = scaled_config(SMALL, 0.5)
    for study in ("huang2021", "main", "theory"):
        assert len(half[study]["seeds"]) >= 2
        assert set(half[study]["overlaps"]) <= set(SMALL[study]["overlaps"])
        assert half[study]["seeds"] == SMALL[study]["seeds"][: len(half[study]["seeds"])]
    assert half["theory"]["fractions"] == SMALL["theory"]["fractions"]
    assert half["huang2021"]["train"] == SMALL["huang2021"]["train"]
    assert 0.3 < sum(count_models(half).values()) / full < 0.7
    with pytest.raises(ValueError, match="fraction"):
        scaled_config(SMALL, 0.0)


LOG = """Select jobs to execute...
Execute 2 jobs...

[Fri Nov 27 18:39:29 2026]
localrule data:
    output: work/theory/data/reversal_rho1.npz
    jobid: 94
    reason: Missing output files
[Fri Nov 27 18:39:29 2026]
rule train:
    output: work/x.pt
    jobid: 13
[Fri Nov 27 18:39:32 2026]
Finished jobid: 94 (Rule: data)
1 of 3 steps (33%) done
[Fri Nov 27 18:39:40 2026]
Finished jobid: 13 (Rule: train)
2 of 3 steps (67%) done
[Fri Nov 27 18:39:50 2026]
localrule all:
    jobid: 0
[Fri Nov 27 18:39:51 2026]
Finished jobid: 0 (Rule: all)
"""


def test_job_intervals_and_busy_time_from_a_snakemake_log():
    """Three jobs read from a log in Snakemake 9's format; the time some job ran is the union
    of their intervals (29-40 and 50-51: 12 s), checked against a second-by-second count."""
    from dgl.perf.scaling import busy_seconds, job_intervals

    jobs = job_intervals(LOG)
    assert sorted(b - a for a, b in jobs) == [1.0, 3.0, 11.0]
    t0 = min(a for a, _ in jobs)
    seconds = {int(t - t0) for a, b in jobs for t in range(int(a), int(b))}
    assert busy_seconds(jobs) == len(seconds) == 12
    assert busy_seconds([]) == 0
