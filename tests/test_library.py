"""The variant library through HTTP: kept, reviewed, served with today's facts, never when a
claim no longer holds, roles and per-client scoping, near-duplicates, edits, spot checks."""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from app.commerce.catalog import load_catalog
from app.commerce.server import create_commerce_app
from app.config import REPO_ROOT, Settings
from app.library.allocation import preference
from app.library.entries import Context, LibraryEntry
from app.library.policy import LibraryPolicy
from tests.servers import ThreadedServer, ok

PUSH = {"channel": "push", "locale": "en-US", "journey": "price_drop", "skus": ["SKU-1001"], "offer_id": None}
NOW = {"title": "Still thinking?", "body": "{product} is now {price}."}
SCARCE = {"title": "Almost gone", "body": "Only a few left of {product}, now {price}."}
OTHER = {"title": "Take another look", "body": "{product} costs {price} today."}


@pytest.fixture
def shop():
    """A commerce server of our own whose prices and stock a test may change."""
    catalog = load_catalog(REPO_ROOT / "knowledge")
    with ThreadedServer(create_commerce_app(catalog)) as server:
        shop = type("Shop", (), {})()
        shop.url, shop.catalog = server.url, catalog

        def set_sku(sku: str, **changes) -> None:
            product = catalog.products[sku]
            catalog.products[sku] = replace(product, sku=product.sku.model_copy(update=changes))

        shop.set = set_sku
        yield shop


@pytest.fixture
def lib_settings(settings: Settings, shop) -> Settings:
    return replace(settings, commerce_url=shop.url, commerce_cache_ttl_s=0.0)


_ids = iter(range(10**6))


def generate(api, headers=None, **overrides) -> dict:
    body = {"request_id": f"lib-{next(_ids)}", **PUSH, "variants": 1, **overrides}
    resp = api.post("/v1/generate", json=body, headers=headers or {})
    assert resp.status_code == 200, resp.text
    return resp.json()


def pending(api, headers=None, **filters) -> list[dict]:
    resp = api.get("/v1/library", params={"status": "pending", **filters}, headers=headers or {})
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def decide(api, library_id: str, action: str, headers=None, reviewer="Mei", note="ok"):
    return api.post(
        f"/v1/library/{library_id}/{action}", json={"reviewer": reviewer, "note": note}, headers=headers or {}
    )


def kept(api, llm, copy: dict, headers=None, **overrides) -> str:
    """Generate fresh copy from the scripted model and return the library ID it was kept as."""
    llm.script(default=lambda _: ok(copy))
    data = generate(api, headers, mode="fresh", **overrides)
    assert data["variants"][0]["source"] == "llm"
    item = next(i for i in pending(api, headers) if i["template"]["body"] == copy["body"])
    return item["library_id"]


def test_an_approved_variant_is_served_with_todays_price_and_no_model_call(
    start_api, lib_settings, llm, shop
):
    api = start_api(lib_settings)
    library_id = kept(api, llm, NOW)
    entry = api.get(f"/v1/library/{library_id}").json()
    assert entry["template"] == NOW and entry["status"] == "pending"
    assert entry["context"] == {
        **{k: PUSH[k] for k in ("journey", "channel", "locale", "skus", "offer_id")},
        "segment": None,
    }
    assert entry["model"] == "scripted" and len(entry["prompt_version"]) == 12
    assert all(c["passed"] for c in entry["checks"]) and entry["source"] == "llm"

    assert decide(api, library_id, "approve").status_code == 200
    shop.set("SKU-1001", price=349.0)
    llm.script()  # any model call would now fail: the library must not make one
    data = generate(api, mode="library")
    (v,) = data["variants"]
    assert v["source"] == "library" and v["library_id"] == library_id
    assert v["body"] == "CloudLite Cushion Runner is now ¥349."
    assert all(c["passed"] for c in v["checks"])
    assert llm.calls == []
    # The journey's default mode (price_drop: library in prompts/journeys.yaml) serves it too.
    assert generate(api)["variants"][0]["library_id"] == library_id
    assert llm.calls == []
    record = api.get(f"/v1/generations/{data['generation_id']}").json()
    assert record["library"]["served"] == [library_id]


