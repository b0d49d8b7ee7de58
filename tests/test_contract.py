"""The published OpenAPI schema is the contract: bounded strings, ID patterns, the content files'
closed sets as enums, every status a route returns; and /docs works without a CDN."""

from __future__ import annotations

import re

from app.config import REPO_ROOT
from app.content import load_content


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _strings(spec: dict, node: dict, path: str, seen: set[str]):
    """(path, schema) of every string a request may carry."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return
        seen = seen | {name}
        node = _resolve(spec, node)
    for alt in node.get("anyOf", []):
        yield from _strings(spec, alt, path, seen)
    if node.get("type") == "string":
        yield path, node
    if node.get("type") == "array":
        yield from _strings(spec, node["items"], f"{path}[]", seen)
    for name, prop in node.get("properties", {}).items():
        yield from _strings(spec, prop, f"{path}.{name}" if path else name, seen)


def test_every_request_string_is_bounded_and_ids_have_a_pattern(api):
    spec = api.get("/openapi.json").json()
    body = spec["paths"]["/v1/generate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    strings = dict(_strings(spec, body, "", set()))
    assert {"request_id", "journey", "skus[]", "offer_id", "audience.interests[]", "audience.name"} <= set(
        strings
    )
    for path, schema in strings.items():
        fixed = "enum" in schema or "const" in schema  # a closed set, or one word ("tones": "auto")
        assert fixed or "maxLength" in schema, path
        assert fixed or "pattern" in schema, path  # printable, or an ID's shape
    for path in ("skus[]", "offer_id"):
        pattern = re.compile(strings[path]["pattern"])
        assert pattern.search("SKU-1001") and pattern.search("OFF-FREESHIP")
        for bad in ("SKU-9999/../SKU-1002", "SKU-1001?x=1", "SKU-1001/", "../offers/OFF-FREESHIP", "\x04"):
            assert not pattern.search(bad), (path, bad)
    param = spec["paths"]["/v1/generations/{generation_id}"]["get"]["parameters"][0]["schema"]
    assert param["maxLength"] == 64 and "pattern" in param


def test_closed_sets_are_the_content_files_enums(api):
    spec = api.get("/openapi.json").json()
    content = load_content(REPO_ROOT)
    request = spec["components"]["schemas"]["GenerateRequest"]["properties"]
    assert set(request["journey"]["enum"]) == set(content.journeys)
    assert set(request["channel"]["enum"]) == set(content.channels)
    variant = spec["components"]["schemas"]["VariantOut"]["properties"]
    assert variant["tone"]["enum"] == [t.name for t in content.tones]


def test_every_status_a_route_returns_is_documented(api):
    spec = api.get("/openapi.json").json()
    generate = spec["paths"]["/v1/generate"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "409", "413", "422", "429"} <= set(generate)
    audit = spec["paths"]["/v1/generations/{generation_id}"]["get"]["responses"]
    assert {"200", "401", "403", "404", "429"} <= set(audit)
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]


def test_docs_and_redoc_load_nothing_from_outside(api):
    for page in ("/docs", "/redoc"):
        html = api.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, page
        for url in assets:
            assert url.startswith("/docs-assets/"), (page, url)
            resp = api.get(url)
            assert resp.status_code == 200 and len(resp.content) > 1000, url
        assert "cdn" not in html.lower() and "fonts.googleapis" not in html
