"""The knowledge base: incremental ingestion, facts by filter, safe and budgeted reviews,
retrieval quality above the floor, and the shared Chroma server mode."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
import yaml

from app.config import REPO_ROOT
from app.content import read_yaml
from app.guardrails.review_screen import ReviewScreen
from app.kb import open_knowledge
from app.kb.documents import load_snippets
from app.kb.evaluate import check_floor, load_queries
from app.kb.ingest import ingest
from tests.servers import free_port

TODAY = date(2026, 11, 22)
CONTACT = re.compile(r"\d{3}[- ]?\d{4}[- ]?\d{4}|https?://|@|wx_|(?:\d[ -]?){13,}")
INSTRUCTION = re.compile(r"(?i)ignore|system|忽略|系统提示|pirate|免费|FREE100")


@pytest.fixture(scope="module")
def kb(index_dir):
    """As the service opens it: reviews screened by the guardrails' checks."""
    return open_knowledge(REPO_ROOT, index_dir, None, screen=ReviewScreen(REPO_ROOT / "guardrails"))


def test_the_demo_knowledge_is_big_enough():
    snippets = load_snippets(REPO_ROOT / "knowledge")
    reviews = [s for s in snippets if s.kind == "review"]
    assert len({s.sku for s in snippets if s.kind == "fact"}) >= 40
    assert len({s.category for s in snippets if s.kind == "fact"}) >= 5
    assert len(reviews) >= 400
    assert {s.locale for s in reviews} == {"zh-CN", "en-US"}
    assert {"phone", "link", "injection", "banned"} <= {f for s in reviews for f in s.flags}
    assert any(s.kind == "faq" for s in snippets)


def test_ingest_is_incremental(tmp_path):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO_ROOT / "knowledge", knowledge)
    kb = open_knowledge(REPO_ROOT, tmp_path / "index", None, ingest_if_empty=False)
    first = ingest(kb.collection, load_snippets(knowledge))
    assert (first.added, first.updated, first.deleted) == (772, 0, 0) or first.added == len(
        load_snippets(knowledge)
    )
    again = ingest(kb.collection, load_snippets(knowledge))
    assert (again.added, again.updated, again.deleted, again.unchanged) == (0, 0, 0, first.added)

    path = knowledge / "reviews" / "SKU-1001.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["reviews"][0]["text"] = "鞋码偏小，建议买大一码。"  # changed
    del doc["reviews"][1]  # deleted
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    (knowledge / "products" / "SKU-1001.yaml").write_text(
        (knowledge / "products" / "SKU-1001.yaml").read_text().replace("可手洗，勿机洗或暴晒。", "可手洗。")
    )  # one fact edited: a new fact ID, the old one removed
    third = ingest(kb.collection, load_snippets(knowledge))
    assert (third.added, third.updated, third.deleted) == (1, 1, 2)
    assert kb.collection.count() == first.added - 1
    kb.refresh()
    assert kb.product("SKU-1001", "zh-CN").facts[4] == "可手洗。"


def test_facts_come_by_filter_in_file_order(kb):
    facts = kb.product("SKU-1002", "en-US")
    source = read_yaml(REPO_ROOT / "knowledge" / "products" / "SKU-1002.yaml")
    assert facts.facts == source["facts"]["en-US"]
    assert facts.name == "Gale Carbon Racer"
    assert len(set(facts.fact_ids)) == len(facts.facts)
    assert kb.product("SKU-0000", "en-US") is None


def test_reviews_speak_to_the_concern_and_keep_stable_ids(kb):
    got = kb.reviews(["SKU-1001"], "zh-CN", "email", "sizing", "cs_followup", [], TODAY)
    assert got, "no reviews"
    assert got[0].id == "R-1001-01" and "偏小" in got[0].text  # the sizing review first
    assert all(e.id.startswith("R-1001-") for e in got)
    assert got == kb.reviews(["SKU-1001"], "zh-CN", "email", "sizing", "cs_followup", [], TODAY)


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_reviews_fit_the_channel_budget(kb, channel):
    budget = read_yaml(REPO_ROOT / "knowledge" / "retrieval.yaml")["budget"][channel]
    for sku in ("SKU-1001", "SKU-3001", "SKU-4002"):
        for locale in ("zh-CN", "en-US"):
            got = kb.reviews([sku], locale, channel, None, "cart_abandon", ["running"], TODAY)
            assert len(got) <= budget["snippets"]
            assert sum(len(e.text) for e in got) <= budget["chars"]
            assert len({e.text for e in got}) == len(got)


def test_hostile_reviews_never_reach_a_prompt(kb):
    hostile = [s for s in kb.snippets if s.flags]
    assert len(hostile) >= 8
    for s in hostile:
        for concern in (s.topic, None):
            for e in kb.reviews([s.sku], s.locale, "email", concern, "cart_abandon", [], TODAY):
                assert not CONTACT.search(e.text), e
                assert not INSTRUCTION.search(e.text), e