def test_a_scarcity_claim_that_stopped_holding_is_skipped_and_flagged(start_api, lib_settings, llm, shop):
    api = start_api(lib_settings)
    shop.set("SKU-1001", stock=6)
    library_id = kept(api, llm, SCARCE, journey="low_stock")
    assert decide(api, library_id, "approve").status_code == 200
    llm.script()
    assert generate(api, journey="low_stock", mode="library")["variants"][0]["library_id"] == library_id

    shop.set("SKU-1001", stock=80)  # back in stock: "only a few left" is no longer true
    llm.script(default=lambda _: ok(OTHER))
    data = generate(api, journey="low_stock", mode="library")
    (v,) = data["variants"]
    assert v["source"] == "llm" and v["library_id"] is None  # generated what the library could not give
    assert len(llm.calls) == 1
    record = api.get(f"/v1/generations/{data['generation_id']}").json()
    assert record["library"]["skipped"][0]["library_id"] == library_id
    assert record["library"]["skipped"][0]["failed"] == ["trade_claims"]
    entry = api.get(f"/v1/library/{library_id}").json()
    assert entry["flagged"] and "stock 80" in entry["flag_reason"]
    flagged = api.get("/v1/library", params={"flagged": True}).json()["items"]
    assert [e["library_id"] for e in flagged] == [library_id]
    # approved_only has nothing a person approved that holds today: fallback copy, no model call.
    llm.script()
    (v,) = generate(api, journey="low_stock", mode="approved_only")["variants"]
    assert v["source"] == "fallback" and llm.calls == []


def test_approved_only_never_serves_a_pending_variant(start_api, lib_settings, llm):
    api = start_api(lib_settings)
    library_id = kept(api, llm, NOW)
    llm.script()
    for _ in range(3):
        (v,) = generate(api, mode="approved_only")["variants"]
        assert v["source"] == "fallback" and v["library_id"] is None
    assert llm.calls == []
    assert decide(api, library_id, "approve").status_code == 200
    (v,) = generate(api, mode="approved_only")["variants"]
    assert v["source"] == "library" and v["library_id"] == library_id


def test_rejected_and_retired_variants_are_never_served_again(start_api, lib_settings, llm):
    api = start_api(lib_settings)
    first, second = kept(api, llm, NOW), kept(api, llm, OTHER)
    for library_id in (first, second):
        assert decide(api, library_id, "approve").status_code == 200
    llm.script()
    seen = {generate(api, mode="library")["variants"][0]["library_id"] for _ in range(6)}
    assert seen == {first, second}  # rotation among equals
    assert decide(api, first, "retire").status_code == 200
    assert decide(api, second, "reject").status_code == 200
    llm.script(default=lambda _: ok({"title": "New in", "body": "Meet {product}, {price}."}))
    for _ in range(4):
        (v,) = generate(api, mode="library")["variants"]
        assert v["library_id"] not in (first, second) and v["source"] == "llm"
    (v,) = generate(api, mode="approved_only")["variants"]
    assert v["source"] == "fallback"
    # Final: neither comes back by a decision.
    again = decide(api, first, "approve")
    assert again.status_code == 409 and again.json()["error"]["code"] == "library_state"
    assert decide(api, second, "approve").status_code == 409


