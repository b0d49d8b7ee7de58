"""Fixtures: a real reference commerce server and a scripted model on 127.0.0.1, and copydesk
itself served by uvicorn against them."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from app.api import create_app
from app.commerce.catalog import Catalog, load_catalog
from app.commerce.server import create_commerce_app
from app.config import REPO_ROOT, Settings
from tests.servers import ScriptedModel, ThreadedServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Faults:
    """Wraps an ASGI app so a test can make it fail, stall or count its requests."""

    def __init__(self, app) -> None:
        self.app = app
        self.mode = "ok"  # ok | error | slow
        self.delay_s = 0.0
        self.requests: list[str] = []

    def reset(self) -> None:
        self.mode, self.delay_s, self.requests = "ok", 0.0, []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.requests.append(scope["path"])
            if self.mode == "slow":
                await asyncio.sleep(self.delay_s)
            if self.mode == "error":
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b"down"})
                return
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(REPO_ROOT / "knowledge")


@pytest.fixture(scope="session")
def _commerce_server(catalog: Catalog) -> Iterator[tuple[ThreadedServer, Faults]]:
    faults = Faults(create_commerce_app(catalog))
    with ThreadedServer(faults) as server:
        yield server, faults


@pytest.fixture
def commerce(_commerce_server) -> Iterator[Faults]:
    """The reference commerce server; its URL is `commerce.url`."""
    server, faults = _commerce_server
    faults.reset()
    faults.url = server.url  # type: ignore[attr-defined]
    yield faults
    faults.reset()


@pytest.fixture(scope="session")
def _model_server() -> Iterator[tuple[ThreadedServer, ScriptedModel]]:
    model = ScriptedModel()
    with ThreadedServer(model.app()) as server:
        yield server, model


@pytest.fixture
def llm(_model_server) -> ScriptedModel:
    """The scripted OpenAI-compatible model; call `llm.script(...)` before a request."""
    server, model = _model_server
    model.script()
    model.url = server.url + "/v1"  # type: ignore[attr-defined]
    return model


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory) -> Path:
    """One knowledge index for the session, built from knowledge/ the way the service builds it."""
    from app.kb import open_knowledge

    path = tmp_path_factory.mktemp("index")
    open_knowledge(REPO_ROOT, path, None)
    return path


@pytest.fixture
def settings(llm, commerce, tmp_path: Path, index_dir: Path) -> Settings:
    return Settings(
        index_dir=index_dir,
        llm_base_url=llm.url,
        llm_model="scripted",
        llm_api_key="test",
        commerce_url=commerce.url,
        data_dir=tmp_path / "var",
        deadline_s=8.0,
        llm_call_timeout_s=5.0,
    )


@pytest.fixture
def start_api(tmp_path: Path) -> Iterator[Callable[..., httpx.Client]]:
    """Start copydesk on uvicorn with the given settings; returns an HTTP client for it."""
    started: list[tuple[ThreadedServer, httpx.Client]] = []

    def start(settings: Settings, **overrides) -> httpx.Client:
        server = ThreadedServer(create_app(replace(settings, **overrides))).start()
        client = httpx.Client(base_url=server.url, timeout=60)
        started.append((server, client))
        return client

    yield start
    for server, client in started:
        client.close()
        server.stop()


@pytest.fixture
def api(start_api, settings) -> httpx.Client:
    return start_api(settings)


def sms_request(**overrides) -> dict:
    body = {
        "request_id": "cart-123-sms",
        "channel": "sms",
        "locale": "zh-CN",
        "journey": "cart_abandon",
        "skus": ["SKU-1001"],
        "offer_id": "OFF-FREESHIP",
        "audience": {
            "segment": "hot",
            "interests": ["running"],
            "price_sensitivity": "high",
            "cs_topic": "sizing",
            "name": "张伟",
        },
        "variants": 2,
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="session")
def _postgres():
    """A real PostgreSQL for the session (skipped with the reason where the server is absent)."""
    from tests.pg import PostgresCluster, missing_reason

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(_postgres) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    return _postgres.database()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory) -> Iterator[str]:
    """A real `chroma run` on a free loopback port for the session; its URL (skipped where absent)."""
    import shutil
    import subprocess
    import sys

    from tests.servers import free_port

    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(exe).exists():
        pytest.skip("the chroma CLI (from the chromadb package) is not installed")
    path, port = tmp_path_factory.mktemp("chroma-server"), free_port()
    log = (path / "server.log").open("wb")
    cmd = [exe, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail("chroma run exited: " + (path / "server.log").read_text()[-2000:])
            try:
                if httpx.get(url + "/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
