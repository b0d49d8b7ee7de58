"""Health, readiness and the OpenAPI description."""

from __future__ import annotations


def test_health_and_docs(api):
    assert api.get("/healthz").json()["status"] == "ok"
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json").json()
    assert "/v1/generate" in spec["paths"]
    assert "422" in spec["paths"]["/v1/generate"]["post"]["responses"]


def test_readyz_follows_the_commerce_api(api, commerce):
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["model"]["detail"] == "scripted"
    commerce.mode = "error"
    down = api.get("/readyz")
    assert down.status_code == 503
    body = down.json()
    assert body["ready"] is False and body["checks"]["commerce"]["ready"] is False
    assert body["checks"]["model"]["ready"] is True