def test_a_generating_key_cannot_approve_and_other_clients_see_nothing(start_api, lib_settings, llm):
    keys = "engine:k-engine,reviewer:k-review,other:k-other"
    settings = replace(
        Settings.from_env(
            {"COPYDESK_API_KEYS": keys, "COPYDESK_API_ROLES": "reviewer:review+audit,other:review+generate"}
        ),
        **{
            f: getattr(lib_settings, f)
            for f in (
                "index_dir",
                "llm_base_url",
                "llm_model",
                "llm_api_key",
                "commerce_url",
                "commerce_cache_ttl_s",
                "data_dir",
                "deadline_s",
            )
        },
    )
    api = start_api(settings)
    engine, reviewer, other = ({"authorization": f"Bearer k-{n}"} for n in ("engine", "review", "other"))
    library_id = kept(api, llm, NOW, headers=engine)

    refused = decide(api, library_id, "approve", headers=engine)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    hidden = decide(api, library_id, "approve", headers=other)  # may review, but not this client's
    assert hidden.status_code == 404 and hidden.json()["error"]["field"] == "library_id"
    assert api.get(f"/v1/library/{library_id}", headers=other).status_code == 404
    assert api.get("/v1/library", headers=other).json()["total"] == 0
    assert api.get("/v1/library", headers=engine).json()["total"] == 1
    assert api.get("/v1/library").status_code == 401

    assert decide(api, library_id, "approve", headers=reviewer).status_code == 200
    llm.script()
    (v,) = generate(api, engine, mode="library")["variants"]
    assert v["library_id"] == library_id
    # Another client's approved copy is not served to it.
    other_gen = {"authorization": "Bearer k-other"}
    assert (
        api.post(
            "/v1/generate",
            json={"request_id": "o-1", **PUSH, "variants": 1, "mode": "approved_only"},
            headers=other_gen,
        ).json()["variants"][0]["source"]
        == "fallback"
    )


def test_approvals_and_rejections_are_in_the_audit(start_api, lib_settings, llm):
    api = start_api(lib_settings)
    first, second = kept(api, llm, NOW), kept(api, llm, OTHER)
    decide(api, first, "approve", reviewer="Mei", note="reads well").raise_for_status()
    decide(api, second, "reject", reviewer="Jon", note="too flat").raise_for_status()
    trail = api.get("/v1/library/decisions").json()
    assert [(d["library_id"], d["action"], d["reviewer"], d["note"]) for d in trail] == [
        (first, "approve", "Mei", "reads well"),
        (second, "reject", "Jon", "too flat"),
    ]
    assert all(d["by_client"] == "local" and d["created_at"] > 0 for d in trail)
    entry = api.get(f"/v1/library/{first}").json()
    assert entry["decided_by"] == "Mei" and entry["decisions"][0]["detail"]["after"] == "approved"


def test_near_duplicates_are_linked_not_stored_twice(start_api, lib_settings, llm):
    api = start_api(lib_settings)
    library_id = kept(api, llm, NOW)
    llm.script(default=lambda _: ok({"title": "Still thinking?", "body": "{product} is now {price}!"}))
    dup = generate(api, mode="fresh")
    llm.script(default=lambda _: ok(NOW))
    generate(api, mode="fresh")
    items = api.get("/v1/library").json()["items"]
    assert [i["library_id"] for i in items] == [library_id]
    entry = api.get(f"/v1/library/{library_id}").json()
    assert entry["duplicates"] == 2
    assert entry["links"][0]["generation_id"] == dup["generation_id"]
    assert 0.8 <= entry["links"][0]["similarity"] < 1.0  # prompts/library.yaml: threshold 0.8
    kept(api, llm, OTHER)  # different copy: its own entry
    assert api.get("/v1/library").json()["total"] == 2


def test_an_edit_is_a_new_variant_that_must_pass_every_check(start_api, lib_settings, llm):
    api = start_api(lib_settings)
    library_id = kept(api, llm, NOW)
    bad = api.post(
        f"/v1/library/{library_id}/edit", json={"reviewer": "Mei", "body": "{product}: only 3 left, 50% off!"}
    )
    assert bad.status_code == 409 and bad.json()["error"]["code"] == "edit_fails_checks"
    assert "trade_claims" in bad.json()["error"]["message"]
    made = api.post(
        f"/v1/library/{library_id}/edit",
        json={"reviewer": "Mei", "note": "warmer", "body": "Good news: {product} is now {price}."},
    )
    assert made.status_code == 201, made.text
    new = made.json()
    assert new["parent_id"] == library_id and new["status"] == "pending" and new["source"] == "edited"
    assert new["template"] == {"title": NOW["title"], "body": "Good news: {product} is now {price}."}
    assert all(c["passed"] for c in new["checks"])
    trail = api.get("/v1/library/decisions").json()
    assert trail[-1]["action"] == "edit" and trail[-1]["detail"]["new_library_id"] == new["library_id"]


