"""Failure semantics with real processes, each started and killed here: the supervisor's kill -9
takes its workers, SIGTERM drains under load, a killed worker is replaced and its request taken
over, PostgreSQL restarting under load is a clean 503, the model's overload a prompt fallback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import sms_request
from tests.procs import alive, children, listeners, serve, stop, wait_until
from tests.servers import Reply, free_port

GOOD_SMS = "{name}，您购物车里的{product}还在等您，{offer}。"


def slow_ok(seconds: float):
    return lambda _: Reply(content=json.dumps({"body": GOOD_SMS}, ensure_ascii=False), stall_s=seconds)


def serve_env(settings, **extra: str) -> dict[str, str]:
    return {
        "COPYDESK_LLM_BASE_URL": settings.llm_base_url,
        "COPYDESK_LLM_MODEL": "scripted",
        "COPYDESK_LLM_API_KEY": "test",
        "COPYDESK_COMMERCE_URL": settings.commerce_url,
        "COPYDESK_INDEX_DIR": str(settings.index_dir),
        "COPYDESK_DATA_DIR": str(settings.data_dir),
        "COPYDESK_DEADLINE_S": "20",
        "COPYDESK_LLM_TIMEOUT_S": "20",
        "COPYDESK_LOG_FORMAT": "json",
        **extra,
    }


def post(url: str, body: dict, timeout: float = 60) -> httpx.Response:
    with httpx.Client(timeout=timeout) as c:  # a connection of its own, as separate clients have
        return c.post(url + "/v1/generate", json=body)


def test_kill_9_of_the_supervisor_takes_its_workers_off_the_port(settings, llm, tmp_path):
    llm.script(default=slow_ok(0.5))
    port = free_port()
    proc = serve(port, serve_env(settings), tmp_path / "serve.log", workers=2)
    url = f"http://127.0.0.1:{port}"
    workers = children(proc.pid)
    try:
        assert len(workers) >= 2, workers
        assert set(listeners(port)) >= {proc.pid}
        with ThreadPoolExecutor(6) as pool:  # under load
            bodies = [sms_request(request_id=f"k{i}", variants=1) for i in range(6)]
            pending = [pool.submit(post, url, b, 10) for b in bodies]
            time.sleep(0.3)
            proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            proc.wait(timeout=10)
            assert wait_until(lambda: not listeners(port), 3.0), f"still listening: {listeners(port)}"
            assert time.monotonic() - killed < 3.0
            for f in pending:
                f.exception()  # answered or cut; either way done
        assert wait_until(lambda: not any(alive(w) for w in workers), 3.0), [w for w in workers if alive(w)]
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/healthz", timeout=1)
    finally:
        stop(proc)
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)


def test_sigterm_under_load_answers_every_request_in_flight(settings, llm, tmp_path):
    llm.script(default=slow_ok(1.5))
    port = free_port()
    env = serve_env(settings, COPYDESK_SHUTDOWN_DRAIN_S="1", COPYDESK_SHUTDOWN_GRACE_S="20")
    proc = serve(port, env, tmp_path / "serve.log", workers=2)
    url = f"http://127.0.0.1:{port}"
    workers = children(proc.pid)
    try:
        assert httpx.get(url + "/readyz", timeout=10).status_code == 200
        with ThreadPoolExecutor(12) as pool:
            pending = [pool.submit(post, url, sms_request(request_id=f"t{i}", variants=1)) for i in range(12)]
            assert wait_until(lambda: len(llm.calls) >= 12, 20), len(llm.calls)  # all in flight
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # the supervisor passes it on at once; each worker drains on its own
            ready = httpx.get(url + "/readyz", timeout=5)  # draining: still accepting, not ready
            assert ready.status_code == 503 and ready.json()["draining"] is True, ready.text
            assert ready.headers["connection"] == "close"
            answers = [f.result() for f in pending]
        assert [a.status_code for a in answers] == [200] * 12, [a.text for a in answers]
        assert all(a.json()["variants"][0]["source"] == "llm" for a in answers)
        proc.wait(timeout=30)
        assert not listeners(port)
        assert wait_until(lambda: not any(alive(w) for w in workers), 5.0)
    finally:
        stop(proc)


@pytest.mark.slow  # ~100 s on 2 loaded cores: three workers start
def test_a_killed_worker_is_replaced_and_the_retry_takes_its_request_over(settings, llm, tmp_path):
    llm.script(Reply(stall_s=60, content="{}"), default=slow_ok(0.0))
    port = free_port()
    env = serve_env(settings, COPYDESK_CLAIM_LEASE_S="1")
    proc = serve(port, env, tmp_path / "serve.log", workers=2)
    url = f"http://127.0.0.1:{port}"
    body = sms_request(request_id="worker-dies", variants=1)
    try:
        before = set(children(proc.pid))
        lost: list[BaseException] = []
        sender = threading.Thread(target=lambda: _post_or_record(url, body, lost))
        sender.start()
        assert wait_until(lambda: bool(llm.calls), 30), "no worker asked the model"
        db = sqlite3.connect(settings.data_dir / "copydesk.db")
        (owner,) = db.execute("SELECT owner FROM idempotency WHERE request_id = 'worker-dies'").fetchone()
        db.close()
        holder = int(owner.split(":")[1])
        assert holder in before
        os.kill(holder, signal.SIGKILL)
        sender.join(timeout=20)
        assert lost, "the killed worker should not have answered"
        started = time.monotonic()
        retry = post(url, body)
        assert retry.status_code == 200, retry.text
        assert retry.json()["variants"][0]["source"] == "llm"
        assert time.monotonic() - started < 1.0 + 8.0  # the lease, then one generation on a busy machine
        replaced = lambda: set(children(proc.pid)) - before and len(children(proc.pid)) >= 2  # noqa: E731
        assert wait_until(replaced, 60), "the dead worker was not replaced"
    finally:
        stop(proc, graceful=False)


def _post_or_record(url: str, body: dict, lost: list[BaseException]) -> None:
    try:
        post(url, body, timeout=90)
    except httpx.HTTPError as exc:
        lost.append(exc)


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own, to stop and start (the session's is shared)."""
    from tests.pg import PostgresCluster, missing_reason

    if reason := missing_reason():
        pytest.skip(reason)
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


