"""`import dgl` resolving to another package (the Deep Graph Library) must fail loudly."""

import subprocess
import sys
from pathlib import Path


def test_foreign_dgl_is_refused(tmp_path: Path):
    fake = tmp_path / "dgl"
    fake.mkdir()
    (fake / "__init__.py").write_text("# stands in for the Deep Graph Library\n")
    proc = subprocess.run(
        [sys.executable, "-c", "import mmtheory"],
        env={"PYTHONPATH": str(tmp_path), "PATH": ""}, cwd=tmp_path,
        capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "not mmtheory's dgl package" in proc.stderr
    assert "Deep Graph Library" in proc.stderr


def test_own_dgl_is_accepted():
    proc = subprocess.run([sys.executable, "-c", "import mmtheory, dgl; print(dgl.MMTHEORY_PACKAGE)"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "mmtheory"