def test_spot_checks_queue_served_copy_by_policy(start_api, lib_settings, llm, tmp_path: Path):
    content = tmp_path / "content"
    content.mkdir()
    for part in ("guardrails", "knowledge", "evals"):
        (content / part).symlink_to(REPO_ROOT / part)
    shutil.copytree(REPO_ROOT / "prompts", content / "prompts")
    policy = (content / "prompts" / "library.yaml").read_text().replace("default: 0.02", "default: 1.0")
    (content / "prompts" / "library.yaml").write_text(policy)
    api = start_api(lib_settings, content_dir=content)
    library_id = kept(api, llm, NOW)
    decide(api, library_id, "approve").raise_for_status()
    data = generate(api, mode="library", audience={"name": "Alex"})
    spots = api.get("/v1/library/spot-checks").json()
    assert [(s["library_id"], s["generation_id"]) for s in spots] == [(library_id, data["generation_id"])]
    assert spots[0]["copy"]["body"] == "CloudLite Cushion Runner is now ¥399."
    page = api.get("/v1/library-queue.html", params={"status": "approved"}).text
    assert "to spot-check (1)" in page and "CloudLite Cushion Runner is now ¥399." in page
    done = api.post(f"/v1/library/{library_id}/spot-checked", json={"reviewer": "Mei", "note": "fine"})
    assert done.status_code == 200 and done.json()["closed"] == [spots[0]["spot_id"]]
    assert api.get("/v1/library/spot-checks").json() == []


def test_the_library_works_on_postgres(start_api, lib_settings, llm, postgres_url):
    api = start_api(lib_settings, database_url=postgres_url)
    library_id = kept(api, llm, NOW)
    decide(api, library_id, "approve").raise_for_status()
    llm.script()
    assert generate(api, mode="library")["variants"][0]["library_id"] == library_id
    assert api.get("/v1/library", params={"sku": "SKU-1001", "status": "approved"}).json()["total"] == 1


def test_bad_library_requests_name_the_field(api):
    assert api.get("/v1/library/lib_0000").json()["error"]["code"] == "unknown_library_entry"
    resp = api.post("/v1/library/lib_0000/approve", json={"note": "x"})
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "reviewer"
    assert api.get("/v1/library", params={"status": "lost"}).json()["error"]["field"] == "status"


def _entry(i: int, served: int) -> LibraryEntry:
    ctx = Context("price_drop", "push", "en-US", ("SKU-1001",), None, None)
    return LibraryEntry(
        f"lib_{i}",
        "local",
        0.0,
        "approved",
        ctx,
        "rational",
        {"body": str(i)},
        [],
        "v",
        "m",
        "llm",
        [],
        {},
        served=served,
    )


def test_a_newly_approved_variant_enters_at_the_exploration_share():
    policy = LibraryPolicy.load(REPO_ROOT / "prompts" / "library.yaml")
    rng = random.Random(7)
    entries = [_entry(1, 500), _entry(2, 500), _entry(3, 0)]
    firsts = [preference(entries, policy, rng)[0].library_id for _ in range(4000)]
    share = firsts.count("lib_3") / len(firsts)
    assert abs(share - policy.exploration_share) < 0.02
    assert {"lib_1", "lib_2"} <= set(firsts)
    # Weights from the outcome allocation, when given, decide instead; a new variant the posteriors
    # favour still enters at the exploration share.
    firsts = [preference(entries, policy, rng, {"lib_1": 0.1, "lib_2": 0.1, "lib_3": 0.8})[0].library_id
              for _ in range(4000)]  # fmt: skip
    assert abs(firsts.count("lib_3") / len(firsts) - policy.exploration_share) < 0.02
    firsts = [
        preference(entries, policy, rng, {"lib_1": 0.0, "lib_2": 1.0, "lib_3": 0.0})[0].library_id
        for _ in range(50)
    ]
    assert set(firsts) == {"lib_2"}


