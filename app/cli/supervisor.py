"""`copydesk serve`'s process tree, on uvicorn's server and worker supervisor with the failure
semantics an operator expects:

- a worker dies with its supervisor however the supervisor dies (Linux's parent-death signal, and
  a watch on the parent as a second line, as gunicorn's workers do); a dead worker is replaced;
- the first SIGTERM drains: /readyz answers 503 at once, the port keeps accepting for
  `drain_s` (a load balancer's probe notices), every response closes its keep-alive connection,
  then the listener closes and in-flight requests finish within `grace_s`; a second SIGTERM (or
  SIGINT) ends it at once; SIGINT alone skips the drain (Ctrl-C in a terminal).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from socket import socket
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import SIGNALS, Multiprocess, Process

from app.api.lifecycle import DRAIN

log = logging.getLogger("copydesk.serve")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_WATCH_S = 0.5


def die_with_parent(parent_pid: int) -> None:
    """SIGTERM this process when `parent_pid` is no longer its parent (it died, even by kill -9)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    def watch() -> None:  # elsewhere the only line; on Linux a second one
        while os.getppid() == parent_pid:
            time.sleep(PARENT_WATCH_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class CopydeskServer(uvicorn.Server):
    """uvicorn's server with a drain before the listener closes and a second signal that ends it."""

    def __init__(self, config: uvicorn.Config, *, drain_s: float, supervisor_pid: int | None = None) -> None:
        super().__init__(config)
        self.drain_s = drain_s
        self.supervisor_pid = supervisor_pid
        self._exit_at: float | None = None

    def orphaned(self) -> bool:
        return self.supervisor_pid is not None and os.getppid() != self.supervisor_pid

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if DRAIN.draining:
            if not self.orphaned():  # an operator's second signal; the parent watch's is a repeat
                log.warning("second signal %s: stopping without waiting for requests in flight", sig)
                self.force_exit = self.should_exit = True
            return
        self._captured_signals.append(sig)
        DRAIN.begin()
        if sig == signal.SIGTERM and self.drain_s > 0 and not self.orphaned():
            log.info("SIGTERM: /readyz answers 503; the listener closes in %.1f s", self.drain_s)
            self._exit_at = time.monotonic() + self.drain_s
        else:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)


class CopydeskProcess(Process):
    """A worker: a CopydeskServer that dies with the supervisor that started it."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket], *, drain_s: float) -> None:
        self.supervisor_pid = os.getpid()
        self.drain_s = drain_s
        super().__init__(config, sockets)

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = CopydeskServer(
                self.config, drain_s=self.drain_s, supervisor_pid=self.supervisor_pid
            )
        return self._server

    def target(self, sockets: list[socket] | None = None) -> None:  # in the worker
        die_with_parent(self.supervisor_pid)
        super().target(sockets)


class CopydeskSupervisor(Multiprocess):
    """uvicorn's supervisor (dead workers replaced, SIGHUP restarts) with CopydeskProcess workers,
    the drain, the grace period and the second signal."""

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket], *, drain_s: float, grace_s: float
    ) -> None:
        super().__init__(config, sockets)
        self.drain_s = drain_s
        self.grace_s = grace_s
        self._wake = threading.Event()  # a signal is handled at once, not at the next half second
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.signal_queue.append(sig)
        self._wake.set()

    def new_process(self) -> CopydeskProcess:
        return CopydeskProcess(self.config, self.sockets, drain_s=self.drain_s)

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            process = self.new_process()
            process.start()
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung or dead
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker [%s] failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            log.warning("worker [%s] died (exit code %s); starting another", process.pid, process.exitcode)
            replacement = self.new_process()
            replacement.start()
            self.processes[idx] = replacement

    def restart_all(self) -> None:
        """SIGHUP: each worker replaced, its replacement ready before the old one drains."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self.new_process()
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[idx] = new

    def handle_ttin(self) -> None:
        self.processes_num += 1
        process = self.new_process()
        process.start()
        self.processes.append(process)

    def run(self) -> None:
        log.info("supervisor [%d] starting %d workers", os.getpid(), self.processes_num)
        self.init_processes()
        while not self.should_exit.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self.handle_signals()
            self.keep_subprocess_alive()
        self.terminate_all()  # SIGTERM: each worker drains, then finishes what is in flight
        self._wait_for_workers()
        log.info("supervisor [%d] stopped", os.getpid())

    def _wait_for_workers(self) -> None:
        started = time.monotonic()
        close_at, kill_at = started + self.drain_s, started + self.drain_s + self.grace_s + 5.0
        listening = True
        while any(p.process.is_alive() for p in self.processes):
            now = time.monotonic()
            if listening and now >= close_at:
                listening = self._close_sockets()
            if self.signal_queue:  # a second SIGTERM or SIGINT: the workers stop now
                self.signal_queue.clear()
                self._signal_workers(signal.SIGTERM)
            if now >= kill_at:
                log.error("workers still running %.0f s after SIGTERM: killed", now - started)
                self._signal_workers(signal.SIGKILL)
            time.sleep(0.1)
        self._close_sockets()

    def _close_sockets(self) -> bool:
        """The supervisor's copy of the listening socket: while open, the kernel would queue new
        connections that no worker accepts any more."""
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        return False

    def _signal_workers(self, sig: int) -> None:
        for p in self.processes:
            if p.process.is_alive() and p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, sig)