def test_retrieval_on_the_service_path_stays_above_the_floor(kb):
    """Every labelled set of evals/retrieval/floor.yaml, measured as `copydesk kb eval` does: the
    share of each channel's prompts quoting an answering review, the search alone, hybrid >= dense."""
    journeys = list(read_yaml(REPO_ROOT / "knowledge" / "retrieval.yaml")["journey_topics"])
    reports = check_floor(kb, REPO_ROOT, journeys)
    assert {r.name for r in reports} >= {"independent, test split", "project set"}
    assert [f for r in reports for f in r.failures] == []
    independent = next(r for r in reports if r.name.startswith("independent"))
    assert all(loc.answerable >= 15 for loc in independent.locales)


def test_the_independent_set_is_split_and_sourced():
    queries = load_queries(REPO_ROOT / "evals" / "retrieval" / "independent.yaml")
    assert len(queries) >= 100
    assert {q["split"] for q in queries} == {"calibration", "test"}
    assert all(
        q["source"].split("#")[0] in {"womens-ecommerce-clothing-reviews", "fewclue-eprstmt"} for q in queries
    )
    test = load_queries(REPO_ROOT / "evals" / "retrieval" / "independent.yaml", "test")
    assert 0 < len(test) < len(queries)


@pytest.mark.parametrize(
    ("concern", "sku", "review", "says"),
    [
        ("returning it, who pays", "SKU-1005", "R-1005-08", "return"),
        ("how fast is it shipped", "SKU-1002", "R-1002-06", "Shipping"),
    ],
)
def test_an_inflected_english_word_finds_its_stem(kb, concern, sku, review, says):
    """ "returning" meets "return", "shipped" meets "shipping": the keyword side is stemmed."""
    lexical = kb.search(concern, [sku], locale="en-US", mode="lexical", k=3)
    assert lexical and lexical[0].snippet.id == review and says in lexical[0].snippet.text
    assert review in [h.snippet.id for h in kb.search(concern, [sku], locale="en-US", k=3)]


def test_unfit_reviews_are_never_quoted_and_are_listed(kb):
    """Flagged in knowledge/, or failing the sensitive-word or PII checks: out of every prompt."""
    flagged = {s.id for s in kb.snippets if s.flags}
    assert flagged <= set(kb.unfit)
    assert any("sensitive word" in r for why in kb.unfit.values() for r in why)
    assert any(not kb.snippets[kb.position[i]].flags for i in kb.unfit)  # found by the checks alone
    for sid in kb.unfit:
        s = kb.snippets[kb.position[sid]]
        for channel in ("sms", "email"):
            for concern in (s.topic, s.text[:40], None):
                got = kb.reviews([s.sku], s.locale, channel, concern, "cart_abandon", [], TODAY)
                assert sid not in {e.id for e in got}


def test_a_concern_answered_only_in_the_other_locale_is_a_stated_gap(kb):
    got = kb.reviews(["SKU-2002"], "en-US", "email", "packaging", "cart_abandon", [], TODAY)
    assert got.language_gap is not None
    assert got.language_gap.other_locale == "zh-CN" and "R-2002-09" in got.language_gap.review_ids
    assert "R-2002-09" not in {e.id for e in got}  # named, not quoted
    here = kb.reviews(["SKU-2002"], "zh-CN", "email", "packaging", "cart_abandon", [], TODAY)
    assert here.language_gap is None and here[0].id == "R-2002-09"


def test_generation_carries_snippet_ids(api, llm):
    from tests.conftest import sms_request
    from tests.servers import ok

    llm.script(default=lambda _: ok({"body": "{product}还在购物车里，回来看看吧。"}))
    resp = api.post("/v1/generate", json=sms_request(channel="email", variants=1))
    ids = resp.json()["snippet_ids"]
    assert any(i.startswith("F-SKU-1001-zh-CN-") for i in ids)
    reviews = [i for i in ids if i.startswith("R-1001-")]
    assert reviews
    user_prompt = llm.calls[0]["messages"][1]["content"]
    assert user_prompt.count("<review>") == len(reviews)


def test_a_free_text_concern_gets_its_gap_by_the_topic_its_neighbours_vote_for(kb):
    got = kb.reviews(
        ["SKU-2002"], "en-US", "sms", "does it come in a nice box, it's a gift", "welcome", [], TODAY
    )
    assert got.language_gap is not None and got.language_gap.topic == "packaging"
    assert kb.topic_of("can I pay in instalments") == "payment"
    assert kb.topic_of("平时穿41码这款正常拍就行吗") == "sizing"


