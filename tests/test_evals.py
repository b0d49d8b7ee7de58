"""The eval runner, its assertions, the baseline diff and the report, on the scripted model."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from app.config import REPO_ROOT
from app.evals.cases import load_cases
from app.evals.report import baseline_of, by_group, compare, render_html, results_json, summarise
from app.evals.runner import run_cases
from app.generation.service import build_service
from tests.servers import Reply, ok, prompt_text

CASES = load_cases(REPO_ROOT / "evals" / "cases")


def test_the_suite_covers_channels_locales_and_journeys():
    assert len(CASES) >= 60
    assert {(c.request["channel"], c.request["locale"]) for c in CASES} == {
        (ch, loc) for ch in ("sms", "push", "email", "wechat", "inapp") for loc in ("zh-CN", "en-US")
    }
    journeys = {c.request["journey"] for c in CASES}
    assert journeys >= {
        "welcome", "browse_abandon", "cart_abandon", "price_drop", "low_stock",
        "coupon_expiring", "cs_followup", "winback", "first_order",
    }  # fmt: skip
    assert {c.request["audience"]["segment"] for c in CASES} == {"hot", "warm", "cold"}
    assert any(c.request["offer_id"] for c in CASES) and any(not c.request["offer_id"] for c in CASES)
    assert {t for c in CASES for t in c.tags} >= {"smoke"}


def _good(body: dict) -> ok:
    """Copy that names the product through its placeholder, in the prompt's language."""
    zh = "请写一条" in prompt_text(body)
    return ok({"title": "好物在等您" if zh else "Picked for you",
               "body": "{product}还在等您，回来看看吧。" if zh else "{product} is waiting for you.",
               "cta": "去看看" if zh else "Take a look"})  # fmt: skip


def _run(settings, cases):
    async def go():
        service = await asyncio.to_thread(build_service, settings)
        try:
            return await run_cases(service, cases, concurrency=2)
        finally:
            await service.aclose()

    return asyncio.run(go())


def test_runner_assertions_summary_and_baseline(settings, llm, tmp_path):
    cases = [c for c in CASES if c.request["channel"] in ("push", "inapp") and not c.request["offer_id"]][:3]
    llm.script(default=_good)
    runs = _run(replace(settings, data_dir=tmp_path), cases)
    assert [r.passed for r in runs] == [True, True, True], [(r.case.id, r.assertions) for r in runs]
    summary = summarise(runs, {"input": 1.0, "output": 2.0})
    assert summary["pass_rate"] == 1.0 and summary["first_try_compliance"] == 1.0
    assert summary["tokens_per_message"] == 15.0  # the scripted server reports 10 + 5 per call
    assert summary["cost_per_1000_messages"] == pytest.approx((10 * 1 + 5 * 2) / 1e6 * 1000)
    results = results_json(runs, summary)
    assert {c["id"] for c in results["cases"]} == {c.id for c in cases}

    baseline = baseline_of(runs)
    llm.script(default=lambda _: ok({"title": "x", "body": "...", "cta": "x"}))  # now the model breaks
    worse = _run(replace(settings, data_dir=tmp_path / "2"), cases)
    diff = compare(worse, baseline)
    assert diff["newly_failing"] == [c.id for c in cases] and diff["pass_rate"] == 0.0
    page = render_html(worse, summarise(worse, {}), by_group(worse, {}), diff, baseline,
                       build_channels(), "scripted")  # fmt: skip
    assert all(c.id in page for c in cases) and "changed since baseline" in page


def build_channels():
    from app.content import load_content

    return load_content(REPO_ROOT).channels


