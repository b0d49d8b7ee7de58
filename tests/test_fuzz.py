"""Schemathesis, the API fuzzer, against copydesk on uvicorn with the scripted model: every check
(`--checks all`), a bounded number of examples, zero failures. Whatever the published schema
accepts must be served (2xx or a documented 4xx), whatever it rejects must be rejected, every
status and body must be the documented one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.servers import ok

# Examples per operation and phase: ~300 requests in ~15 s here. Raise it for a deeper run:
# COPYDESK_FUZZ_EXAMPLES=300 pytest tests/test_fuzz.py
EXAMPLES = int(os.environ.get("COPYDESK_FUZZ_EXAMPLES", "25"))
SEED = os.environ.get("COPYDESK_FUZZ_SEED", "11")


def _schemathesis() -> list[str]:
    exe = Path(sys.executable).with_name("schemathesis")
    return [str(exe)] if exe.exists() else [shutil.which("schemathesis") or "schemathesis"]


def test_the_fuzzer_finds_nothing(api, llm, tmp_path):
    # An answer every channel can use; what fails the checks goes to fallback, as in production.
    llm.script(
        default=lambda _: ok(
            {"title": "轻云跑鞋", "body": "您购物车里的{product}还在等您。", "cta": "去看看"}
        )
    )
    url = f"{api.base_url}".rstrip("/")
    cmd = _schemathesis() + [
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        SEED,
        "--request-timeout",
        "20",
        "--no-color",
    ]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "No issues found" in run.stdout, report