class Load:
    """Clients sending new requests back to back until stopped; every answer kept with its time."""

    def __init__(self, send, clients: int) -> None:
        self.send = send
        self.answers: list[tuple[float, str, int, dict, dict]] = []  # (t, request_id, status, headers, body)
        self.errors: list[tuple[float, str, str]] = []
        self._stop = threading.Event()
        self._count = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=120)

    def _next_id(self) -> str:
        with self._lock:
            self._count += 1
            return f"load-{self._count}"

    def _run(self, n: int) -> None:
        while not self._stop.is_set():
            request_id = self._next_id()
            try:
                resp = self.send(request_id, n)
            except httpx.HTTPError as exc:
                self.errors.append((time.monotonic(), request_id, repr(exc)))
                continue
            body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
            self.answers.append((time.monotonic(), request_id, resp.status_code, dict(resp.headers), body))

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> list[int]:
        return [s for t, _, s, _, _ in self.answers if since <= t < until]


def test_postgres_restarted_under_load_is_a_503_with_retry_after_and_the_pool_reconnects(
    start_api, settings, llm, own_postgres
):
    from dataclasses import replace

    from app.store.database import open_database

    llm.script(default=slow_ok(0.1))
    url = own_postgres.database()
    api = start_api(replace(settings, database_url=url, database_timeout_s=1.0))

    def send(request_id: str, _: int) -> httpx.Response:
        return api.post("/v1/generate", json=sms_request(request_id=request_id, variants=1), timeout=30)

    with Load(send, clients=4) as load:
        assert wait_until(lambda: load.statuses().count(200) >= 8, 30), load.statuses()
        own_postgres.halt("fast")
        down = time.monotonic()  # requests already past their audit write may still be answered 200
        time.sleep(3)
        assert api.get("/readyz").json()["checks"]["database"]["ready"] is False
        up = time.monotonic()
        own_postgres.resume()
        assert wait_until(lambda: 200 in load.statuses(since=time.monotonic() - 0.5), 20), load.statuses(up)
        recovered = min(t for t, _, s, _, _ in load.answers if s == 200 and t > up)
        time.sleep(1)
    statuses = load.statuses()
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert not load.errors, load.errors[:3]
    during = load.statuses(down + 1.0, up)
    assert during and set(during) == {503}, during
    for _, _, status, headers, body in load.answers:
        if status == 503:
            assert body["error"]["code"] == "database_unavailable" and int(headers["retry-after"]) >= 1
    assert recovered - up < 10, recovered - up  # the pool reconnected by itself
    db = open_database(url, settings.data_dir)
    try:
        recorded = {r[0] for r in db.fetchall("SELECT generation_id FROM generations WHERE status = 'ok'")}
    finally:
        db.close()
    sent = [body["generation_id"] for _, _, status, _, body in load.answers if status == 200]
    assert len(sent) >= 10 and set(sent) <= recorded  # no copy left without its audit record
    assert api.get("/readyz").json()["checks"]["database"]["ready"] is True


