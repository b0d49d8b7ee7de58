"""Real `copydesk serve` processes for the failure tests (and benchmarks/resilience_bench.py):
start one, find its workers, see who listens on a port, wait for a process to go away."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.config import REPO_ROOT


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid`, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def listeners(port: int) -> list[int]:
    """PIDs holding a socket that listens on 127.0.0.1:`port` (or any address)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(cols[9])
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                pids.append(int(entry.name))
                break
    return pids


def wait_until(predicate, timeout_s: float, step_s: float = 0.05) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


def serve(
    port: int, env: dict[str, str], log: Path, *, workers: int = 1, ready_s: float = 180
) -> subprocess.Popen:
    """`copydesk serve` on 127.0.0.1:`port` with `env` on top of this one's; returns once /healthz
    answers (and, with several workers, once every worker is up)."""
    full = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", **env}
    cmd = [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=full, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    end = time.monotonic() + ready_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"copydesk serve exited with {proc.returncode}: " + log.read_text()[-3000:])
        try:
            up = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            up = False
        if up and (workers == 1 or log.read_text().count("Application startup complete") >= workers):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("copydesk serve did not start: " + log.read_text()[-3000:])


def stop(proc: subprocess.Popen, timeout_s: float = 60, *, graceful: bool = True) -> None:
    """SIGTERM, then SIGKILL if it is still there; its workers with it. Not `graceful`: SIGKILL at once."""
    workers = children(proc.pid)
    if not graceful and proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in workers:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