def test_kb_stats_lists_the_reviews_never_quoted(index_dir, tmp_path):
    from typer.testing import CliRunner

    from app.cli import app

    env = {"COPYDESK_INDEX_DIR": str(index_dir), "COPYDESK_DATA_DIR": str(tmp_path), "COLUMNS": "250"}
    result = CliRunner().invoke(app, ["kb", "stats"], env=env)
    assert result.exit_code == 0, result.output
    assert "Reviews never quoted" in result.output
    for sid in ("R-1004-14", "R-3008-13", "R-3004-06"):  # banned words, a card number, "eco-friendly"
        assert sid in result.output
    assert "never quoted (flagged or failing" in result.output


def test_the_fusion_weight_is_learned_with_dense_alone_among_the_choices(kb):
    from app.kb.calibrate import learn_weights

    queries = load_queries(REPO_ROOT / "evals" / "retrieval" / "independent.yaml", "calibration")[:12]
    before = dict(kb.config["fusion"]["lexical_weight"])
    for choice in learn_weights(kb, queries):
        assert choice.curve[0][0] == 0.0 and choice.mrr >= choice.dense_mrr
    assert kb.config["fusion"]["lexical_weight"] == before  # learning leaves the running weights alone


def test_the_concern_topic_bonus_is_learned_on_the_quoted_rates(kb):
    from app.kb.calibrate import BONUSES, VOTES, learn_topic_bonus

    queries = load_queries(REPO_ROOT / "evals" / "retrieval" / "queries.yaml")[:8]
    before = dict(kb.config["concern_topic"])
    choice = learn_topic_bonus(kb, queries, "cart_abandon", TODAY)
    assert len(choice.grid) == len(VOTES) * len(BONUSES)
    assert choice.score == max(score for _, _, score in choice.grid)
    assert kb.config["concern_topic"] == before


def test_a_flagged_review_is_never_in_a_rendered_prompt(api, llm):
    """R-1004-14 (全网第一, 国家级, 治好失眠) is the best-rated quality review of SKU-1004: before,
    an e-mail on quality quoted it as it is."""
    from tests.conftest import sms_request
    from tests.servers import ok

    llm.script(default=lambda _: ok({"title": "跑鞋", "body": "{product}还在购物车里。", "cta": "去看看"}))
    audience = {"segment": "hot", "interests": [], "cs_topic": "quality"}
    for n, topic in enumerate(("quality", "鞋子质量怎么样", None)):
        body = sms_request(channel="email", skus=["SKU-1004"], variants=1, request_id=f"flag-{n}",
                           audience={**audience, "cs_topic": topic})  # fmt: skip
        resp = api.post("/v1/generate", json=body)
        assert resp.status_code == 200, resp.text
        assert "R-1004-14" not in resp.json()["snippet_ids"]
        prompt = llm.calls[-1]["messages"][1]["content"]
        assert "<review>" in prompt
        for banned in ("全网第一", "国家级", "治好失眠"):
            assert banned not in prompt


def test_the_language_gap_is_in_the_audit_record(api, llm):
    from tests.conftest import sms_request
    from tests.servers import ok

    llm.script(default=lambda _: ok({"body": "Your jacket is waiting."}))
    body = sms_request(locale="en-US", skus=["SKU-2002"], variants=1, request_id="gap-1",
                       audience={"segment": "hot", "interests": [], "cs_topic": "packaging"})  # fmt: skip
    resp = api.post("/v1/generate", json=body).json()
    record = api.get(f"/v1/generations/{resp['generation_id']}").json()
    gap = record["review_language_gap"]
    assert gap == {
        "topic": "packaging",
        "locale": "en-US",
        "answered_in": "zh-CN",
        "review_ids": ["R-2002-09"],
    }


def test_the_shared_chroma_server_mode(tmp_path):
    """Several service instances share one index through `chroma run`."""
    port = free_port()
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma CLI comes with chromadb"
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        first = open_knowledge(REPO_ROOT, tmp_path / "unused", url)  # builds the index on the server
        second = open_knowledge(REPO_ROOT, tmp_path / "unused2", url)  # another instance, same index
        assert first.size() == second.size() > 700
        assert second.product("SKU-5001", "zh-CN").name == "20W快充氮化镓充电器"
        assert [h.snippet.id for h in second.search("会不会偏小", ["SKU-1001"], k=3)][0] == "R-1001-01"
        assert not (tmp_path / "unused" / "chroma").exists() or not any(
            (tmp_path / "unused" / "chroma").iterdir()
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_nothing_is_downloaded(tmp_path, index_dir):
    """With every proxy pointing at a closed port, a download attempt would fail: none happens."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "NO_PROXY": "127.0.0.1",
        "COPYDESK_INDEX_DIR": str(tmp_path),
        "COPYDESK_DATA_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-m", "app", "kb", "query", "does it run small", "--sku", "SKU-1001", "--k", "2"],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "R-1001" in out.stdout
