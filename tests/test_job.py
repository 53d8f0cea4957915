"""A workflow job's process start (dgl.pipeline.job.start_job), run in a process of its own."""

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT

JOB = textwrap.dedent("""
    import atexit, gc, logging, sys
    from dgl.pipeline.job import start_job

    def unfrozen(objects):  # gc.get_objects() leaves out the permanent generation
        tracked = {id(o) for o in gc.get_objects()}
        return sum(id(o) in tracked for o in objects)

    # registered before start_job, so it runs after start_job's own exit handler
    atexit.register(lambda: print("exit", unfrozen(made), len(made)))
    before = len(gc.get_objects())
    start_job(sys.argv[1])
    print("frozen", gc.get_freeze_count() >= before, len(gc.get_objects()) < 100)
    made = [[] for _ in range(1000)]  # the job's own objects, tracked and still alive at exit
    logging.info("the job's last line")
""")


def test_start_job_freezes_imports_and_exit_and_keeps_the_log(tmp_path: Path):
    """start_job moves every object alive (the imports) out of the collector's reach, does it
    again at exit for the job's own objects (at least the 1 000 lists it made), and the log
    still gets its last line (logging flushes at exit, after the freeze)."""
    log = tmp_path / "logs" / "job.log"
    proc = subprocess.run([sys.executable, "-c", JOB, str(log)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[0] == "frozen True True"
    assert lines[1] == "exit 0 1000"
    assert log.read_text().rstrip().endswith("the job's last line")
    assert "the job's last line" in proc.stderr
