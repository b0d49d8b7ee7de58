"""The `copydesk` command as a person runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx

from tests.servers import free_port, ok


def copydesk(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_help_lists_the_commands():
    out = copydesk("--help")
    assert out.returncode == 0
    for command in ("serve", "generate", "commerce"):
        assert command in out.stdout


def test_generate_prints_variants(llm, commerce, tmp_path, index_dir):
    llm.script(default=lambda _: ok({"title": "Still thinking?", "body": "{product} is in your cart."}))
    env = {
        "COPYDESK_LLM_BASE_URL": llm.url,
        "COPYDESK_LLM_MODEL": "scripted",
        "COPYDESK_COMMERCE_URL": commerce.url,
        "COPYDESK_DATA_DIR": str(tmp_path),
        "COPYDESK_INDEX_DIR": str(index_dir),
        "COLUMNS": "200",
    }
    out = copydesk("generate", "--channel", "push", "--locale", "en-US", "--sku", "SKU-1001", env=env)
    assert out.returncode == 0, out.stderr
    assert "CloudLite Cushion Runner is in your cart." in out.stdout
    assert "rational" in out.stdout and "emotional" in out.stdout
    out = copydesk("generate", "--channel", "push", "--locale", "en-US", "--variants", "1", "--json", env=env)
    assert json.loads(out.stdout)["variants"][0]["title"] == "Still thinking?"


def test_generate_names_a_bad_option(llm, commerce, tmp_path, index_dir):
    env = {
        "COPYDESK_LLM_BASE_URL": llm.url,
        "COPYDESK_COMMERCE_URL": commerce.url,
        "COPYDESK_DATA_DIR": str(tmp_path),
        "COPYDESK_INDEX_DIR": str(index_dir),
    }
    out = copydesk("generate", "--channel", "fax", env=env)
    assert out.returncode == 2
    assert "channel" in out.stdout
    out = copydesk("generate", "--sku", "SKU-NOPE", env=env)
    assert out.returncode == 2
    assert "skus[0]" in out.stdout


def test_serve_refuses_a_public_address_without_keys():
    out = copydesk("serve", "--host", "0.0.0.0", env={"COPYDESK_API_KEYS": ""})
    assert out.returncode == 2
    assert "COPYDESK_API_KEYS" in out.stdout


def test_commerce_serve_answers_on_loopback():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app", "commerce", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(100):
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/skus/SKU-5001")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert resp.json()["name"]["en-US"] == "20W GaN Fast Charger"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