@pytest.mark.skipif(shutil.which("chromium") is None, reason="make browser installs Debian's chromium")
def test_the_report_opens_in_a_real_browser(settings, llm, tmp_path):
    cases = [c for c in CASES if c.request["channel"] in ("sms", "push")][:2]
    llm.script(default=_good)
    runs = _run(replace(settings, data_dir=tmp_path), cases)
    summary = summarise(runs, {})
    page = tmp_path / "report.html"
    page.write_text(
        render_html(runs, summary, by_group(runs, {}), compare(runs, {}), {}, build_channels(), "scripted")
    )
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={tempfile.mkdtemp()}",
    ]
    dom = subprocess.run(
        ["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90
    )
    assert dom.returncode == 0, dom.stderr[-500:]
    for case in cases:
        assert f'id="{case.id}"' in dom.stdout
    assert "pass rate 100%" in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", *flags, "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=90, cwd=tmp_path)  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 10_000


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="make browser installs Debian's chromium")
def test_the_report_leads_with_the_summary_and_the_copy_and_folds_the_gate(settings, llm, tmp_path):
    """A copywriter sees the summary, the gate's one line and the copy on the first screen; the
    gate's statistics are behind a disclosure that opens on a click."""
    from playwright.sync_api import sync_playwright

    from app.evals.gate import judge_gate
    from app.evals.report_gate import gate_section, with_gate_section

    cases = [c for c in CASES if c.request["channel"] in ("sms", "push")][:2]
    llm.script(default=_good)
    runs = _run(replace(settings, data_dir=tmp_path), cases)
    config = {"gate": {"alpha": 0.05, "power": 0.8, "min_drop": 0.15}}
    verdict = judge_gate(runs, {}, config)
    page_html = with_gate_section(
        render_html(
            runs, summarise(runs, {}), by_group(runs, {}), compare(runs, {}), {}, build_channels(), "s"
        ),
        gate_section(verdict),
    )
    path = tmp_path / "report.html"
    path.write_text(page_html)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(path.as_uri())
            verdict_line = page.locator(".gate .verdict")
            assert verdict_line.is_visible()
            assert f"Verdict: {verdict.status}" in verdict_line.inner_text()
            line_box = verdict_line.bounding_box()
            assert line_box is not None and line_box["height"] < 40  # one line
            stats = page.locator(".gate table")
            assert not stats.is_visible()  # folded
            summary_box = page.locator("main > table").first.bounding_box()
            copy_box = page.locator(".variant").first.bounding_box()
            assert summary_box is not None and copy_box is not None
            assert (
                summary_box["y"] < line_box["y"] < copy_box["y"] < 900
            )  # summary, verdict, copy: first screen
            page.locator(".gate summary").click()
            assert stats.is_visible() and "smallest detectable drop" in stats.inner_text()
        finally:
            browser.close()


def test_baseline_file_is_valid():
    path = REPO_ROOT / "evals" / "baseline.json"
    data = json.loads(path.read_text())
    assert set(data["cases"]) <= {c.id for c in CASES}
    assert all({"passed", "variants"} <= set(v) for v in data["cases"].values())


def test_results_land_where_asked(tmp_path):
    from app.evals.report import write

    results, html = write(Path(tmp_path) / "out", {"summary": {}}, "<html></html>")
    assert json.loads(results.read_text()) == {"summary": {}} and html.read_text() == "<html></html>"


def test_a_judge_model_grades_each_variant_several_times(settings, llm, tmp_path):
    """The scripted server plays both the copy model and the judge (it answers by prompt)."""
    from app.content import read_yaml
    from app.evals.judge import Judge

    scores = iter([5, 4, 2] * 20)

    def respond(body: dict):
        if "You grade marketing messages" in prompt_text(body):
            s = next(scores)
            return ok({"relevance": s, "tone": 4, "brand_voice": 4, "reason": "fits the cart reminder"})
        return _good(body)

    llm.script(default=respond)
    config = read_yaml(REPO_ROOT / "evals" / "config.yaml")
    judge = Judge.from_env(
        REPO_ROOT / "evals", config, {"COPYDESK_JUDGE_BASE_URL": llm.url, "COPYDESK_JUDGE_MODEL": "j"}
    )
    assert Judge.from_env(REPO_ROOT / "evals", config, {}) is None  # no judge configured: none runs
    case = next(c for c in CASES if c.request["channel"] == "push" and not c.request["offer_id"])

    async def go():
        service = await asyncio.to_thread(build_service, replace(settings, data_dir=tmp_path))
        try:
            return await run_cases(service, [replace_variants(case, 1)], judge=judge)
        finally:
            await service.aclose()

    (run,) = asyncio.run(go())
    graded = {a.name: a for a in run.assertions if a.name.startswith("judge")}
    assert set(graded) == {"judge A relevance", "judge A tone", "judge A brand_voice"}
    relevance = graded["judge A relevance"]
    assert relevance.passed and "spread 3, flaky" in relevance.detail  # 5, 4, 2: mean 3.7
    assert sum("You grade" in prompt_text(c) for c in llm.calls) == 3  # graded three times


