"""Outcome events and the allocation they drive, through HTTP with real SQLite (and PostgreSQL where
the suite runs it): duplicates ignored also across two instances, a rejected event never fails its
batch, weights follow conversions within the step limit, a new segment starts from its journey's
prior, the hold-out appears only when configured, a high-unsubscribe arm is held at the floor."""

from __future__ import annotations

import itertools
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from app.config import REPO_ROOT
from app.learning.allocation import step_limited
from tests.conftest import sms_request
from tests.servers import ok

GOOD_SMS = "{name}，您购物车里的{product}还在等您，{offer}。"
POLICY = yaml.safe_load((REPO_ROOT / "guardrails" / "allocation.yaml").read_text())
_ids = itertools.count()


@pytest.fixture
def settings(settings, tmp_path):
    """These tests post outcomes and expect the next generation to see them: no update interval."""
    return replace(settings, content_dir=content_with_policy(tmp_path))


@pytest.fixture(autouse=True)
def good_copy(llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))


def generate(api, segment: str | None = "hot", variants: int = 3, **extra) -> dict:
    body = sms_request(request_id=f"learn-{next(_ids)}-{time.time_ns()}", variants=variants, **extra)
    body["audience"] = {**body["audience"], "segment": segment}
    resp = api.post("/v1/generate", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def events_for(variant_id: str, sent: int, **outcomes: int) -> list[dict]:
    now = time.time()
    out = [{"event_id": f"{variant_id}-sent-{i}", "variant_id": variant_id, "type": "sent", "at": now}
           for i in range(sent)]  # fmt: skip
    for kind, n in outcomes.items():
        out += [{"event_id": f"{variant_id}-{kind}-{i}", "variant_id": variant_id, "type": kind, "at": now}
                for i in range(n)]  # fmt: skip
    return out


def post(api, events: list[dict], **headers) -> dict:
    answers = {"accepted": 0, "duplicate": 0, "rejected": 0, "errors": []}
    for start in range(0, len(events), 1000):
        resp = api.post("/v1/events", json={"events": events[start : start + 1000]}, headers=headers)
        assert resp.status_code == 200, resp.text
        for k, v in resp.json().items():
            answers[k] += v
    return answers


def weights(gen: dict) -> list[float]:
    return [v["weight"] for v in gen["variants"]]


def test_events_counted_once_and_a_bad_event_never_fails_its_batch(api):
    gen = generate(api)
    a, b = (v["variant_id"] for v in gen["variants"][:2])
    now = time.time()
    batch = [
        {"event_id": "ok-1", "variant_id": a, "type": "sent", "at": now},
        {"event_id": "ok-2", "variant_id": a, "type": "converted", "value": 59.0,
         "at": datetime.fromtimestamp(now, UTC).isoformat()},
        {"event_id": "ok-1", "variant_id": a, "type": "sent", "at": now},  # twice in the batch
        {"event_id": "e-unknown", "variant_id": "gen_00000000000000000000-A", "type": "sent", "at": now},
        {"event_id": "e-future", "variant_id": b, "type": "sent", "at": now + 3600},
        {"event_id": "e-before", "variant_id": b, "type": "sent", "at": now - 86400},
        {"event_id": "e-type", "variant_id": b, "type": "bounced", "at": now},
        {"event_id": "e-missing", "variant_id": b, "type": "sent"},
        {"event_id": "e-naive", "variant_id": b, "type": "sent", "at": "2026-12-02T09:00:00"},
        {"event_id": "e-extra", "variant_id": b, "type": "sent", "at": now, "customer": "x"},
        {"event_id": "e-value", "variant_id": b, "type": "converted", "at": now, "value": -3},
    ]  # fmt: skip
    resp = api.post("/v1/events", json={"events": batch})
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert (answer["accepted"], answer["duplicate"], answer["rejected"]) == (2, 1, 8)
    codes = {e["index"]: (e["code"], e["field"]) for e in answer["errors"]}
    assert codes == {
        3: ("unknown_variant", "events[3].variant_id"),
        4: ("in_future", "events[4].at"),
        5: ("before_generation", "events[5].at"),
        6: ("unknown_type", "events[6].type"),
        7: ("missing_field", "events[7].at"),
        8: ("invalid_field", "events[8].at"),
        9: ("unknown_field", "events[9].customer"),
        10: ("invalid_field", "events[10].value"),
    }
    again = api.post("/v1/events", json={"events": batch[:2]}).json()
    assert (again["accepted"], again["duplicate"]) == (0, 2)
    assert generate(api)["allocation"]["arms"][0]["sends"] == 1  # counted once


def test_malformed_and_oversized_batches_get_the_usual_4xx(api):
    gen = generate(api, variants=1)
    vid = gen["variants"][0]["variant_id"]
    now = time.time()
    thousand = [
        {"event_id": f"big-{i:06d}", "variant_id": vid, "type": "opened", "at": now} for i in range(1000)
    ]
    resp = api.post("/v1/events", json={"events": thousand})  # ~120 KB: over generate's 64 KiB, fine here
    assert resp.status_code == 200 and resp.json()["accepted"] == 1000, resp.text[:300]
    over = api.post("/v1/events", json={"events": thousand + thousand[:1]})
    assert over.status_code == 422 and over.json()["error"]["field"] == "events"
    huge = api.post("/v1/events", content=b'{"events": [' + b" " * 600_000 + b"]}",
                    headers={"content-type": "application/json"})  # fmt: skip
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"
    for body, field in (
        ({"events": "x"}, "events"),
        ({}, "events"),
        ({"events": [{}], "x": 1}, "x"),
        ({"events": []}, "events"),
    ):
        bad = api.post("/v1/events", json=body)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text
    assert (
        api.post("/v1/events", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    )


@pytest.fixture(params=["sqlite", "postgres"])
def shared_db(request, tmp_path):
    if request.param == "postgres":
        return {"database_url": request.getfixturevalue("postgres_url")}
    return {"data_dir": tmp_path / "shared"}


def test_two_instances_count_the_same_events_once(start_api, settings, shared_db):
    settings = replace(settings, **shared_db)
    a, b = start_api(settings), start_api(settings)
    gen = generate(a, variants=2)
    va, vb = (v["variant_id"] for v in gen["variants"])
    events = events_for(va, 600, converted=30) + events_for(vb, 300, clicked=10)
    random.Random(1).shuffle(events)
    batches = [events[i : i + 250] for i in range(0, len(events), 250)]
    with ThreadPoolExecutor(4) as pool:  # every batch to both instances at once
        answers = list(
            pool.map(lambda job: post(job[0], job[1]), [(c, b_) for b_ in batches for c in (a, b)])
        )
    assert sum(x["accepted"] for x in answers) == len(events)
    assert sum(x["duplicate"] for x in answers) == len(events)
    arms = generate(b, variants=2)["allocation"]["arms"]
    assert [x["sends"] for x in arms] == [600, 300]


def test_weights_follow_conversions_and_a_new_segment_starts_from_the_journey(api):
    first = generate(api, segment="hot")
    assert weights(first) == pytest.approx([1 / 3] * 3)  # no data: an equal split
    assert first["allocation"]["reason"].startswith("equal split")
    ids = [v["variant_id"] for v in first["variants"]]
    post(api, events_for(ids[0], 800, converted=120) + events_for(ids[1], 800, converted=40)
         + events_for(ids[2], 800, converted=40))  # fmt: skip
    after = generate(api, segment="hot")
    w = weights(after)
    assert w[0] > w[1] and w[0] > w[2], after["allocation"]
    assert after["allocation"]["arms"][0]["p_best"] > 0.99
    assert sum(w) == pytest.approx(1.0)
    fresh = generate(api, segment="warm")  # no event of its own: the journey's prior
    arms = fresh["allocation"]["arms"]
    assert [a["sends"] for a in arms] == [0, 0, 0]
    assert [a["prior"] for a in arms] == ["arm"] * 3
    assert weights(fresh)[0] > 0.5 and weights(fresh) != pytest.approx([1 / 3] * 3)


def test_tones_auto_draws_the_tone_that_converts(api):
    base = generate(api, segment="cold", variants=4)
    by_tone = {v["tone"]: v["variant_id"] for v in base["variants"]}
    post(api, [e for tone, vid in by_tone.items()
               for e in events_for(vid, 500, converted=75 if tone == "playful" else 10)])  # fmt: skip
    picks = [generate(api, segment="cold", variants=1, tones="auto")["variants"][0]["tone"] for _ in range(8)]
    assert picks.count("playful") >= 7, picks
    listed = generate(api, segment="cold", variants=2, tones=["concise"])
    assert [v["tone"] for v in listed["variants"]] == ["concise", "rational"]
    bad = api.post("/v1/generate", json=sms_request(request_id="bad-tones", tones=["concise", "concise"]))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "tones", bad.text


def test_weights_never_move_more_than_the_step(api):
    step = POLICY["max_step"]
    seen = [weights(generate(api, segment=None))]
    for round_ in range(6):
        ids = [v["variant_id"] for v in generate(api, segment=None)["variants"]]
        post(
            api,
            [e for i, vid in enumerate(ids) for e in events_for(f"{vid}", 0)]
            + [  # fmt: skip
                dict(e, event_id=f"r{round_}-{e['event_id']}")
                for i, vid in enumerate(ids)
                for e in events_for(vid, 200, converted=[30, 4, 2][i])
            ],
        )
        seen.append(weights(generate(api, segment=None)))
    moves = [max(abs(x - y) for x, y in zip(a, b, strict=True)) for a, b in itertools.pairwise(seen)]
    assert max(moves) <= step + 1e-9, moves
    assert max(moves) == pytest.approx(step), moves  # the limit was what held it back
    assert seen[-1][0] > 0.8


def test_step_limit_keeps_the_sum_and_the_bound():
    rng = random.Random(3)
    for _ in range(500):
        k = rng.randint(2, 5)
        last = [rng.random() for _ in range(k)]
        target = [rng.random() for _ in range(k)]
        last, target = [x / sum(last) for x in last], [x / sum(target) for x in target]
        out = step_limited(last, target, 0.1)
        assert sum(out) == pytest.approx(1.0)
        assert all(abs(o - w) <= 0.1 + 1e-12 for o, w in zip(out, last, strict=True))
        assert all(
            min(w, t) - 1e-12 <= o <= max(w, t) + 1e-12 for o, w, t in zip(out, last, target, strict=True)
        )
    # With no floor a weight falls to 0, never below it by rounding (the response says >= 0).
    for _ in range(2000):
        last = [rng.random() for _ in range(3)]
        last = [x / sum(last) for x in last]
        i = rng.randrange(3)
        target = [0.0 if j == i else 0.5 for j in range(3)]
        for _ in range(15):
            last = step_limited(last, target, 0.1)
        assert min(last) >= 0.0 and last[i] <= 1e-12, last


def content_with_policy(tmp_path: Path, **changes) -> Path:
    """A content dir that is this checkout's, but for guardrails/allocation.yaml (by default without
    an update interval: every request after new outcomes sees new weights)."""
    root = tmp_path / f"content-{next(_ids)}"
    (root / "guardrails").mkdir(parents=True)
    for entry in REPO_ROOT.iterdir():
        if entry.name in ("prompts", "knowledge", "evals"):
            (root / entry.name).symlink_to(entry)
    for entry in (REPO_ROOT / "guardrails").iterdir():
        if entry.name != "allocation.yaml":
            (root / "guardrails" / entry.name).symlink_to(entry)
    (root / "guardrails" / "allocation.yaml").write_text(
        yaml.safe_dump({**POLICY, "update_interval_s": 0, **changes})
    )
    return root


def test_the_hold_out_appears_only_when_configured(start_api, settings, tmp_path):
    plain = generate(start_api(settings))
    assert plain["allocation"]["hold_out"] == 0 and plain["allocation"]["hold_out_id"] is None
    assert sum(weights(plain)) == pytest.approx(1.0)
    api = start_api(settings, content_dir=content_with_policy(tmp_path, hold_out=0.1),
                    data_dir=tmp_path / "held")  # fmt: skip
    held = generate(api)
    alloc = held["allocation"]
    assert alloc["hold_out"] == pytest.approx(0.1) and alloc["hold_out_id"] == held["generation_id"] + "-H"
    assert sum(weights(held)) + alloc["hold_out"] == pytest.approx(1.0)
    *variant_arms, hold_arm = alloc["arms"]  # the hold-out reported as its own arm, last
    assert len(variant_arms) == len(held["variants"]) and all(a["arm"] != "holdout" for a in variant_arms)
    assert hold_arm["arm"] == "holdout" and hold_arm["variant_id"] == alloc["hold_out_id"]
    assert hold_arm["weight"] == pytest.approx(0.1) and hold_arm["sends"] == 0
    assert sum(a["weight"] for a in alloc["arms"]) == pytest.approx(1.0)
    assert all(a["arm"] != "holdout" for a in plain["allocation"]["arms"])
    assert alloc["policy_version"] != plain["allocation"]["policy_version"]
    answer = post(api, events_for(alloc["hold_out_id"], 5, converted=1))
    assert answer["accepted"] == 6  # the hold-out's own events have somewhere to go
    again = generate(api)["allocation"]["arms"][-1]
    assert again["arm"] == "holdout" and again["sends"] == 5


def test_a_high_unsubscribe_arm_is_held_at_the_floor_and_flagged(api):
    ids = [v["variant_id"] for v in generate(api, segment="warm")["variants"]]
    # The second arm converts best but drives customers away.
    post(api, events_for(ids[0], 1500, converted=60, unsubscribed=3)
         + events_for(ids[1], 1500, converted=120, unsubscribed=45)
         + events_for(ids[2], 1500, converted=60, unsubscribed=3))  # fmt: skip
    gen = generate(api, segment="warm")
    arms = gen["allocation"]["arms"]
    assert gen["variants"][1]["weight"] == pytest.approx(POLICY["floor"])
    assert (
        "unsubscribed_above_baseline" in arms[1]["flags"] and "unsubscribed_above_ceiling" in arms[1]["flags"]
    )
    assert arms[0]["flags"] == [] and arms[2]["flags"] == []
    assert "held at the floor" in gen["allocation"]["reason"]


def test_weights_stand_for_the_update_interval_but_the_guard_does_not_wait(start_api, settings, tmp_path):
    interval = 6.0
    api = start_api(settings, content_dir=content_with_policy(tmp_path, update_interval_s=interval))
    started = time.time()
    first = generate(api, segment="cold")
    ids = [v["variant_id"] for v in first["variants"]]
    post(api, events_for(ids[0], 300, converted=60) + events_for(ids[1], 300, converted=3)
         + events_for(ids[2], 300, converted=3))  # fmt: skip
    within = generate(api, segment="cold")
    assert time.time() - started < interval  # else the machine is too slow for this test's interval
    assert weights(within) == weights(first)
    assert [a["sends"] for a in within["allocation"]["arms"]] == [0, 0, 0]  # the stored decision
    time.sleep(max(0.0, started + interval + 0.2 - time.time()))
    moved = generate(api, segment="cold")
    updated = time.time()
    assert (
        weights(moved)[0] > weights(first)[0]
        and [a["sends"] for a in moved["allocation"]["arms"]] == [300] * 3
    )
    # Within the next interval, an arm that drives customers away is held at the floor at once.
    ids = [v["variant_id"] for v in moved["variants"]]
    post(api, events_for(ids[0], 1500, unsubscribed=3) + events_for(ids[1], 1500, unsubscribed=45)
         + events_for(ids[2], 1500, unsubscribed=3))  # fmt: skip
    guarded = generate(api, segment="cold")
    assert time.time() - updated < interval
    assert guarded["variants"][1]["weight"] == pytest.approx(POLICY["floor"])
    assert "unsubscribed_above_baseline" in guarded["allocation"]["arms"][1]["flags"]


def test_events_are_scoped_to_the_client_that_generated(start_api, settings):
    from app.config import Settings as S

    env = S.from_env({"COPYDESK_API_KEYS": "engine-a:ka,engine-b:kb,reviewer:kr",
                      "COPYDESK_API_ROLES": "reviewer:review"})  # fmt: skip
    api = start_api(
        settings, api_keys=env.api_keys, client_keys=env.client_keys, client_roles=env.client_roles
    )
    a = {"Authorization": "Bearer ka"}
    body = sms_request(request_id="scoped", variants=1)
    vid = api.post("/v1/generate", json=body, headers=a).json()["variants"][0]["variant_id"]
    event = [{"event_id": "s-1", "variant_id": vid, "type": "sent", "at": time.time()}]
    other = api.post("/v1/events", json={"events": event}, headers={"Authorization": "Bearer kb"}).json()
    assert other["rejected"] == 1 and other["errors"][0]["code"] == "unknown_variant"
    refused = api.post("/v1/events", json={"events": event}, headers={"Authorization": "Bearer kr"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    # Nor may a client without the generate role generate (it reviews, it does not send).
    not_mine = api.post("/v1/generate", json=sms_request(request_id="scoped-r", variants=1),
                        headers={"Authorization": "Bearer kr"})  # fmt: skip
    assert not_mine.status_code == 403 and not_mine.json()["error"]["code"] == "forbidden_role"
    assert "generate" in not_mine.json()["error"]["message"]
    mine = api.post("/v1/events", json={"events": event}, headers=a).json()
    assert mine["accepted"] == 1


def test_performance_per_arm_with_intervals_guard_and_weights(api):
    ids = [v["variant_id"] for v in generate(api, segment="hot", variants=2)["variants"]]
    post(api, events_for(ids[0], 400, clicked=80, converted=40, unsubscribed=1)
         + events_for(ids[1], 400, clicked=40, converted=10, unsubscribed=12))  # fmt: skip
    generate(api, segment="hot", variants=2)  # weights served after the events
    resp = api.get("/v1/performance", params={"journey": "cart_abandon", "segment": "hot"})
    assert resp.status_code == 200, resp.text
    (ctx,) = resp.json()["contexts"]
    assert (ctx["journey"], ctx["channel"], ctx["locale"], ctx["segment"]) == (
        "cart_abandon",
        "sms",
        "zh-CN",
        "hot",
    )
    first, second = sorted(ctx["arms"], key=lambda a: -a["counts"]["converted"])
    assert first["counts"]["sent"] == 400 and first["counts"]["converted"] == 40
    conv = first["rates"]["converted"]
    assert conv["rate"] == pytest.approx(0.1) and conv["low"] < 0.1 < conv["high"]
    assert first["p_best"] > 0.95 and first["weight"] > second["weight"]
    assert second["guard"]["unsubscribed"]["p_above_baseline"] > 0.95
    assert ctx["baseline"]["sends"] == 800
    assert api.get("/v1/performance", params={"segment": "cold"}).json()["contexts"] == []
    assert len(api.get("/v1/performance", params={"since": "2000-01-01"}).json()["contexts"]) == 1
    assert api.get("/v1/performance", params={"since": "2999-01-01"}).json()["contexts"] == []
    bad = api.get("/v1/performance", params={"segment": "lukewarm"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "segment"


def test_the_report_page_opens_in_chromium_and_shows_the_charts(start_api, settings, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists():
        pytest.skip("make browser installs Debian's chromium")
    content = content_with_policy(tmp_path, hold_out=0.1)
    api = start_api(settings, content_dir=content)
    gen = generate(api, segment="hot")
    ids = [v["variant_id"] for v in gen["variants"]]
    held = gen["allocation"]["hold_out_id"]
    post(api, events_for(ids[0], 300, converted=30) + events_for(ids[1], 300, converted=10)
         + events_for(ids[2], 300, converted=12) + events_for(held, 100, converted=2))  # fmt: skip
    generate(api, segment="hot")
    page = tmp_path / "out" / "performance.html"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COPYDESK_DATA_DIR": str(settings.data_dir),
           "COPYDESK_CONTENT_DIR": str(content)}  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "app", "report", "performance", "--out", str(page)],
                         env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        tab = browser.new_page()
        tab.on("request", lambda r: requests.append(r.url))
        tab.goto(page.as_uri())
        assert tab.locator("section.context").count() == 1
        assert tab.locator("svg.rates rect.bar").count() == 3  # a bar per arm
        assert tab.locator("svg.rates line.interval").count() == 3  # with its interval
        assert tab.locator("svg.weights polyline").count() == 3  # weights over time
        assert tab.locator("svg.sends polyline").count() >= 3  # sends per day
        box = tab.locator("svg.rates").bounding_box()
        assert box and box["width"] > 300 and box["height"] > 60  # drawn, not collapsed
        text = tab.inner_text("body").lower()
        assert "what the allocation changed and why" in text and "hold-out: 100 held out" in text
        browser.close()
    assert requests == [page.as_uri()]  # self-contained: nothing else fetched


def test_tones_auto_reads_the_posteriors_once_per_interval(tmp_path):
    """Within the update interval "tones": "auto" draws from the posteriors it read last (no
    database read per request); after it, from the new ones."""
    from app.learning import Context, Learning
    from app.learning.policy import AllocationPolicy
    from app.learning.store import KnownVariant, NewEvent
    from app.store.database import open_database

    db = open_database(None, tmp_path)
    policy = AllocationPolicy.load(content_with_policy(tmp_path, update_interval_s=3600) / "guardrails"
                                   / "allocation.yaml")  # fmt: skip
    learning = Learning(db, policy)
    ctx = Context("cart_abandon", "sms", "zh-CN", "hot")
    arms = ["rational@p", "emotional@p", "playful@p", "concise@p"]
    assert sorted(learning.choose_arms(ctx, arms, 4, client="c")) == sorted(arms)
    events = []
    for arm in arms:
        v = KnownVariant(f"v-{arm}", "c", time.time() - 60, ctx, arm)
        events += [NewEvent(f"{arm}-s{i}", v, "sent", time.time(), None) for i in range(400)]
        wins = 160 if arm == "playful@p" else 4
        events += [NewEvent(f"{arm}-c{i}", v, "converted", time.time(), None) for i in range(wins)]
    assert learning.store is not None
    assert learning.store.insert_events(events) == len(events)
    stale = [learning.choose_arms(ctx, arms, 1, client="c")[0] for _ in range(40)]
    assert stale.count("playful@p") < 40, stale  # still the equal posteriors it read first
    learning.policy = replace(policy, update_interval_s=0)
    fresh = [learning.choose_arms(ctx, arms, 1, client="c")[0] for _ in range(40)]
    assert fresh.count("playful@p") == 40, fresh
