"""The review page in a real browser: Debian's Chromium driven by Playwright (nothing downloaded):
sign in with a reviewer key, see the variant as the customer would, approve it, and the engine's
next request in `library` mode is served that variant, without a model call."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.config import Settings
from tests.servers import ok

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="make browser installs Debian's chromium")

COPY = {"title": "Still thinking?", "body": "{product} is now {price}."}
REQUEST = {"channel": "push", "locale": "en-US", "journey": "price_drop", "skus": ["SKU-1001"], "variants": 1}


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        yield browser
        browser.close()


def test_a_reviewer_approves_in_the_page_and_the_variant_is_served(start_api, settings, llm, browser):
    keyed = Settings.from_env(
        {
            "COPYDESK_API_KEYS": "engine:k-engine,copy-team:k-review",
            "COPYDESK_API_ROLES": "copy-team:review+audit",
        }
    )
    fields = ("api_keys", "client_keys", "client_roles")
    api = start_api(replace(settings, **{f: getattr(keyed, f) for f in fields}))
    engine = {"authorization": "Bearer k-engine"}
    llm.script(default=lambda _: ok(COPY))
    made = api.post("/v1/generate", json={"request_id": "page-1", **REQUEST, "mode": "fresh"}, headers=engine)
    assert made.status_code == 200, made.text

    base = str(api.base_url).rstrip("/")
    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    page.goto(base + "/library")
    page.fill("#key", "k-review")
    page.click("#signin")
    card = page.locator("section.entry[data-status=pending]")
    card.wait_for(timeout=20_000)
    assert card.count() == 1
    # As the customer would see it today: the push card, filled with today's price, checks passing.
    assert (
        card.locator(".push").inner_text().replace("\n", " ")
        == "Still thinking? CloudLite Cushion Runner is now ¥399."
    )
    assert card.locator(".badge.bad").count() == 0 and card.locator(".badge").count() > 5
    library_id = card.get_attribute("id")

    page.click(f"button[data-action=approve][data-id={library_id}]")  # no reviewer name yet: refused
    page.wait_for_function("document.querySelector('#message').textContent.includes('reviewer')")
    page.fill("#reviewer", "Mei")
    page.fill(f"input[data-note={library_id}]", "good for price drops")
    page.click(f"button[data-action=approve][data-id={library_id}]")
    page.wait_for_function("document.querySelector('#message').textContent.includes('approved')")
    page.select_option("#filter", "approved")
    page.locator(f"section.entry[data-status=approved][id={library_id}]").wait_for(timeout=20_000)
    assert outside == []  # offline: nothing but the service itself

    llm.script()  # the model must not be asked
    served = api.post(
        "/v1/generate", json={"request_id": "page-2", **REQUEST, "mode": "library"}, headers=engine
    )
    (v,) = served.json()["variants"]
    assert v["source"] == "library" and v["library_id"] == library_id and llm.calls == []
    trail = api.get("/v1/library/decisions", headers={"authorization": "Bearer k-review"}).json()
    assert [(d["action"], d["reviewer"], d["note"], d["by_client"]) for d in trail] == [
        ("approve", "Mei", "good for price drops", "copy-team")
    ]


def test_an_edit_from_the_page_becomes_a_new_pending_variant(start_api, settings, llm, browser):
    api = start_api(settings)
    llm.script(default=lambda _: ok(COPY))
    api.post("/v1/generate", json={"request_id": "page-3", **REQUEST, "mode": "fresh"}).raise_for_status()
    base = str(api.base_url).rstrip("/")
    page = browser.new_page()
    page.goto(base + "/library")
    page.click("#signin")  # loopback without keys: every role
    card = page.locator("section.entry[data-status=pending]")
    card.wait_for(timeout=20_000)
    library_id = card.get_attribute("id")
    page.fill("#reviewer", "Mei")
    page.locator(f"section#{library_id} details").nth(1).locator("summary").click()
    page.fill(f"textarea[data-edit={library_id}][data-field=body]", "Good news: {product} is now {price}.")
    page.click(f"button[data-action=edit][data-id={library_id}]")
    page.wait_for_function("document.querySelector('#message').textContent.includes('passed every check')")
    page.wait_for_function("document.querySelectorAll('section.entry[data-status=pending]').length == 2")
    bodies = page.locator("section.entry .push").all_inner_texts()
    assert any("Good news: CloudLite Cushion Runner is now ¥399." in b for b in bodies)
