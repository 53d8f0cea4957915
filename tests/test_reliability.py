"""Reliability of the workflow on the small config: determinism, resume after a kill, no
writes outside the work dir and results/, divergence recorded in the tables, provenance
sidecars, and the GPU and SLURM profiles (the SLURM one on a real single-node cluster)."""

import json
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from conftest import ROOT, SMALL, SMALL_RUN_FACTS, SNAKEMAKE, run_small

pytestmark = pytest.mark.workflow


def files(root: Path, sub: str = "results") -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / sub).rglob("*"))
            if p.is_file()}


def tables(root: Path) -> dict[str, bytes]:
    return files(root, "results/tables")


def test_resume_after_interrupt_is_byte_identical(small_run: Path, tmp_path: Path):
    """A second run, started from nothing, stopped by Ctrl-C once some training jobs have
    finished and then resumed with --rerun-incomplete, writes the fixture's results byte for
    byte. Every job of it runs in a process of its own, before or after the interrupt, so
    this is also the check that two independent runs of the workflow agree byte for byte (a
    separate uninterrupted second run cost CI another 2.5 to 3 minutes and checked nothing
    this does not)."""
    run = tmp_path / "run"
    cmd = SNAKEMAKE + ["--configfile", str(SMALL), "--directory", str(run), "--cores", "2"]
    # Snakemake's and its jobs' log lines go to a file: a pipe that nobody reads while the run
    # goes on fills (64 KiB) and stops the whole run until the deadline (seen once, in a full
    # suite: the interrupt came at 300 s with one training run finished)
    with (tmp_path / "interrupted.log").open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    runs = run / "work" / "huang2021" / "runs"
    while time.monotonic() < deadline and proc.poll() is None:
        if runs.exists() and len(list(runs.glob("*.pt"))) >= 2:
            break  # some jobs finished, others are running
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    assert len(list(runs.glob("*.pt"))) >= 2, "no two training jobs finished in 300 s"
    proc.send_signal(signal.SIGINT)  # Ctrl-C; Snakemake stops its jobs and exits
    proc.wait(timeout=120)
    assert proc.returncode != 0
    assert not (run / "results" / "README.md").exists()
    resumed = run_small(run, "--rerun-incomplete")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    first, second = files(small_run), files(run)
    assert first.keys() == second.keys()
    assert [n for n in first if first[n] != second[n]] == []


def test_nothing_written_outside_work_and_results(small_run: Path):
    before, after = SMALL_RUN_FACTS["checkout_before"], SMALL_RUN_FACTS["checkout_after"]
    changed = sorted(k for k in after.keys() | before.keys() if before.get(k) != after.get(k))
    assert changed == [], f"the run wrote into the checkout: {changed}"
    # nothing in $HOME but Snakemake's own source cache (~/.cache/snakemake, written by
    # Snakemake itself before the workflow is read; XDG_CACHE_HOME moves it)
    home = SMALL_RUN_FACTS["home"]
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert [p for p in written if not p.startswith(".cache/snakemake/")] == [], written
    top = {p.name for p in small_run.iterdir()}
    assert top <= {"work", "results", ".snakemake"}, top
    assert not list(small_run.rglob("*.tmp*")), "a temporary output file was left behind"


def test_provenance_sidecar_for_every_output(small_run: Path):
    results = small_run / "results"
    outputs = [p for p in results.rglob("*") if p.is_file() and "provenance" not in p.parts]
    config = yaml.safe_load(SMALL.read_text())
    from dgl.pipeline.provenance import config_sha256, file_sha256

    for out in outputs:
        side = results / "provenance" / f"{out.relative_to(results)}.json"
        record = json.loads(side.read_text())
        assert record["sha256"] == file_sha256(out)
        assert record["config_sha256"] == config_sha256(config)
        assert record["code_version"]
        assert {"python", "torch", "numpy", "polars", "snakemake"} <= record["packages"].keys()
    huang = json.loads((results / "provenance/tables/huang_table4.csv.json").read_text())
    truth = json.loads((results / "provenance/tables/ground_truth.csv.json").read_text())
    assert huang["devices"] == ["cpu"] and truth["devices"] == ["none"]


