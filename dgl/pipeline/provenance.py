"""Provenance sidecars: what produced each table and figure under results/.

For every output ``results/<path>`` the workflow writes ``results/provenance/<path>.json``:

- ``sha256``: of the output file itself (ties the sidecar to these exact bytes);
- ``config_sha256``: of the whole validated config (canonical JSON, sorted keys), with the
  config file's name; the same config gives the same hash on any machine;
- ``code_version``: ``git describe --always --dirty`` of the workflow's checkout (``-dirty``:
  uncommitted changes were present), or the package version outside a git checkout;
- ``packages``: Python and the versions of the packages the numbers depend on;
- ``devices``: the devices the models were trained on, read from the per-model metrics
  (``cpu``, ``cuda``), or ``none`` for outputs that train nothing.

Nothing time-dependent is recorded, so two runs of the same code and config give identical
sidecars (the determinism test compares them too).
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "numpy", "scipy", "polars", "matplotlib", "snakemake", "mmtheory")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_sha256(config: dict) -> str:
    """Hash of a config as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def code_version(root: str | Path) -> str:
    """``git describe --always --dirty`` of ``root``, else the installed package version."""
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=30, check=True)
        return "git " + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"mmtheory {metadata.version('mmtheory')} (not a git checkout)"


@functools.cache  # read once per process, not once per output file
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def sidecar(path: str | Path, config: dict, config_file: str, code: str,
            devices: list[str]) -> dict:
    """The provenance record of one output file."""
    return {
        "file": str(path),
        "sha256": file_sha256(path),
        "config_file": config_file,
        "config_sha256": config_sha256(config),
        "code_version": code,
        "packages": dict(package_versions()),
        "devices": sorted(set(devices)) or ["none"],
    }