def _shed_count(api, reason: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for s in family.samples:
            if s.name == "copydesk_model_shed_total" and s.labels.get("reason") == reason:
                total += s.value
    return total


def test_overload_falls_back_at_once_when_the_queue_would_outlast_the_deadline(start_api, settings, llm):
    from dataclasses import replace

    llm.script(default=slow_ok(1.5))
    api = start_api(replace(settings, llm_concurrency=2, deadline_s=6.0, llm_call_timeout_s=6.0))
    for i in range(2):  # the service learns how long a call takes
        assert (
            api.post("/v1/generate", json=sms_request(request_id=f"warm{i}", variants=1)).status_code == 200
        )
    shed_before = _shed_count(api, "overload")
    llm.script(default=slow_ok(1.5))

    def timed(i: int) -> tuple[float, httpx.Response]:
        started = time.monotonic()
        resp = post(api.base_url.__str__().rstrip("/"), sms_request(request_id=f"burst{i}", variants=1))
        return time.monotonic() - started, resp

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(timed, range(8)))
    assert [r.status_code for _, r in answers] == [200] * 8
    variants = [(s, r.json()["variants"][0]) for s, r in answers]
    shed = [(s, v) for s, v in variants if "overload" in v["source_reason"]]
    served = [(s, v) for s, v in variants if v["source"] == "llm"]
    assert shed, [v["source_reason"] for _, v in variants]
    assert len(shed) + len(served) == 8, [v["source_reason"] for _, v in variants]
    assert all(v["source"] == "fallback" and s < 2.0 for s, v in shed), [
        (s, v["source_reason"]) for s, v in shed
    ]
    assert len(llm.calls) == len(served)  # no call was made for the shed ones
    assert all(s < 6.0 + 1.0 for s, _ in served)
    assert _shed_count(api, "overload") - shed_before == len(shed)


def test_a_429_beyond_the_deadline_falls_back_at_once_and_spares_the_next_calls(start_api, settings, llm):
    llm.script(Reply(status=429, content="slow down", retry_after="60"), default=slow_ok(0.0))
    api = start_api(settings)
    before = _shed_count(api, "rate_limited")
    started = time.monotonic()
    first = api.post("/v1/generate", json=sms_request(request_id="limited-1", variants=1))
    took = time.monotonic() - started
    assert first.status_code == 200, first.text
    variant = first.json()["variants"][0]
    assert variant["source"] == "fallback" and "rate_limited" in variant["source_reason"], variant
    assert "Retry-After" in variant["source_reason"]
    assert took < 2.0 and len(llm.calls) == 1
    second = api.post("/v1/generate", json=sms_request(request_id="limited-2", variants=1))
    assert second.json()["variants"][0]["source"] == "fallback"
    assert len(llm.calls) == 1  # the provider's wait is still running: not asked again
    assert _shed_count(api, "rate_limited") - before == 2


