"""A real single-node SLURM cluster on localhost for the scale-out test.

Needs Debian's ``slurm-wlm`` and ``munge`` packages (``.ci/run`` installs them where it runs
as root) and root to start the daemons. :func:`start` writes a slurm.conf (state, spool, logs
and pid files in a temporary folder) and installs it as /etc/slurm/slurm.conf when the machine
has none (the plugin's in-job ``srun`` reads only that), starts munged, slurmctld and slurmd,
and waits for the node to be idle; :func:`stop` kills exactly the daemons it started, by their
pid files, and removes the configuration it installed. The node offers its CPU cores and one GPU *resource* without a device (``Gres=gpu:1``
with ``Count=1``): jobs that request ``gres=gpu:1``, as the slurm profile's training jobs do,
are scheduled through SLURM's real GRES accounting and then train on the CPU (torch sees no
GPU here, and the profile's ``device=auto`` falls back to it).

Known traps (../shared/notes/slurm-local.md): without accounting the plugin's ``sacct`` status
query fails, so the test passes ``--slurm-status-command squeue`` with MinJobAge well above the
status wait; a short ``--slurm-init-seconds-before-status-checks`` keeps polling from dominating.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")


def missing_reason() -> str | None:
    """Why a cluster cannot be started here, or None."""
    absent = [b for b in BINARIES if shutil.which(b) is None
              and not Path("/usr/sbin", b).exists()]
    if absent:
        return ("SLURM is not installed (missing: " + ", ".join(absent) + "); install Debian's "
                "slurm-wlm and munge packages (.ci/run does: apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        return "starting munged, slurmctld and slurmd needs root; this test runs as a user"
    return None


@dataclass
class Cluster:
    root: Path
    conf: Path
    pid_files: list[Path]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


#: Where SLURM's client commands look for their configuration. Jobs started by the Snakemake
#: plugin call ``srun`` inside the job, which does not see a SLURM_CONF set by the submitter,
#: so the test cluster's configuration is written here (never over an existing one).
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")


def _write_conf(root: Path) -> Path:
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    mem_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(f"""ClusterName=mmtheory
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort=6917
SlurmdPort=6918
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=600
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName={host} CPUs={cpus} RealMemory={mem_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={host} MaxTime=INFINITE State=UP
""")
    (root / "gres.conf").write_text(f"NodeName={host} Name=gpu File=/dev/null\n")
    if SYSTEM_CONF.exists():
        raise RuntimeError(f"{SYSTEM_CONF} exists: this machine has a SLURM configuration of "
                           "its own, which the test will not replace")
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(conf, SYSTEM_CONF)
    shutil.copy(root / "gres.conf", SYSTEM_CONF.with_name("gres.conf"))
    return SYSTEM_CONF


def _start_munge() -> Path | None:
    """munged with Debian's default key, socket and pid file (the SLURM client libraries look
    there). Returns its pid file if this call started it, None if one was already running."""
    import pwd

    if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return None  # a munged answers already: not ours to stop
    user = pwd.getpwnam("munge")
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(os.urandom(1024))
    os.chown(key, user.pw_uid, user.pw_gid)
    os.chmod(key, 0o400)
    for folder in (Path("/run/munge"), Path("/var/lib/munge"), Path("/var/log/munge")):
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, user.pw_uid, user.pw_gid)
    subprocess.run(["runuser", "-u", "munge", "--", _binary("munged")], check=True,
                   capture_output=True, text=True, timeout=30)
    return Path("/run/munge/munged.pid")


def start(root: Path, timeout: float = 60.0) -> Cluster:
    """Start munged, slurmctld and slurmd under ``root``; raise RuntimeError with the logs
    if the node does not come up."""
    root.mkdir(parents=True, exist_ok=True)
    conf = _write_conf(root)  # RuntimeError if the machine has a SLURM configuration
    cluster = Cluster(root, conf, [])
    env = cluster.env
    try:
        munge_pid = _start_munge()
        if munge_pid is not None:
            cluster.pid_files.append(munge_pid)
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([_binary(daemon), "-f", str(conf)], check=True, capture_output=True,
                           text=True, timeout=30, env=env)
            cluster.pid_files.append(root / f"{daemon}.pid")
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                                 env=env, timeout=30)
            state = out.stdout.strip()
            if state.startswith("idle"):
                return cluster
            time.sleep(1)
        raise RuntimeError(f"node state {state!r} after {timeout:.0f} s")
    except Exception as err:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}"
                         for p in root.glob("*.log") if p.exists())
        stop(cluster)
        raise RuntimeError(f"single-node SLURM did not start: {err}\n{logs}") from None


def stop(cluster: Cluster) -> None:
    """Kill the daemons this cluster started (by their pid files only)."""
    for pid_file in reversed(cluster.pid_files):
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    if cluster.conf == SYSTEM_CONF:  # written by _write_conf: remove what we added
        SYSTEM_CONF.unlink(missing_ok=True)
        SYSTEM_CONF.with_name("gres.conf").unlink(missing_ok=True)