def test_divergence_is_reported_not_averaged(tmp_path: Path):
    """A learning rate of 1e30 makes every model of every training study diverge (Huang: the
    loss overflows; main and theory: a finite blow-up or an overflow). The run exits 0, every
    table of the three studies is written, says 'diverged' for each model and holds no number
    computed from them."""
    cfg = yaml.safe_load(SMALL.read_text())
    for study in ("huang2021", "main", "theory"):
        cfg[study]["train"]["lr"] = 1e30
    path = tmp_path / "diverge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_small(tmp_path / "run", config=path)  # every table and figure
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "run/results/tables"
    runs = pl.read_csv(out / "huang_table4_runs.csv")
    assert runs.height == 54 and (runs["status"] == "diverged").all()
    assert runs["test_mse_refit"].null_count() == runs.height
    table = pl.read_csv(out / "huang_table4.csv")
    assert (table["linear_n_diverged"] == 3).all() and (table["linear_n_seeds"] == 0).all()
    assert table["linear_mean"].null_count() == table.height
    md = (out / "huang_table4.md").read_text()
    assert md.count("(3 diverged)") == 2 * 9 and "never averaged in: 54." in md
    main = pl.read_csv(out / "main_runs.csv").filter(pl.col("variant") != "random")
    assert main.height and (main["status"] == "diverged").all()
    assert main["test_acc"].null_count() == main.height
    methods = pl.read_csv(out / "main_methods.csv").filter(pl.col("row") != "random")
    assert (methods["n_seeds"] == 0).all() and (methods["n_diverged"] > 0).all()
    for name in ("table1_accuracy_by_subset.csv", "table2_gamma.csv", "crossover.csv"):
        assert (out / name).exists(), name
    assert "diverged" in (out / "table1_accuracy_by_subset.md").read_text()


def test_a_truncated_intermediate_is_named(small_run: Path, tmp_path: Path):
    """Truncate one per-model metrics file of a finished run: the rerun stops at the table
    that reads it, naming the file and saying to delete it and rerun, instead of computing a
    table from it; deleting it and rerunning repairs the run."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run, symlinks=True)
    target = run / "work/huang2021/metrics/rho0_linear.csv"
    text = target.read_text().splitlines(keepends=True)
    target.write_text("".join(text[: len(text) // 2]))
    proc = run_small(run)
    assert proc.returncode != 0
    assert "intermediate work/huang2021/metrics/rho0_linear.csv" in proc.stderr
    assert "Delete work/huang2021/metrics/rho0_linear.csv and rerun" in proc.stderr
    target.unlink()
    repaired = run_small(run)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert tables(run) == tables(small_run)


def _dry_run_resources(profile: str, tmp_path: Path) -> dict[str, str]:
    proc = subprocess.run(SNAKEMAKE + ["--configfile", str(SMALL), "--directory", str(tmp_path),
                                       "--profile", str(ROOT / "workflow/profiles" / profile),
                                       "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out, rule, resources = proc.stdout, None, {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.startswith("resources:") and rule:
            resources.setdefault(rule, line)
    return resources


def test_gpu_profile_gives_the_gpu_to_training_jobs_only(tmp_path: Path):
    resources = _dry_run_resources("gpu", tmp_path)
    train = {"train"}
    assert train <= resources.keys()
    for rule, line in resources.items():
        assert ("gpu=1" in line) == (rule in train), (rule, line)


@dataclass
class SlurmRun:
    """The SLURM test's Snakemake run, started in the background (see :func:`slurm_run`)."""

    cluster: Any
    directory: Path
    log: Path
    proc: subprocess.Popen