def replace_variants(case, n: int):
    return case.model_copy(update={"request": {**case.request, "variants": n}})


def _eval_cli(llm, commerce, tmp_path, index_dir, *args: str, env: dict | None = None, in_process=False):
    from tests.test_cli import copydesk

    env = (env or {}) | {
        "COPYDESK_LLM_BASE_URL": llm.url,
        "COPYDESK_LLM_MODEL": "scripted",
        "COPYDESK_COMMERCE_URL": commerce.url,
        "COPYDESK_DATA_DIR": str(tmp_path / "var"),
        "COPYDESK_INDEX_DIR": str(index_dir),
        "COLUMNS": "200",
    }
    if in_process:  # the same command without a fresh interpreter importing everything again
        from typer.testing import CliRunner

        from app.cli import app

        result = CliRunner().invoke(app, ["eval", "--filter", "push-en-us-cs_followup", *args], env=env)
        return subprocess.CompletedProcess(args, result.exit_code, result.output, "")
    return copydesk("eval", "--filter", "push-en-us-cs_followup", *args, env=env, timeout=300)


def test_the_gate_stops_a_change_that_makes_copy_worse(llm, commerce, tmp_path, index_dir):
    """`copydesk eval --gate` as CI runs it: a deliberate baseline, then a model that got worse."""
    baseline = tmp_path / "baseline.json"
    llm.script(default=_good)
    out = _eval_cli(llm, commerce, tmp_path, index_dir, "--baseline", str(baseline), "--update-baseline",
                    "--gate", "--out", str(tmp_path / "good"), in_process=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    saved = json.loads(baseline.read_text())["cases"]
    assert set(saved) == {"push-en-us-cs_followup-payment", "push-en-us-cs_followup-returns"}
    assert all(c["passed"] and c["assertions"][0] == c["assertions"][1] for c in saved.values())
    assert all(c["kinds"]["case passed"] == [1, 1] for c in saved.values())
    assert "not enough evidence" in out.stdout  # two runs cannot show a 15-point fall in a case pass

    llm.script(
        default=lambda _: ok({"title": "x", "body": "...", "cta": "x"})
    )  # every variant now fails a check
    out = _eval_cli(llm, commerce, tmp_path, index_dir, "--baseline", str(baseline), "--gate",
                    "--out", str(tmp_path / "worse"), in_process=True)  # fmt: skip
    assert out.returncode == 1, out.stdout
    # Every answer the model gave now fails the schema: 0 of 8 against 4 of 4 is significant even
    # though two cases alone (2 of 2 passing, then 0 of 2) could not show it.
    assert (
        "gate failed" in out.stdout
        and "model answers · schema fell from 100% (4/4) to 0% (0/8)" in out.stdout
    )
    assert "case passed fell" not in out.stdout
    results = json.loads((tmp_path / "worse" / "results.json").read_text())
    assert results["baseline"]["newly_failing"] == sorted(saved)
    assert json.loads(baseline.read_text())["cases"] == saved  # the gate never rewrites the baseline
    assert results["model"] == "scripted"  # the model served, named in results and report
    page = (tmp_path / "worse" / "report.html").read_text()
    assert "copydesk eval · scripted" in page
    assert "Verdict: <b>failed</b>" in page and "smallest detectable drop" in page


def test_the_gate_fails_on_any_returned_violation():
    """The service never returns a violating variant, so this hands the gate one directly."""
    from app.evals.assertions import Assertion
    from app.evals.gate import judge_gate
    from app.evals.runner import CaseRun

    case = CASES[0]
    variant = {"variant_id": "g-A", "checks": [{"name": "pii", "passed": False, "detail": "phone number"}]}
    run = CaseRun(case, 0, response={"variants": [variant]}, assertions=[Assertion("x", True, "ok")])
    verdict = judge_gate([run], {}, {})
    assert verdict.status == "failed" and verdict.violations == [f"{case.id}/A: pii (phone number)"]


def _runs(case, outcomes: list[bool]):
    from app.evals.assertions import Assertion
    from app.evals.runner import CaseRun

    return [
        CaseRun(case, i, response={"variants": []}, assertions=[Assertion("not fallback", ok_, "")])
        for i, ok_ in enumerate(outcomes)
    ]


def test_the_gate_says_what_it_could_not_see():
    """Same share as the baseline: 'passed' only when the run was big enough to see a 15-point fall."""
    from app.evals.evidence import case_kinds
    from app.evals.gate import judge_gate

    case = CASES[0]
    config = {"gate": {"alpha": 0.05, "power": 0.8, "min_drop": 0.15}}
    baseline = {"cases": {case.id: {"kinds": case_kinds(_runs(case, [True, False] * 100))[case.id]}}}
    small = judge_gate(_runs(case, [True, False] * 2), baseline, config)
    assert small.status == "not enough evidence"
    assert any(b.startswith("not fallback: baseline 50% (100/200); with 4 now") for b in small.blind), (
        small.blind
    )
    big = judge_gate(_runs(case, [True, False] * 150), baseline, config)
    assert big.status == "passed", big.blind
    fell = judge_gate(_runs(case, [True] + [False] * 29), baseline, config)
    assert fell.status == "failed" and fell.drops[0].startswith(
        "case passed fell from 50% (100/200) to 3% (1/30)"
    )
    no_baseline = judge_gate(_runs(case, [True] * 300), {}, config)
    assert no_baseline.status == "not enough evidence" and "no per-kind baseline" in no_baseline.blind[0]


def test_exact_drop_test_and_power():
    from app.evals.power import detectable_drop, drop_p_value

    assert drop_p_value(6, 6, 0, 6) == pytest.approx(1 / 924)  # C(12, 6) = 924 ways, one as extreme
    assert drop_p_value(2, 2, 0, 2) == pytest.approx(1 / 6)  # two runs each side prove nothing
    assert drop_p_value(5, 10, 5, 10) > 0.5
    assert detectable_drop(3, 10, 10, 0.05, 0.8) is None  # not even 30 % -> 0 % would be significant
    wide, narrow = detectable_drop(60, 100, 20, 0.05, 0.8), detectable_drop(60, 100, 400, 0.05, 0.8)
    assert wide is not None and narrow is not None and narrow < 0.15 < wide < 0.6


def test_the_baseline_diff_marks_whole_words_and_chinese_characters():
    from app.evals.report import _diff

    assert _diff("Enjoy free shipping | Shop", "Enjoy fast shipping | Shop") == (
        '<div class="was">was: Enjoy <del>free</del> shipping | Shop</div>'
        '<div class="now">now: Enjoy <ins>fast</ins> shipping | Shop</div>'
    )
    # Struck and added parts on separate lines, so each line reads as Chinese.
    assert _diff("您刚看过的跑鞋还在这里", "您看过的跑鞋还在购物车里") == (
        '<div class="was">was: 您<del>刚</del>看过的跑鞋还在<del>这</del>里</div>'
        '<div class="now">now: 您看过的跑鞋还在<ins>购物车</ins>里</div>'
    )
    marked = _diff("<b>bold</b>", "<i>bold</i>")  # copy is escaped, never rendered as markup
    assert "<b>" not in marked and "&lt;" in marked and "bold" in marked


def test_the_report_says_which_assertion_failed_and_shows_each_attempt(settings, llm, tmp_path):
    case = next(c for c in CASES if c.request["channel"] == "push" and c.request["locale"] == "en-US")
    junk = {"title": "Tweet", "body": "This is a post with [insert title] - 30+ characters."}
    llm.script(default=lambda body: ok(junk))
    runs = _run(replace(settings, data_dir=tmp_path), [case])
    page = render_html(runs, summarise(runs, {}), {}, compare(runs, {}), {}, build_channels(), "scripted")
    variant = runs[0].response["variants"][0]
    assert variant["source"] == "fallback" and "meta_text" in variant["source_reason"]
    assert '<span class="fail">not fallback</span>' in page  # the card names the failed assertion
    assert "This is a post with [insert title]" in page  # each attempt's raw answer ...
    assert "meta_text: title is a label" in page  # ... and what it broke


def test_a_case_the_service_cannot_serve_is_an_error_not_a_crash(settings, llm, tmp_path):
    """A push title limit no fallback can meet: the run reports the case as an error, the gate fails."""
    from app.evals.gate import judge_gate

    root = tmp_path / "content"
    for part in ("prompts", "guardrails", "knowledge", "evals"):
        shutil.copytree(REPO_ROOT / part, root / part)
    channels = root / "guardrails" / "channels.yaml"
    text = channels.read_text()
    assert "    title: 24\n" in text
    channels.write_text(text.replace("    title: 24\n", "    title: 1\n", 1))
    llm.script(default=lambda _: Reply(status=503))
    case = next(c for c in CASES if c.request["channel"] == "push" and c.request["locale"] == "en-US")
    (run,) = _run(replace(settings, data_dir=tmp_path / "var", content_dir=root), [case])
    assert run.error and "FallbackExhausted" in run.error
    assert not run.passed and not judge_gate([run], {}, {}).passed


def test_the_push_card_shows_where_stricter_vendors_cut():
    from app.evals.report import _render

    spec = build_channels()["push"]
    assert spec.vendors["vivo"] == {"title": 20, "body": 50}
    variant = {
        "title": "您关注的轻云缓震跑鞋库存不多了快来看看吧！",
        "body": "库存不多了",
        "cta": None,
    }  # 21 characters
    card = _render(variant, spec, "zh-CN")
    assert "vivo cuts the title at 20: 您关注的轻云缓震跑鞋库存不多了快来看看吧…" in card
    assert "oppo cuts" not in card
    assert "fits every vendor" in _render({**variant, "title": "库存提醒"}, spec, "zh-CN")


def test_recorded_answers_replay_without_a_model(llm, commerce, tmp_path, index_dir):
    """Record once; replay judges today's checks on those answers, and knows when the prompt moved on."""
    root = tmp_path / "content"
    for part in ("prompts", "guardrails", "knowledge", "evals"):
        shutil.copytree(REPO_ROOT / part, root / part)
    recorded = tmp_path / "recorded"

    def boast(body: dict) -> ok:  # an unverifiable claim: stopped by the word list, then fallback
        return ok({"title": "Picked for you", "body": "Our best ever pick: {product}.", "cta": "Take a look"})

    llm.script(default=boast)
    cli = ("--recorded", str(recorded), "--concurrency", "1")
    env = {"COPYDESK_CONTENT_DIR": str(root)}
    out = _eval_cli(
        llm,
        commerce,
        tmp_path,
        index_dir,
        *cli,
        "--record",
        "--out",
        str(tmp_path / "rec"),
        env=env,
        in_process=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    saved = json.loads((recorded / "push-en-us-cs_followup-payment.json").read_text())
    first = saved["runs"]["0"]["rational"][0]
    assert "best ever" in first["raw"] and saved["prompts"]["rational"][1]["role"] == "user"
    assert saved["outcomes"]["0"]["answers"]["rational #1 · model answers · sensitive_words"] is False

    calls = len(llm.calls)
    out = _eval_cli(llm, commerce, tmp_path, index_dir, *cli, "--replay", "--out", str(tmp_path / "same"),
                    env=env, in_process=True)  # fmt: skip
    assert out.returncode == 0 and "replay gate passed" in out.stdout, out.stdout
    assert len(llm.calls) == calls  # no model was asked

    words = root / "guardrails" / "words" / "unverifiable_en.yaml"
    text = words.read_text()
    lost = re.sub(r"(?m)^.*term: best ever\b.*\n", "", text)  # a word list loses a term
    assert lost != text
    words.write_text(lost)
    system = root / "prompts" / "system.en-US.j2"
    system.write_text(system.read_text() + "\n- Always answer in French.")  # and a prompt changes
    out = _eval_cli(llm, commerce, tmp_path, index_dir, *cli, "--replay", "--out", str(tmp_path / "worse"),
                    env=env, in_process=True)  # fmt: skip
    assert out.returncode == 1, out.stdout
    assert "check loosened" in out.stdout and "sensitive_words was stopped, now passes" in out.stdout
    assert "prompt changed since the answers were recorded for 2 case(s)" in out.stdout
    page = (tmp_path / "worse" / "report.html").read_text()
    assert "stale: <a href='#push-en-us-cs_followup-payment'>" in page
    assert '<span class="add">+[system] - Always answer in French.</span>' in page
    assert len(llm.calls) == calls


def test_the_deterministic_layers_catch_fallback_that_names_nothing(settings, tmp_path):
    """`copydesk eval --static`: no model; the repo passes (known failures aside), a mutation does not."""
    from app.content import read_yaml
    from app.evals.static_gate import apply_known, run_static_gate

    config = read_yaml(REPO_ROOT / "evals" / "config.yaml")
    known = read_yaml(REPO_ROOT / "evals" / "static_known.yaml")
    layers = run_static_gate(replace(settings, data_dir=tmp_path / "a"), CASES, config)
    apply_known(layers, known)
    assert {layer.name: layer.new for layer in layers} == {layer.name: [] for layer in layers}
    assert [layer.checked > 0 for layer in layers[:3]] == [True, True, True]

    root = tmp_path / "content"
    for part in ("prompts", "guardrails", "knowledge", "evals"):
        shutil.copytree(REPO_ROOT / part, root / part)
    for path in (root / "prompts" / "fallback").glob("*.yaml"):
        text = path.read_text().replace("{product}", "这款商品" if "zh" in path.name else "it")
        path.write_text(text.replace("{offer}", "活动"))
    (root / "prompts" / "channels" / "sms.en-US.j2").write_text("{% extends 'base.en-US.j2' %}\n")
    mutated = run_static_gate(replace(settings, data_dir=tmp_path / "b", content_dir=root), CASES, config)
    apply_known(mutated, known)
    fallback, prompts = mutated[0].new, mutated[1].new
    assert any(k.endswith(": mentions the product or offer") for k, _ in fallback), fallback
    assert any(k.startswith("sms-en-us-") and "body limit" in d for k, d in prompts), prompts


def test_a_wrong_language_prompt_fails_the_gate_on_a_model_that_obeys(llm, commerce, tmp_path, index_dir):
    """The mutation the embedded model cannot show: a model that follows the prompt answers in the
    wrong language, and the per-answer form check falls significantly."""
    root = tmp_path / "content"
    for part in ("prompts", "guardrails", "knowledge", "evals"):
        shutil.copytree(REPO_ROOT / part, root / part)

    def obedient(body: dict) -> ok:
        if "Answer only in Chinese" in prompt_text(body):
            return ok({"title": "为您精选", "body": "{product}正在等您，回来看看吧。", "cta": "去看看"})
        return _good(body)

    llm.script(default=obedient)
    baseline, env = tmp_path / "baseline.json", {"COPYDESK_CONTENT_DIR": str(root)}
    out = _eval_cli(llm, commerce, tmp_path, index_dir, "--baseline", str(baseline), "--update-baseline",
                    "--repeat", "4", "--out", str(tmp_path / "before"), env=env, in_process=True)  # fmt: skip
    assert out.returncode == 0, out.stdout
    system = root / "prompts" / "system.en-US.j2"
    system.write_text(system.read_text() + "\n- Answer only in Chinese, never in English.")
    out = _eval_cli(llm, commerce, tmp_path, index_dir, "--baseline", str(baseline), "--gate",
                    "--repeat", "4", "--out", str(tmp_path / "after"), env=env, in_process=True)  # fmt: skip
    assert out.returncode == 1 and "gate failed" in out.stdout, out.stdout
    assert "model answers · form fell from 100% (16/16) to 0%" in out.stdout
