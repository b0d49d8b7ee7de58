"""Does the gate catch what it should? Applies known regressions, one at a time, to a scratch copy
of the content and code, and runs the tests and each layer of the gate on it; prints a table of
which caught what (`make mutation-check`). Not part of the default suite: minutes, not seconds.

    python benchmarks/mutation_check.py            # tests, deterministic layers, replay
    python benchmarks/mutation_check.py --live     # + the smoke gate on the embedded model for
                                                   #   the mutations only a model can see
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("app", "prompts", "guardrails", "knowledge", "evals", "tests", "pyproject.toml")
TESTS = [
    "tests/test_content.py",
    "tests/test_checks.py",
    "tests/test_guardrails_eval.py",
    "tests/test_evals.py",
]


@dataclass(frozen=True)
class Mutation:
    name: str
    edits: tuple[tuple[str, str, str], ...]  # (glob, regex, replacement); each must match
    model_only: bool = False  # only a model's answers can show it


MUTATIONS = [
    Mutation("no mutation (control)", ()),
    Mutation(
        "fallback names no product or offer",
        (
            ("prompts/fallback/*.yaml", r"\{product\}", "这款商品"),
            ("prompts/fallback/*.yaml", r"\{offer\}", "活动"),
        ),
    ),
    Mutation(
        "a word list emptied (absolute terms)",
        (("guardrails/words/absolute_zh.yaml", r"(?s)terms:\n.*", "terms: []\n"),),
    ),
    Mutation(
        "push title limit raised 24 → 32",
        (("guardrails/channels.yaml", r"    title: 24\n", "    title: 32\n"),),
    ),
    Mutation(
        "the PII check disabled (code)", (("app/guardrails/__init__.py", r"\n        PiiCheck\(pii\),", ""),)
    ),
    Mutation(
        "system prompts demand the wrong language",
        (
            ("prompts/system.zh-CN.j2", r"\Z", "\n- 只用英文（English）回答，不要写中文。"),
            (
                "prompts/system.en-US.j2",
                r"\Z",
                "\n- Answer only in Chinese (只用中文回答), never in English.",
            ),
        ),
        model_only=True,
    ),
    Mutation(
        "placeholder {product} renamed {item}",
        (("prompts/placeholders.yaml", r"\n  product:\n", "\n  item:\n"),),
    ),
]


def apply(root: Path, m: Mutation) -> None:
    for pattern, regex, replacement in m.edits:
        paths = sorted(root.glob(pattern))
        assert paths, f"{m.name}: no file matches {pattern}"
        hits = 0
        for path in paths:
            text = path.read_text(encoding="utf-8")
            new, n = re.subn(regex, lambda _, r=replacement: r, text)
            hits += n
            path.write_text(new, encoding="utf-8")
        assert hits, (
            f"{m.name}: {regex!r} matches nothing in {pattern} (the content moved on: update the mutation)"
        )


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int) -> tuple[int, str, float]:
    started = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        return out.returncode, out.stdout + out.stderr, time.perf_counter() - started
    except subprocess.TimeoutExpired:
        return 124, "timed out", time.perf_counter() - started


def gate_word(code: int, text: str) -> str:
    if "not enough evidence" in text and code == 0:
        return "not enough evidence"
    return "caught" if code else "passed"


def check(m: Mutation, live: bool, scratch: Path, index: Path) -> dict[str, str]:
    root = scratch / "copy"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for part in COPIED:
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / part)
    apply(root, m)
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "COLUMNS": "200",
           "COPYDESK_DATA_DIR": str(scratch / "var"), "COPYDESK_INDEX_DIR": str(index)}  # fmt: skip
    env.pop("COPYDESK_LLM_BASE_URL", None)
    py = sys.executable
    row: dict[str, str] = {}
    code, text, secs = run([py, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *TESTS], root, env, 900)
    failed = re.findall(r"^FAILED (\S+)", text, re.M)
    row["tests"] = (
        f"caught ({', '.join(sorted({f.split('::')[-1].split('[')[0] for f in failed}))})"
        if code
        else "passed"
    ) + f" {secs:.0f}s"
    code, text, secs = run([py, "-m", "app", "eval", "--static"], root, env, 600)
    row["deterministic"] = f"{gate_word(code, text)} {secs:.0f}s"
    replay = [py, "-m", "app", "eval", "--tag", "smoke", "--replay", "--out", str(scratch / "replay")]
    code, text, secs = run(replay, root, env, 600)
    row["replay"] = f"{gate_word(code, text)} {secs:.0f}s"
    if live and m.model_only:
        cmd = [
            py,
            "-m",
            "app",
            "eval",
            "--tag",
            "smoke",
            "--concurrency",
            "1",
            "--gate",
            "--out",
            str(scratch / "live"),
        ]
        code, text, secs = run(cmd, root, env, 1800)
        row["live gate (embedded)"] = f"{gate_word(code, text)} {secs:.0f}s"
        row["live detail"] = " | ".join(
            line.strip() for line in text.splitlines() if "could see" in line or "fell" in line
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--live", action="store_true", help="also run the smoke gate on the embedded model")
    parser.add_argument("--only", help="run the mutations whose name contains this")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or args.only in m.name or not m.edits]
    with tempfile.TemporaryDirectory(prefix="copydesk-mutation-") as tmp:
        scratch = Path(tmp)
        index = scratch / "index"  # the knowledge is never mutated: one index serves every copy
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        build = (
            "from pathlib import Path; from app.kb import open_knowledge; "
            f"open_knowledge(Path({str(ROOT)!r}), Path({str(index)!r}), None)"
        )
        subprocess.run([sys.executable, "-c", build], env=env, check=True)
        rows = []
        for m in chosen:
            row = check(m, args.live, scratch, index)
            rows.append((m, row))
            print(f"{m.name}: {row}", flush=True)
    columns = ["tests", "deterministic", "replay"] + (["live gate (embedded)"] if args.live else [])
    print("\n| mutation | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for m, row in rows:
        print(f"| {m.name} | " + " | ".join(row.get(c, "—") for c in columns) + " |")
    for m, row in rows:
        if row.get("live detail"):
            print(f"\n{m.name}, live gate: {row['live detail']}")


if __name__ == "__main__":
    main()
