"""End to end on the real embedded model, with nothing configured: the README's path."""

from __future__ import annotations

import os

import pytest

from app.channels import measure
from app.config import Settings
from tests.conftest import sms_request

pytestmark = pytest.mark.model

NOTHING_CONFIGURED = {"HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def embedded_api(tmp_path_factory):
    import httpx

    from app.api import create_app
    from tests.servers import ThreadedServer

    settings = Settings.from_env(
        {**NOTHING_CONFIGURED, "COPYDESK_DATA_DIR": str(tmp_path_factory.mktemp("var"))}
    )
    assert settings.uses_embedded_model and settings.commerce_url is None
    with ThreadedServer(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def test_readyz_with_nothing_configured(embedded_api):
    resp = embedded_api.get("/readyz")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["ready"] is True
    assert "smollm2" in body["checks"]["model"]["detail"]


@pytest.mark.parametrize(
    ("channel", "locale", "limits"),
    [("sms", "zh-CN", {"body": 70}), ("push", "en-US", {"title": 24, "body": 80})],
)
def test_generate_on_the_embedded_model(embedded_api, channel, locale, limits):
    body = sms_request(request_id=f"e2e-{channel}", channel=channel, locale=locale)
    resp = embedded_api.post("/v1/generate", json=body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["model"] == "smollm2-135m-instruct"
    assert len(data["variants"]) == 2
    for v in data["variants"]:
        assert v["offer_id"] == "OFF-FREESHIP"
        assert v["source"] in {"llm", "repaired", "fallback"}
        assert all(c["passed"] for c in v["checks"]), v
        for field, limit in limits.items():
            count = "utf16" if channel == "sms" else "chars"
            assert 0 < measure(v[field], count) <= limit, (field, v[field])
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
