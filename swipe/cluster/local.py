"""A Ray cluster of its own on this machine (`ray start --head`), to submit jobs to as on a cluster.

The head runs with `--block` under this process, on private ports and a private temp dir,
with token authentication as on a real cluster. Stopping it ends every process whose
command line names its temp dir — never another Ray on the machine (`ray stop` would stop
them all, the test suite's own Ray included).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the checkout: jobs are submitted with it as working dir


def free_port() -> int:
    """A TCP port no process on this machine listens on now (any address)."""
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _env(token_path: Path) -> dict[str, str]:
    """The CLI's environment: this virtualenv first on PATH (jobs run `python` from it), and
    token authentication, Ray's default since 2.59, with this cluster's own token (`ray start`
    makes none: on a machine where no `ray.init` had left ~/.ray/auth_token it refused to start)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    return env | {"PATH": bin_dir + os.pathsep + env.get("PATH", ""), "RAY_AUTH_MODE": "token",
                  "RAY_AUTH_TOKEN_PATH": str(token_path)}


class LocalCluster:
    """A one-node Ray cluster started with `ray start --head`, stopped on exit."""

    def __init__(self, num_cpus: int = 2, log: Path | None = None, env: dict[str, str] | None = None):
        """`env`: variables of the node's environment, which every worker inherits — how a
        secret such as WANDB_API_KEY should reach jobs (a job's runtime_env is logged in
        plain text by Ray's runtime-env agent; measured)."""
        self.num_cpus, self.env = num_cpus, env or {}
        self.temp_dir = Path(tempfile.mkdtemp(prefix="swipe-ray-", dir="/tmp"))  # short: socket paths
        self.dashboard = f"http://127.0.0.1:{free_port()}"
        self.log = log or self.temp_dir / "head.log"
        self.token_path = self.temp_dir / "auth_token"  # private to this cluster: its head and its CLI calls
        self.token_path.write_text(secrets.token_hex(32))
        self.token_path.chmod(0o600)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "LocalCluster":
        ray_cli = str(Path(sys.executable).parent / "ray")
        cmd = [ray_cli, "start", "--head", f"--port={free_port()}", f"--num-cpus={self.num_cpus}",
               "--include-dashboard=true", f"--dashboard-port={self.dashboard.rsplit(':', 1)[1]}",
               f"--temp-dir={self.temp_dir}", "--disable-usage-stats", "--block"]
        # every port its own: another Ray on this machine (the test suite's) holds the defaults
        cmd += [f"--{p}={free_port()}" for p in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                  "runtime-env-agent-port", "metrics-export-port",
                                                  "ray-client-server-port", "node-manager-port",
                                                  "object-manager-port")]
        self.proc = subprocess.Popen(cmd, env=_env(self.token_path) | self.env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 90
        while self.cli("job", "list", check=False).returncode != 0:  # the job server answers
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ray start --head did not come up; see {self.log}:\n{self.log.read_text()[-2000:]}")
            time.sleep(1)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def cli(self, *args: str, check: bool = True, timeout: float = 900, log: Path | None = None
            ) -> subprocess.CompletedProcess:
        """`ray ARGS --address <this cluster>`, from the repository root."""
        cmd = [str(Path(sys.executable).parent / "ray"), *args[:2], "--address", self.dashboard, *args[2:]]
        out = subprocess.run(cmd, cwd=ROOT, env=_env(self.token_path), capture_output=True, text=True, timeout=timeout)
        if log is not None:
            log.write_text(out.stdout + out.stderr)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({out.returncode}):\n{(out.stdout + out.stderr)[-3000:]}")
        return out

    def submit(self, job_id: str, entrypoint: list[str], wait: bool = True, log: Path | None = None,
               env: dict[str, str] | None = None) -> str:
        """Submit `entrypoint` with this checkout as working dir (and `env` in its runtime
        environment); with `wait`, its final status."""
        args = ["job", "submit", "--working-dir", ".", "--submission-id", job_id] + ([] if wait else ["--no-wait"])
        if env:
            args += ["--runtime-env-json", json.dumps({"env_vars": env})]
        deadline = time.monotonic() + 120
        while True:
            out = self.cli(*args, "--", *entrypoint, check=False, log=log)
            # the job server answers before the node's agent that runs jobs is up
            if "No available agent" not in out.stdout + out.stderr or time.monotonic() > deadline:
                break
            time.sleep(2)
        return self.status(job_id) if wait else "SUBMITTED" if out.returncode == 0 else "FAILED"

    def status(self, job_id: str) -> str:
        """SUCCEEDED, FAILED, STOPPED, RUNNING, PENDING (or UNKNOWN), from `ray job status`."""
        out = self.cli("job", "status", job_id, check=False)
        line = next((ln for ln in (out.stdout + out.stderr).splitlines() if f"Job '{job_id}'" in ln), "").lower()
        for word, status in (("succeeded", "SUCCEEDED"), ("failed", "FAILED"), ("stopped", "STOPPED"),
                             ("running", "RUNNING"), ("pending", "PENDING")):
            if word in line:
                return status
        return "UNKNOWN"

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM to the head's process group; after `grace_s`, SIGKILL to anything still naming
        this cluster's temp dir. Nothing of a throwaway cluster needs a graceful end, and Ray's raylet
        and GCS took 10 and 32 s to end on SIGTERM here (`ray stop` waits 16 s, then kills)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        pids = _pids_naming(str(self.temp_dir))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5.0
        while pids and time.monotonic() < deadline and _pids_naming(str(self.temp_dir)):
            time.sleep(0.2)
        if self.proc is not None and self.proc.poll() is None:  # (poll reaps it: no zombie names the temp dir)
            self.proc.kill()
            self.proc.wait(5)

    def leftover_processes(self) -> list[int]:
        return _pids_naming(str(self.temp_dir))


def _pids_naming(text: str) -> list[int]:
    """PIDs whose command line contains `text` (Linux /proc)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if text in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids
