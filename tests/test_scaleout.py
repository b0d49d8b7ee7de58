"""Scale-out: instances sharing one database generate a request_id once, a dead instance's request
is taken over, client limits answer 429 with Retry-After, /metrics parses and moves, logs are JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import REPO_ROOT
from app.store.audit import AuditLog
from app.store.database import open_database
from tests.conftest import sms_request
from tests.servers import Reply, free_port, ok

GOOD_SMS = "{name}，您购物车里的{product}还在等您，{offer}。"


def slow_ok(seconds: float):
    return lambda _: Reply(content=json.dumps({"body": GOOD_SMS}, ensure_ascii=False), stall_s=seconds)


@pytest.fixture(params=["postgres", "sqlite"])
def shared_db(request, tmp_path):
    """What two instances share: a PostgreSQL database, or one SQLite file (two workers on a machine)."""
    if request.param == "postgres":
        return {"database_url": request.getfixturevalue("postgres_url")}
    return {"data_dir": tmp_path / "shared"}


def audit_records(settings, request_id: str) -> list[dict]:
    db = open_database(settings.database_url, settings.data_dir)
    try:
        return AuditLog(db).for_request(request_id)
    finally:
        db.close()


def test_two_instances_generate_a_request_id_once(start_api, settings, llm, shared_db):
    from dataclasses import replace

    settings = replace(settings, **shared_db)
    llm.script(default=slow_ok(0.8))
    a, b = start_api(settings), start_api(settings)
    body = sms_request(request_id="twice-at-once", variants=2)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda c: c.post("/v1/generate", json=body), [a, b, a, b]))
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert len({json.dumps(r.json(), sort_keys=True) for r in answers}) == 1  # identical answers
    assert sum(r.headers.get("Idempotent-Replay") == "true" for r in answers) == 3
    assert len(llm.calls) == 2  # one generation: one model call per variant
    (record,) = audit_records(settings, "twice-at-once")
    assert record["generation_id"] == answers[0].json()["generation_id"]


def _serve(settings, port: int, env_extra: dict[str, str], log: Path, workers: int = 1) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_OFFLINE": "1",
        "COPYDESK_LLM_BASE_URL": settings.llm_base_url,
        "COPYDESK_LLM_MODEL": "scripted",
        "COPYDESK_LLM_API_KEY": "test",
        "COPYDESK_COMMERCE_URL": settings.commerce_url,
        "COPYDESK_INDEX_DIR": str(settings.index_dir),
        "COPYDESK_DATA_DIR": str(settings.data_dir),
        "COPYDESK_DEADLINE_S": "30",
        "COPYDESK_LLM_TIMEOUT_S": "30",
        **env_extra,
    }
    cmd = [
        sys.executable,
        "-m",
        "app",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-format",
        "json",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    end = time.monotonic() + 120
    while time.monotonic() < end:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("copydesk serve did not start: " + log.read_text())


def test_kill_9_mid_request_and_the_retry_on_the_other_instance_completes(
    start_api, settings, llm, postgres_url, tmp_path
):
    from dataclasses import replace

    settings = replace(settings, database_url=postgres_url, claim_lease_s=1.0, deadline_s=20.0)
    lease = {"COPYDESK_DATABASE_URL": postgres_url, "COPYDESK_CLAIM_LEASE_S": "1"}
    port = free_port()
    doomed = _serve(settings, port, lease, tmp_path / "doomed.log")
    llm.script(Reply(stall_s=60, content="{}"), default=slow_ok(0.0))
    body = sms_request(request_id="survives-a-kill", variants=1)
    lost: list[BaseException] = []

    def first_try() -> None:
        try:
            httpx.post(f"http://127.0.0.1:{port}/v1/generate", json=body, timeout=90)
        except httpx.HTTPError as exc:
            lost.append(exc)

    sender = threading.Thread(target=first_try)
    sender.start()
    end = time.monotonic() + 60
    while not llm.calls and time.monotonic() < end:  # the doomed instance is asking the model
        time.sleep(0.05)
    assert llm.calls, "the first instance never called the model"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    sender.join(timeout=10)
    assert lost, "the killed instance should not have answered"

    other = start_api(settings)
    started = time.monotonic()
    retry = other.post("/v1/generate", json=body)
    waited = time.monotonic() - started
    assert retry.status_code == 200, retry.text
    assert retry.json()["variants"][0]["source"] == "llm"
    assert waited < 1.0 + 5.0  # the lease (1 s) plus a generation on a busy machine
    records = audit_records(settings, "survives-a-kill")
    assert [r["status"] for r in records] == ["ok"]  # the dead instance never finished its record
    replay = other.post("/v1/generate", json=body)
    assert replay.headers.get("Idempotent-Replay") == "true"
    assert replay.json() == retry.json()
    logged = [json.loads(line) for line in (tmp_path / "doomed.log").read_text().splitlines() if line]
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in logged)


def test_rate_limit_answers_429_with_retry_after(start_api, settings, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    api = start_api(settings, client_keys=(("engine-a", "ka"), ("engine-b", "kb")), client_rate_per_s=0.5)
    api.headers["Authorization"] = "Bearer ka"
    first = api.post("/v1/generate", json=sms_request(request_id="r1", variants=1))
    assert first.status_code == 200, first.text
    second = api.post("/v1/generate", json=sms_request(request_id="r2", variants=1))
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(second.headers["Retry-After"]) <= 2
    other = api.post(
        "/v1/generate", json=sms_request(request_id="r3", variants=1), headers={"Authorization": "Bearer kb"}
    )
    assert other.status_code == 200  # the limit is per client
    (record,) = audit_records(settings, "r1")
    assert record["client"] == "engine-a"
    time.sleep(float(second.headers["Retry-After"]))
    assert api.post("/v1/generate", json=sms_request(request_id="r2", variants=1)).status_code == 200


def test_concurrency_cap_answers_429(start_api, settings, llm):
    llm.script(default=slow_ok(1.0))
    api = start_api(settings, client_concurrency=1)
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(api.post, "/v1/generate", json=sms_request(request_id="c1", variants=1))
        time.sleep(0.4)
        refused = api.post("/v1/generate", json=sms_request(request_id="c2", variants=1))
        assert slow.result().status_code == 200
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"


def _samples(api) -> dict[tuple, float]:
    resp = api.get("/metrics")
    assert resp.status_code == 200
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _total(samples: dict[tuple, float], name: str, **labels: str) -> float:
    return sum(
        v
        for (n, lbl), v in samples.items()
        if n == name and all(dict(lbl).get(k) == val for k, val in labels.items())
    )


def test_metrics_parse_and_move_when_requests_are_served(api, llm):
    too_long = "您购物车里的{product}还在等您回来看看" * 4
    llm.script(Reply(status=503), ok({"body": too_long}), default=lambda _: ok({"body": GOOD_SMS}))
    before = _samples(api)
    resp = api.post("/v1/generate", json=sms_request(request_id="m1", variants=1))
    assert resp.status_code == 200, resp.text
    after = _samples(api)

    def moved(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    assert moved("copydesk_request_seconds_count", channel="sms", locale="zh-CN", status="200") == 1
    assert moved("copydesk_variants_total", source=resp.json()["variants"][0]["source"]) == 1
    assert moved("copydesk_model_calls_total", outcome="error") == 1
    assert moved("copydesk_model_retries_total") >= 1
    assert moved("copydesk_model_tokens_total", kind="completion") > 0
    assert moved("copydesk_check_failures_total", check="channel_limits") >= 1
    for stage in ("trade", "retrieval", "model", "checks", "variants"):
        assert moved("copydesk_stage_seconds_count", stage=stage) >= 1, stage
    assert moved("copydesk_commerce_calls_total") + moved("copydesk_commerce_cache_hits_total") >= 1


def test_workers_share_claims_and_metrics(settings, llm, tmp_path):
    """`serve --workers 2`: both workers answer, /metrics from any of them counts all requests."""
    llm.script(default=slow_ok(0.2))
    port = free_port()
    server = _serve(settings, port, {}, tmp_path / "workers.log", workers=2)
    try:
        url = f"http://127.0.0.1:{port}"
        bodies = [sms_request(request_id=f"w{i % 3}", variants=1) for i in range(6)]
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda b: httpx.post(url + "/v1/generate", json=b, timeout=60), bodies))
        assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
        assert len(llm.calls) == 3  # three request_ids, each generated once across the workers
        samples = {}
        for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        assert _total(samples, "copydesk_request_seconds_count", status="200") == 6
        assert _total(samples, "copydesk_replays_total") == 3
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lines = [json.loads(line) for line in (tmp_path / "workers.log").read_text().splitlines() if line]
    assert any("starting 2 workers" in line["msg"] for line in lines)
    served = [line for line in lines if line["msg"] == "generate 200" and "generation_id" in line]
    assert {line["request_id"] for line in served} == {"w0", "w1", "w2"}
    assert all(line["client"] == "local" and line["channel"] == "sms" for line in served)


def test_named_and_bare_api_keys():
    from app.config import Settings

    settings = Settings.from_env({"COPYDESK_API_KEYS": "engine-a:k1, engine-b:k2,bare-key"})
    by_key = settings.clients_by_key
    assert by_key["k1"] == "engine-a" and by_key["k2"] == "engine-b"
    assert by_key["bare-key"].startswith("key-") and "bare" not in by_key["bare-key"]  # no key in logs
    assert settings.api_keys == {"k1", "k2", "bare-key"}
    with pytest.raises(ValueError, match="name:key"):
        Settings.from_env({"COPYDESK_API_KEYS": "engine-a:"})


def test_named_keys_are_enforced_and_name_the_client_in_metrics(start_api, settings, llm):
    from app.config import Settings as S

    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    named = S.from_env({"COPYDESK_API_KEYS": "engine-a:k1"})
    api = start_api(settings, api_keys=named.api_keys, client_keys=named.client_keys)
    assert api.post("/v1/generate", json=sms_request(variants=1)).status_code == 401
    resp = api.post("/v1/generate", json=sms_request(variants=1), headers={"Authorization": "Bearer k1"})
    assert resp.status_code == 200, resp.text
    assert _total(_samples(api), "copydesk_request_seconds_count", client="engine-a") >= 1