def _slurm_missing() -> str | None:
    """Why the SLURM test cannot run here, or None."""
    import importlib.util

    import slurm_cluster as cluster_mod

    reason = cluster_mod.missing_reason()
    if reason is None and importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        reason = ("snakemake-executor-plugin-slurm is not installed (pip install -c "
                  "constraints.txt -e '.[test]' installs it)")
    return reason


@pytest.fixture(scope="module", autouse=True)
def slurm_run(request, tmp_path_factory):
    """The small config's Huang study through --profile workflow/profiles/slurm on a
    single-node SLURM on localhost (tests/slurm_cluster.py), started as this module starts:
    the run spends most of its time waiting on the plugin's status polls (about 3 min alone,
    a minute of it jobs), so it runs while this module's other runs use the CPU, and
    :func:`test_slurm_profile_on_a_real_cluster` waits for it. Yields a :class:`SlurmRun`, or
    the reason it could not start (that test then skips; the others run)."""
    import tempfile

    import slurm_cluster as cluster_mod

    if not any(item.name == test_slurm_profile_on_a_real_cluster.__name__
               for item in request.session.items):
        yield "the SLURM test is not selected"
        return
    reason = _slurm_missing()
    if reason:
        yield reason
        return
    root = Path(tempfile.mkdtemp(prefix="mmtheory-slurm-", dir="/tmp"))
    try:
        cluster = cluster_mod.start(root)
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        yield f"the SLURM daemons could not run on this machine: {err}"
        return
    run = tmp_path_factory.mktemp("slurm") / "slurm_run"
    cmd = SNAKEMAKE + ["results/tables/huang_table4.md", "results/figures/huang_mse_vs_overlap.png",
                       "--configfile", str(SMALL), "--directory", str(run),
                       "--profile", str(ROOT / "workflow/profiles/slurm"),
                       # this test cluster: no accounting (status from squeue), no accounts,
                       # fast first status check (polling dominates small runs)
                       "--slurm-status-command", "squeue", "--slurm-no-account",
                       "--slurm-init-seconds-before-status-checks", "1", "--jobs", "8"]
    log = run.parent / "snakemake.log"  # a file, not a pipe: nobody reads it while it runs
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True,
                                env=cluster.env)
    try:
        yield SlurmRun(cluster, run, log, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Snakemake ignores SIGTERM while it waits on jobs
            proc.wait(timeout=120)
        cluster_mod.stop(cluster)


def test_slurm_profile_on_a_real_cluster(small_run: Path, slurm_run):
    """The small config's Huang study through the SLURM profile (every job an sbatch job:
    data, training, evaluation, tables and figure; training jobs on the gpu partition with
    gres=gpu:1) gives the local run's tables. (One study: the whole small config took 7
    minutes of the CI budget through this cluster's status polling.)"""
    if isinstance(slurm_run, str):
        pytest.skip(slurm_run)
    try:
        slurm_run.proc.wait(timeout=1200)
    except subprocess.TimeoutExpired:
        slurm_run.proc.send_signal(signal.SIGINT)
        slurm_run.proc.wait(timeout=120)
        pytest.fail("the SLURM run did not finish in 20 min:\n"
                    + slurm_run.log.read_text()[-3000:])
    assert slurm_run.proc.returncode == 0, slurm_run.log.read_text()[-4000:]
    jobs = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True,
                          text=True, env=slurm_run.cluster.env).stdout.splitlines()
    train = [j for j in jobs if "rule_train_" in j]  # the plugin's comment: rule_<name>_...
    assert train and all("Partition=gpu" in j and "gres:gpu:1" in j for j in train), train[:2]
    others = [j for j in jobs if "rule_train_" not in j and "Partition=cpu" in j]
    assert others and all("gres:gpu" not in j for j in others)
    local, remote = tables(small_run), tables(slurm_run.directory)
    assert {f"results/tables/huang_table4{s}" for s in (".csv", ".md", "_runs.csv")} <= set(remote)
    assert [n for n in remote if local[n] != remote[n]] == []