def test_copydesk_library_review_decides_in_the_terminal(start_api, lib_settings, llm):
    import os
    import subprocess
    import sys

    api = start_api(lib_settings)
    first, second = kept(api, llm, NOW), kept(api, llm, OTHER)
    run = subprocess.run(
        [sys.executable, "-m", "app", "library", "review", "--url", str(api.base_url), "--reviewer", "Mei"],
        input="a\nterminal ok\nr\nflat\n",  # newest first: OTHER approved, NOW rejected
        capture_output=True, text=True, timeout=60, env=os.environ,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "2 pending variant(s)" in run.stdout and "2 decision(s) recorded" in run.stdout
    assert "{product} costs {price} today." in run.stdout  # the template, as the reviewer edits it
    assert api.get(f"/v1/library/{second}").json()["status"] == "approved"
    assert api.get(f"/v1/library/{first}").json()["status"] == "rejected"
    trail = api.get("/v1/library/decisions").json()
    assert [(d["action"], d["note"]) for d in trail] == [("approve", "terminal ok"), ("reject", "flat")]


def test_evals_measure_the_model_not_the_library():
    from app.evals.cases import load_cases

    cases = load_cases(REPO_ROOT / "evals" / "cases")
    assert cases and {c.generate_request("x").mode for c in cases} == {"fresh"}


def test_outcomes_steer_traffic_between_approved_variants(start_api, lib_settings, llm, tmp_path: Path):
    content = tmp_path / "content"  # weights updated on every request that follows new outcomes
    (content / "guardrails").mkdir(parents=True)
    for part in ("prompts", "knowledge", "evals"):
        (content / part).symlink_to(REPO_ROOT / part)
    for entry in (REPO_ROOT / "guardrails").iterdir():
        if entry.name != "allocation.yaml":
            (content / "guardrails" / entry.name).symlink_to(entry)
    policy = (REPO_ROOT / "guardrails" / "allocation.yaml").read_text()
    (content / "guardrails" / "allocation.yaml").write_text(
        policy.replace("update_interval_s: 5", "update_interval_s: 0")
    )
    api = start_api(lib_settings, content_dir=content)
    good, bad = kept(api, llm, NOW), kept(api, llm, OTHER)
    for library_id in (good, bad):
        decide(api, library_id, "approve").raise_for_status()
    llm.script()
    variant_of: dict[str, str] = {}
    while len(variant_of) < 2:  # no outcomes yet: they rotate
        (v,) = generate(api, mode="library")["variants"]
        variant_of[v["library_id"]] = v["variant_id"]
    events = iter(range(10**6))
    at = time.time()  # Unix seconds, after the variants were generated
    for _ in range(6):  # each batch of outcomes, then a request: one update of the weights
        batch = [{"event_id": f"e{next(events)}", "variant_id": variant_of[lid], "type": "sent", "at": at}
                 for lid in (good, bad) for _ in range(20)]  # fmt: skip
        won = {"variant_id": variant_of[good], "type": "converted", "at": at}
        batch += [{"event_id": f"e{next(events)}", **won} for _ in range(10)]
        resp = api.post("/v1/events", json={"events": batch})
        assert resp.status_code == 200 and resp.json()["accepted"] == len(batch), resp.text
        generate(api, mode="library")
    served = [generate(api, mode="library")["variants"][0]["library_id"] for _ in range(20)]
    assert served.count(good) >= 16 and llm.calls == []
    assert api.get(f"/v1/library/{good}").json()["outcomes"] == {"sent": 120, "converted": 60}
    page = api.get("/v1/library-queue.html", params={"status": "approved"}).text
    assert "converted rate 50.0%" in page and "sent 120" in page


def test_library_mode_writes_only_what_the_library_lacks(start_api, lib_settings, llm):
    api = start_api(lib_settings)
    library_id = kept(api, llm, NOW)
    decide(api, library_id, "approve").raise_for_status()
    llm.script(default=lambda _: ok(OTHER))
    a, b = generate(api, mode="library", variants=2)["variants"]
    assert (a["source"], a["library_id"], b["source"]) == ("library", library_id, "llm")
    assert a["tone"] != b["tone"] and len(llm.calls) == 1  # one model call, for the missing variant