@pytest.fixture
def own_chroma(tmp_path):
    """A `chroma run` of this test's own, to stop (the session's is shared)."""
    import shutil
    import subprocess
    import sys

    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(exe).exists():
        pytest.skip("the chroma CLI (from the chromadb package) is not installed")
    port = free_port()
    cmd = [exe, "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=(tmp_path / "chroma.log").open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/api/v2/heartbeat", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(up, 60), (tmp_path / "chroma.log").read_text()[-2000:]
    proc.url = url  # type: ignore[attr-defined]
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_chroma_stopped_copy_from_the_facts_without_reviews_said_so(start_api, settings, llm, own_chroma):
    from dataclasses import replace

    llm.script(default=slow_ok(0.0))
    api = start_api(replace(settings, chroma_url=own_chroma.url))
    body = sms_request(request_id="with-reviews", variants=1)
    before = api.post("/v1/generate", json=body)
    assert before.status_code == 200, before.text
    assert before.json()["knowledge"]["reviews"] == "used"
    assert any(i.startswith("R-") for i in before.json()["snippet_ids"])

    own_chroma.terminate()
    own_chroma.wait(timeout=20)
    assert wait_until(lambda: api.get("/readyz").status_code == 503, 10)
    ready = api.get("/readyz").json()
    assert ready["missing"] == ["knowledge"], ready
    assert "does not answer" in ready["checks"]["knowledge"]["detail"]

    after = api.post("/v1/generate", json=sms_request(request_id="without-reviews", variants=1))
    assert after.status_code == 200, after.text
    answer = after.json()
    assert answer["knowledge"]["reviews"] == "unavailable"
    assert answer["snippet_ids"] and not any(i.startswith("R-") for i in answer["snippet_ids"])  # facts only
    assert answer["variants"][0]["source"] == "llm"
    record = api.get(f"/v1/generations/{answer['generation_id']}").json()
    assert record["knowledge"]["reviews"] == "unavailable"


def _llama_servers() -> list[int]:
    """This test process's embedded model servers."""
    found = []
    for pid in children(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"app.llm.llama_server" in cmdline and alive(pid):
            found.append(pid)
    return found


@pytest.mark.model
@pytest.mark.slow  # ~30 s, more on a loaded machine: the model itself answers twice
def test_the_embedded_model_killed_is_restarted_meanwhile_fallback(start_api, settings, tmp_path):
    from dataclasses import replace

    embedded = replace(settings, llm_base_url=None, llm_model=None, llm_api_key=None, deadline_s=20.0,
                       llm_call_timeout_s=20.0, data_dir=tmp_path / "var")  # fmt: skip
    api = start_api(embedded)
    (server,) = _llama_servers()
    os.kill(server, signal.SIGKILL)
    started = time.monotonic()
    meanwhile = api.post("/v1/generate", json=sms_request(request_id="model-down", variants=1))
    took = time.monotonic() - started
    assert meanwhile.status_code == 200, meanwhile.text
    assert meanwhile.json()["variants"][0]["source"] == "fallback"
    assert took < 20.0 + 1.0
    assert wait_until(lambda: api.get("/readyz").json()["checks"]["model"]["ready"], 60)
    assert _llama_servers() and server not in _llama_servers()
    reasons = []
    for attempt in range(3):  # a loaded machine may keep SmolLM2 past one deadline
        again = api.post("/v1/generate", json=sms_request(request_id=f"model-back-{attempt}", variants=1))
        assert again.status_code == 200
        reasons.append(again.json()["variants"][0]["source_reason"])
        if "no usable answer" not in reasons[-1] and "fallback at once" not in reasons[-1]:
            break  # the model answered (its copy passed the checks, or failed them: either way, it is back)
    else:
        raise AssertionError(reasons)


@pytest.mark.slow  # three instances start: over a minute on 2 loaded cores
def test_rolling_restart_of_one_of_two_instances_loses_nothing(settings, llm, postgres_url, tmp_path):
    """Two instances on one PostgreSQL; clients that retry a refused or dropped connection on the
    other instance with the same request_id: one restarted under load, every request answered
    200 once, each by one generation."""
    from app.store.database import open_database

    llm.script(default=slow_ok(0.3))
    env = serve_env(settings, COPYDESK_DATABASE_URL=postgres_url, COPYDESK_SHUTDOWN_DRAIN_S="0.5")
    ports = [free_port(), free_port()]
    procs = [serve(port, env, tmp_path / f"i{n}.log") for n, port in enumerate(ports)]
    clients: dict[tuple[int, int], httpx.Client] = {}
    retried: list[str] = []

    def send(request_id: str, n: int) -> httpx.Response:
        body = sms_request(request_id=request_id, variants=1)
        for attempt in range(6):
            which = (n + attempt) % 2  # clients spread over both; a retry goes to the other
            client = clients.setdefault((n, which), httpx.Client(base_url=f"http://127.0.0.1:{ports[which]}"))
            try:
                return client.post("/v1/generate", json=body, timeout=60)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                retried.append(request_id)
                time.sleep(0.1 * attempt)
        raise AssertionError(f"{request_id}: no instance answered")

    try:
        with Load(send, clients=4) as load:
            assert wait_until(lambda: len(load.answers) >= 8, 30)
            procs[0].send_signal(signal.SIGTERM)
            procs[0].wait(timeout=60)
            procs[0] = serve(ports[0], env, tmp_path / "i0-again.log")
            restarted = time.monotonic()
            assert wait_until(lambda: len(load.statuses(since=restarted)) >= 8, 30)
        assert not load.errors, load.errors[:3]
        assert set(load.statuses()) == {200}, [(r, s, b) for _, r, s, _, b in load.answers if s != 200][:3]
        db = open_database(postgres_url, settings.data_dir)
        try:
            rows = db.fetchall("SELECT request_id, generation_id FROM generations WHERE status = 'ok'")
        finally:
            db.close()
        generations: dict[str, list[str]] = {}
        for request_id, generation_id in rows:
            generations.setdefault(request_id, []).append(generation_id)
        for _, request_id, _, _, body in load.answers:
            assert generations.get(request_id) == [body["generation_id"]], request_id  # one generation
        assert len(load.answers) >= 16
    finally:
        for c in clients.values():
            c.close()
        for p in procs:
            stop(p)
