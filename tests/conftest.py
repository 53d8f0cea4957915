import os
import subprocess
import sys
from pathlib import Path

import pytest

import mmtheory  # noqa: F401  (the suite stops at once if `dgl` is the Deep Graph Library)

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "config" / "small.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
#: What may change in the checkout while a run writes elsewhere: Python's own bytecode caches.
IGNORED = ("__pycache__", ".git", ".venv", ".pytest_cache", ".snakemake", "work", "results",
           ".egg-info", ".ruff_cache")


def tree(root: Path) -> dict[str, float]:
    """Files under ``root`` (outside the ignored folders) and their modification times."""
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")
            if p.is_file() and not any(part.endswith(IGNORED) for part in p.parts)}


def run_small(directory: Path, *extra: str, home: Path | None = None, timeout: float = 900,
              config: Path = SMALL) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"HOME": str(home)} if home else {})}
    return subprocess.run(SNAKEMAKE + ["--configfile", str(config), "--directory", str(directory),
                                       "--cores", "2", *extra],
                          capture_output=True, text=True, timeout=timeout, env=env)


#: Facts recorded by the small_run fixture (files of the checkout before/after, its HOME).
SMALL_RUN_FACTS: dict = {}


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """The small config run once, with a fresh HOME; the checkout's files are recorded before
    and after in SMALL_RUN_FACTS for the no-writes-outside test."""
    work = tmp_path_factory.mktemp("small_study")
    home = tmp_path_factory.mktemp("home")
    before = tree(ROOT)
    proc = run_small(work, home=home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    SMALL_RUN_FACTS.update(checkout_before=before, checkout_after=tree(ROOT), home=home)
    return work
