"""Retention and erasure through HTTP with named keys, on SQLite and on a throwaway PostgreSQL: the
auditor erases one request (API and `copydesk db erase`), the purge removes what is past its keep
time in batches while requests are served, on a schedule in the server too, and every deletion is
recorded without the deleted data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest

from app.config import REPO_ROOT, Settings
from app.store.database import open_database
from tests.conftest import sms_request
from tests.servers import ok
from tests.test_privacy import GOOD_SMS, as_, keyed, tables


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> dict:
    if request.param == "postgres":
        return {"database_url": request.getfixturevalue("postgres_url")}
    return {"data_dir": tmp_path / "var"}


def cli(settings: Settings, *args: str, **env: str) -> str:
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "COPYDESK_DATA_DIR": str(settings.data_dir),
        **({"COPYDESK_DATABASE_URL": settings.database_url} if settings.database_url else {}),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "app", "db", *args], env=environ, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def post(api, request_id: str, client: str):
    return api.post("/v1/generate", json=sms_request(request_id=request_id, variants=1), headers=as_(client))


def read(api, answer, client: str):
    return api.get(f"/v1/generations/{answer.json()['generation_id']}", headers=as_(client))


def _all_text(settings: Settings) -> str:
    return json.dumps(tables(settings), ensure_ascii=False, default=str)


def test_the_auditor_erases_one_clients_request(start_api, settings, llm, backend):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    cfg = keyed(settings, **backend)
    api = start_api(cfg)
    body = sms_request(request_id="erase-me", variants=1)
    a = api.post("/v1/generate", json=body, headers=as_("engine-a")).json()
    b = api.post("/v1/generate", json=body, headers=as_("engine-b")).json()
    for answer, who in ((a, "engine-a"), (b, "engine-b")):  # an outcome of each (issue 20's events)
        event = {"event_id": f"sent-{who}", "variant_id": answer["variants"][0]["variant_id"], "type": "sent",
                 "at": time.time() - 1}  # fmt: skip
        assert api.post("/v1/events", json={"events": [event]}, headers=as_(who)).json()["accepted"] == 1
    refused = api.delete("/v1/requests/erase-me", headers=as_("engine-a"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"

    done = api.delete("/v1/requests/erase-me", params={"client": "engine-a"}, headers=as_("auditor"))
    assert done.status_code == 200, done.text
    deleted = done.json()["deleted"]
    assert {k: deleted[k] for k in ("generations", "idempotency", "variants", "events")} == dict.fromkeys(
        ("generations", "idempotency", "variants", "events"), 1
    )
    assert deleted["library"] == 1  # its copy stays in the library as content, unlinked from the request
    assert api.get(f"/v1/generations/{a['generation_id']}", headers=as_("auditor")).status_code == 404
    assert api.get(f"/v1/generations/{b['generation_id']}", headers=as_("engine-b")).status_code == 200
    stored = _all_text(cfg)
    assert a["generation_id"] not in stored and b["generation_id"] in stored
    if cfg.database_url is None:  # overwritten in the file, not left in free pages or the WAL
        raw = b"".join(p.read_bytes() for p in cfg.data_dir.glob("copydesk.db*"))
        assert a["generation_id"].encode() not in raw

    again = api.post("/v1/generate", json=body, headers=as_("engine-a"))
    assert "Idempotent-Replay" not in again.headers and again.json()["generation_id"] != a["generation_id"]

    (log, *_) = api.get("/v1/deletions", headers=as_("auditor")).json()
    assert log["action"] == "erase" and log["actor"] == "client:auditor"
    assert log["scope"] == {"request_id": "erase-me", "client": "engine-a"}
    assert a["generation_id"] not in json.dumps(log)
    assert api.get("/v1/deletions", headers=as_("engine-b")).status_code == 403


def test_db_erase_removes_a_request_of_every_client(start_api, settings, llm, backend):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    cfg = keyed(settings, **backend)
    api = start_api(cfg)
    body = sms_request(request_id="forget-me", variants=1)
    gens = [
        api.post("/v1/generate", json=body, headers=as_(c)).json()["generation_id"] for c in KEYED_ENGINES
    ]
    keep = api.post(
        "/v1/generate", json=sms_request(request_id="keep-me", variants=1), headers=as_("engine-a")
    )
    out = cli(cfg, "erase", "--request-id", "forget-me")
    assert "forget-me: erased" in out and "2 from idempotency, 2 from generations" in out
    stored = _all_text(cfg)
    assert not [g for g in gens if g in stored] and keep.json()["generation_id"] in stored
    (log, *_) = json.loads("[" + ",".join(cli(cfg, "deletions").splitlines()) + "]")
    assert log["action"] == "erase" and log["actor"].startswith("cli:") and log["deleted"]["generations"] == 2


KEYED_ENGINES = ("engine-a", "engine-b")


def _age(settings: Settings, seconds: float) -> None:
    """Make every stored row `seconds` older, as if it had been written then."""
    db = open_database(settings.database_url, settings.data_dir, upgrade=False)
    try:
        for table in ("generations", "idempotency", "variants", "library", "library_links"):
            db.execute(f"UPDATE {table} SET created_at = created_at - ?", (seconds,))  # noqa: S608
    finally:
        db.close()


def _seed_old(settings: Settings, count: int, age_s: float) -> None:
    """`count` old audit records and idempotency entries, as months of traffic would leave."""
    db = open_database(settings.database_url, settings.data_dir, upgrade=False)
    record = json.dumps({"request": {"channel": "sms"}, "response": {"variants": [{"body": "x" * 2000}]}})
    then = time.time() - age_s
    try:
        with db.transaction() as tx:
            for i in range(count):
                tx.execute(
                    "INSERT INTO generations (generation_id, request_id, created_at, status, record, client)"
                    " VALUES (?, ?, ?, 'ok', ?, 'engine-a')",
                    (f"gen_old{i:015d}", f"old-{i}", then, record),
                )
                tx.execute(
                    "INSERT INTO idempotency (client, request_id, body_hash, response, created_at, state)"
                    " VALUES ('engine-a', ?, 'h', '{}', ?, 'done')",
                    (f"old-{i}", then),
                )
    finally:
        db.close()


def test_purge_deletes_what_is_past_its_keep_time_while_serving(start_api, settings, llm, backend):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    cfg = keyed(settings, **backend, purge_every_s=0)
    api = start_api(cfg)
    old = api.post(
        "/v1/generate", json=sms_request(request_id="last-month", variants=1), headers=as_("engine-a")
    )
    _age(cfg, 40 * 86400)  # retention is 30 days
    _seed_old(cfg, 3000, 40 * 86400)
    recent = api.post(
        "/v1/generate", json=sms_request(request_id="today", variants=1), headers=as_("engine-b")
    )

    served: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        i = 0
        while not stop.is_set():
            body = sms_request(request_id=f"during-{i}", variants=1)
            served.append(api.post("/v1/generate", json=body, headers=as_("engine-a")).status_code)
            i += 1

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        out = cli(cfg, "purge", COPYDESK_PURGE_BATCH="200")
    finally:
        stop.set()
        worker.join()
    assert "3001 from idempotency, 3001 from generations" in out
    assert served and set(served) == {200}  # requests kept being answered while it ran
    stored = _all_text(cfg)
    assert (
        old.json()["generation_id"] not in stored and "gen_old" not in stored and "last-month" not in stored
    )
    assert (
        api.get(f"/v1/generations/{recent.json()['generation_id']}", headers=as_("engine-b")).status_code
        == 200
    )
    again = api.post(
        "/v1/generate", json=sms_request(request_id="last-month", variants=1), headers=as_("engine-a")
    )
    assert "Idempotent-Replay" not in again.headers  # its replay went with it
    (log, *_) = json.loads("[" + ",".join(cli(cfg, "deletions").splitlines()) + "]")
    assert log["action"] == "purge" and log["actor"].startswith("cli:")
    assert {k: log["deleted"][k] for k in ("idempotency", "generations", "variants")} == {
        "idempotency": 3001, "generations": 3001, "variants": 1}  # fmt: skip
    assert log["deleted"]["library"] == 1  # its copy kept as library content, unlinked from the request


def test_serve_purges_on_a_schedule(start_api, settings, llm, backend):
    """A replay window of a second and a purge every half second: the stored answer is gone soon
    after, the audit record (kept 30 days) is not; the run is logged as the schedule's."""
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    cfg = keyed(settings, **backend, replay_window_s=1.0, purge_every_s=0.5)
    api = start_api(cfg)
    first = api.post(
        "/v1/generate", json=sms_request(request_id="brief", variants=1), headers=as_("engine-a")
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and tables(cfg)["idempotency"]:
        time.sleep(0.2)
    assert tables(cfg)["idempotency"] == []
    assert (
        api.get(f"/v1/generations/{first.json()['generation_id']}", headers=as_("engine-a")).status_code
        == 200
    )
    logged = api.get("/v1/deletions", headers=as_("auditor")).json()
    assert any(d["actor"].startswith("schedule:") and d["deleted"].get("idempotency") == 1 for d in logged)


def test_retention_settings_come_from_the_environment():
    s = Settings.from_env(
        {"COPYDESK_RETENTION_DAYS": "7", "COPYDESK_REPLAY_WINDOW_S": "600", "COPYDESK_PURGE_EVERY_S": "0"}
    )
    assert (s.retention_days, s.replay_window_s, s.purge_every_s) == (7.0, 600.0, 0.0)
    with pytest.raises(ValueError, match="COPYDESK_PURGE_BATCH"):
        Settings.from_env({"COPYDESK_PURGE_BATCH": "0"})
    assert replace(s, purge_batch=10).purge_batch == 10
