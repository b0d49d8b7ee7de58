"""Issue 22 through HTTP with named keys, on SQLite and on a throwaway PostgreSQL: one client cannot
see another's generations or replays, the auditor reads both; no name, phone, e-mail or ID number
from a request reaches any table in clear; replays are sealed with the replay key, or kept without
the name and filled again from the retry's request."""

from __future__ import annotations

import itertools
import json
import random
import time
from dataclasses import replace

import httpx
import pytest
from faker import Faker
from id_validator import validator

from app.config import Settings
from app.store.database import open_database
from app.store.replays import new_key
from tests.conftest import sms_request
from tests.servers import ok

KEYS = {"engine-a": "key-a-5f1c0e", "engine-b": "key-b-93d2aa", "auditor": "key-c-07b4e1"}
GOOD_SMS = "{name}，您购物车里的{product}还在等您，{offer}。"


def as_(client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[client]}"}


def keyed(settings: Settings, **more) -> Settings:
    """Three named clients: two journey engines and an auditor who reads across clients."""
    return replace(
        settings,
        api_keys=frozenset(KEYS.values()),
        client_keys=tuple(KEYS.items()),
        client_roles=(("auditor", frozenset({"audit", "review"})),),
        **more,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> dict:
    if request.param == "postgres":
        return {"database_url": request.getfixturevalue("postgres_url")}
    return {"data_dir": tmp_path / "var"}


def tables(settings: Settings) -> dict[str, list[tuple]]:
    """Every row of every table, read back from the database as it is stored."""
    db = open_database(settings.database_url, settings.data_dir, upgrade=False)
    try:
        if db.dialect == "sqlite":
            names = [r[0] for r in db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")]
        else:
            names = [
                r[0]
                for r in db.fetchall(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            ]
        return {n: db.fetchall(f"SELECT * FROM {n}") for n in names}  # noqa: S608 - names from the catalog
    finally:
        db.close()


def test_another_client_gets_404_and_the_auditor_reads_both(start_api, settings, llm, backend):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    api = start_api(keyed(settings, **backend))
    a = api.post("/v1/generate", json=sms_request(request_id="a-1", variants=1), headers=as_("engine-a"))
    b = api.post("/v1/generate", json=sms_request(request_id="b-1", variants=1), headers=as_("engine-b"))
    ga, gb = a.json()["generation_id"], b.json()["generation_id"]
    assert api.get(f"/v1/generations/{ga}", headers=as_("engine-a")).status_code == 200
    for gen, other in ((ga, "engine-b"), (gb, "engine-a")):
        refused = api.get(f"/v1/generations/{gen}", headers=as_(other))
        # Exactly what an unknown ID gets: nothing says the generation exists.
        unknown = api.get("/v1/generations/gen_00000000000000000000", headers=as_(other))
        assert refused.status_code == unknown.status_code == 404
        assert refused.json()["error"]["code"] == unknown.json()["error"]["code"] == "unknown_generation"
    for gen, owner in ((ga, "engine-a"), (gb, "engine-b")):
        record = api.get(f"/v1/generations/{gen}", headers=as_("auditor"))
        assert record.status_code == 200 and record.json()["client"] == owner
    assert (
        api.get(f"/v1/generations/{ga}", headers={"Authorization": "Bearer key-a-5f1c0"}).status_code == 401
    )


def test_the_same_request_id_from_two_clients_is_two_requests(start_api, settings, llm, backend):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    api = start_api(keyed(settings, **backend))
    body = sms_request(request_id="shared-id", variants=1)
    first = api.post("/v1/generate", json=body, headers=as_("engine-a"))
    same = api.post("/v1/generate", json=body, headers=as_("engine-b"))
    assert same.status_code == 200 and "Idempotent-Replay" not in same.headers
    assert same.json()["generation_id"] != first.json()["generation_id"]  # a fresh generation
    other = api.post("/v1/generate", json={**body, "variants": 2}, headers=as_("engine-b"))
    assert other.status_code == 409  # engine-b's own request_id now, with a changed body
    changed = api.post("/v1/generate", json={**body, "channel": "push"}, headers=as_("engine-a"))
    assert changed.status_code == 409  # engine-a's, too: each learns only of its own
    again = api.post("/v1/generate", json=body, headers=as_("engine-a"))
    assert again.headers.get("Idempotent-Replay") == "true" and again.json() == first.json()
    assert len(llm.calls) == 2


@pytest.mark.parametrize("sealed", [False, True], ids=["no-key", "replay-key"])
def test_a_replay_keeps_nothing_personal_at_rest(start_api, settings, llm, backend, sealed):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    more = (
        {"replay_keys": (Settings.from_env({"COPYDESK_REPLAY_KEY": new_key()}).replay_keys)} if sealed else {}
    )
    cfg = keyed(settings, **backend, **more)
    api = start_api(cfg)
    body = sms_request(request_id="named-1", variants=1, audience={"name": "Stephanie"}, locale="en-US")
    first = api.post("/v1/generate", json=body, headers=as_("engine-a"))
    assert "Stephanie" in first.json()["variants"][0]["body"]
    again = api.post("/v1/generate", json=body, headers=as_("engine-a"))
    assert again.headers.get("Idempotent-Replay") == "true" and again.json() == first.json()
    (row,) = tables(cfg)["idempotency"]
    stored = " ".join(map(str, row))
    assert "Stephanie" not in stored
    if sealed:
        assert "aesgcm:" in stored and "{name}" not in stored and first.json()["generation_id"] not in stored
    else:
        assert "{name}" in stored


def _pii(seed: int, count: int) -> list[dict]:
    """Customers as a CRM would send them: Chinese and English names, phones, e-mails, ID numbers."""
    fakers = {"zh-CN": Faker("zh_CN"), "en-US": Faker("en_US")}
    for f in fakers.values():
        f.seed_instance(seed)
    rng = random.Random(seed)
    people = []
    for i in range(count):
        locale = "zh-CN" if i % 2 == 0 else "en-US"
        f = fakers[locale]
        phone = Faker("zh_CN").phone_number() if locale == "zh-CN" else f"(415) 555-{rng.randint(1000, 9999)}"
        people.append(
            {
                "locale": locale,
                "name": f.name() if locale == "zh-CN" else f.first_name(),
                "phone": phone,
                "email": f.email(),
                "id": validator.fake_id(),
            }
        )
    return people


def test_no_table_holds_a_name_phone_email_or_id_in_clear(start_api, settings, llm, backend):
    """Requests full of personal data, a model that sometimes writes some into its answer; then
    every row of every table (and on SQLite the database file's bytes) is searched for them."""
    people = _pii(seed=22, count=12)
    turn = itertools.count()

    def model(call: dict) -> object:
        prompt = "\n".join(m["content"] for m in call["messages"])
        leak = next(turn) % 3 == 0  # a third of the answers carry a customer's contact details
        person = people[len(prompt) % len(people)]
        if leak:
            return ok(
                {"body": f"{{name}}，有问题请联系{person['phone']}或{person['email']}，{{product}}等您。"}
            )
        return ok({"body": GOOD_SMS})

    llm.script(default=model)
    cfg = keyed(settings, **backend)
    api = start_api(cfg)
    answers = []
    for i, p in enumerate(people):
        body = sms_request(
            request_id=f"crm-{i}",
            locale=p["locale"],
            variants=2,
            audience={
                "name": p["name"],
                "cs_topic": f"回电{p['phone']}",
                "interests": [f"mail {p['email']}", f"证件 {p['id']}", f"{p['name']} likes running"],
            },
        )
        engine = "engine-a" if i % 2 else "engine-b"
        resp = api.post("/v1/generate", json=body, headers=as_(engine))
        assert resp.status_code == 200, resp.text
        again = api.post("/v1/generate", json=body, headers=as_(engine))
        assert again.json() == resp.json()
        answers.append(json.dumps(resp.json(), ensure_ascii=False))
        assert (
            api.get(f"/v1/generations/{resp.json()['generation_id']}", headers=as_("auditor")).status_code
            == 200
        )
    # The copy sent does carry the names: what follows is not searching for what never existed.
    assert sum(p["name"] in a for p, a in zip(people, answers, strict=True)) >= len(people) // 2

    # Approved copy served from the library (issue 21), filled with the customer's name again, and
    # outcomes posted for every variant sent (issue 20): their tables are read back too.
    waiting = api.get("/v1/library", params={"status": "pending"}, headers=as_("auditor")).json()
    entries = waiting["items"] if isinstance(waiting, dict) else waiting
    assert entries, waiting
    for entry in entries[:4]:
        decided = api.post(
            f"/v1/library/{entry['library_id']}/approve", json={"reviewer": "r1", "note": "ok"},
            headers=as_("auditor"),
        )  # fmt: skip
        assert decided.status_code == 200, decided.text
    served = 0
    for i, p in enumerate(people):
        engine = "engine-a" if i % 2 else "engine-b"
        body = sms_request(
            request_id=f"crm-lib-{i}", locale=p["locale"], variants=2, audience={"name": p["name"]}
        )
        resp = api.post("/v1/generate", json=body, headers=as_(engine)).json()
        served += sum(v["source"] == "library" for v in resp["variants"])
        now = time.time() - 1
        events = [
            {"event_id": f"{v['variant_id']}-{t}", "variant_id": v["variant_id"], "type": t, "at": now}
            for v in resp["variants"]
            for t in ("sent", "clicked")
        ]
        assert api.post("/v1/events", json={"events": events}, headers=as_(engine)).json()["accepted"] == 4
    assert served  # copy did come from the library

    secrets = [v for p in people for k, v in p.items() if k != "locale"]
    rows = tables(cfg)
    assert {"generations", "idempotency", "variants", "events", "library", "deletions"} <= set(rows)
    assert rows["events"] and rows["library"]
    assert sum(len(r) for r in rows.values()) >= 2 * len(people)
    for table, content in rows.items():
        text = json.dumps(content, ensure_ascii=False, default=str)
        found = [s for s in secrets if s in text]
        assert not found, f"{table} holds {found[:3]} in clear"
    if cfg.database_url is None:  # the file itself, free pages and WAL included
        raw = b"".join(p.read_bytes() for p in cfg.data_dir.glob("copydesk.db*"))
        assert not [s for s in secrets if s.encode() in raw]


def test_keys_are_matched_whatever_their_content():
    from app.api.auth import client_of

    keys = {"ka": "engine-a", "kb": "engine-b", "ключ-ü": "unicode"}
    assert client_of("kb", keys) == "engine-b" and client_of("ключ-ü", keys) == "unicode"
    assert client_of("k", keys) is None and client_of("kab", keys) is None and client_of("", keys) is None


def test_transport_of_clients_that_reuse_connections_keeps_their_identity(start_api, settings, llm):
    """One keep-alive connection, two keys in turn: each request is its own client's."""
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    api = start_api(keyed(settings))
    with httpx.Client(base_url=str(api.base_url), timeout=60) as conn:
        a = conn.post("/v1/generate", json=sms_request(request_id="k-1", variants=1), headers=as_("engine-a"))
        gen = a.json()["generation_id"]
        assert conn.get(f"/v1/generations/{gen}", headers=as_("engine-b")).status_code == 404
        assert conn.get(f"/v1/generations/{gen}", headers=as_("engine-a")).status_code == 200


def test_metrics_can_require_a_key(start_api, settings):
    api = start_api(keyed(settings), metrics_key="scrape-9f2c")
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers=as_("auditor")).status_code == 401  # an API key is not it
    scraped = api.get("/metrics", headers={"Authorization": "Bearer scrape-9f2c"})
    assert scraped.status_code == 200 and "copydesk_request_seconds" in scraped.text


def test_metrics_can_live_on_another_address(settings, tmp_path):
    """`serve` with COPYDESK_METRICS_ADDR: /metrics answers there, and the API's port has none."""
    from tests.servers import free_port
    from tests.test_scaleout import _serve

    port, metrics_port = free_port(), free_port()
    env = {"COPYDESK_METRICS_ADDR": f"127.0.0.1:{metrics_port}", "COPYDESK_API_KEYS": "engine-a:key-a-5f1c0e"}
    proc = _serve(settings, port, env, tmp_path / "serve.log")
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 404
        apart = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert apart.status_code == 200 and "copydesk_request_seconds" in apart.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_pii_prefilter_misses_nothing_the_recognisers_find(tmp_path):
    """pii.yaml's prefilter skips texts without an @ or seven digits: on every labelled guardrail
    sample and on generated phones, e-mails, ID and card numbers it changes no hit."""
    import yaml
    from faker import Faker

    from app.config import REPO_ROOT
    from app.guardrails.pii_detector import PiiDetector

    policy = yaml.safe_load((REPO_ROOT / "guardrails" / "pii.yaml").read_text())
    without = tmp_path / "pii.yaml"
    without.write_text(yaml.safe_dump({k: v for k, v in policy.items() if k != "prefilter"}))
    fast, full = PiiDetector(REPO_ROOT / "guardrails" / "pii.yaml"), PiiDetector(without)
    corpus = yaml.safe_load((REPO_ROOT / "evals" / "guardrails" / "corpus.yaml").read_text())["samples"]
    texts = [t for s in corpus for t in s["fields"].values() if isinstance(t, str)]
    zh, en = Faker("zh_CN"), Faker("en_US")
    zh.seed_instance(7)
    en.seed_instance(7)
    for _ in range(200):
        texts += [f"回电{zh.phone_number()}", f"mail {en.email()}", f"证件{validator.fake_id()}",
                  f"call {en.phone_number()}", f"卡号 {en.credit_card_number()}"]  # fmt: skip
    found = 0
    for text in texts:
        hits = full.find(text)
        found += bool(hits)
        assert fast.find(text) == hits, text
    assert found > 500  # the samples do hold personal data for the recognisers to find
