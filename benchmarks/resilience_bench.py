"""What failures cost, with the real processes: `copydesk serve` killed, drained and restarted,
PostgreSQL restarted, the Chroma server stopped, the embedded model killed and overloaded. Prints
one table (answers by status per phase, recovery times) and the latency of eight concurrent
requests on the embedded model. Asserts nothing.

Run: python benchmarks/resilience_bench.py                 # every phase (~5 min on 2 cores)
     python benchmarks/resilience_bench.py --only overload  # one phase: kill9 sigterm worker
                                                            # postgres chroma model overload rolling"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from app.api import create_app  # noqa: E402
from app.commerce.catalog import load_catalog  # noqa: E402
from app.commerce.server import create_commerce_app  # noqa: E402
from app.config import Settings  # noqa: E402
from tests.pg import PostgresCluster, missing_reason  # noqa: E402
from tests.procs import alive, children, listeners, serve, stop, wait_until  # noqa: E402
from tests.servers import Reply, ScriptedModel, ThreadedServer, free_port  # noqa: E402

SMS = "{name}，您购物车里的{product}还在等您，{offer}。"


def body(request_id: str) -> dict:
    return {
        "request_id": request_id, "channel": "sms", "locale": "zh-CN", "journey": "cart_abandon",
        "skus": ["SKU-1001"], "offer_id": "OFF-FREESHIP", "variants": 1,
        "audience": {"segment": "hot", "interests": ["running"], "cs_topic": "sizing", "name": "张伟"},
    }  # fmt: skip


def slow_ok(seconds: float):
    return lambda _: Reply(content=json.dumps({"body": SMS}, ensure_ascii=False), stall_s=seconds)


class Rig:
    """The scripted model and the reference commerce API on loopback, and a knowledge index."""

    def __init__(self, tmp: Path) -> None:
        from app.kb import open_knowledge

        self.tmp = tmp
        self.model = ScriptedModel()
        self.model_server = ThreadedServer(self.model.app()).start()
        self.commerce = ThreadedServer(create_commerce_app(load_catalog(ROOT / "knowledge"))).start()
        self.index = tmp / "index"
        open_knowledge(ROOT, self.index, None)
        self.n = 0

    def settings(self, **kw) -> Settings:
        self.n += 1
        base = Settings(
            index_dir=self.index, llm_base_url=self.model_server.url + "/v1", llm_model="scripted",
            llm_api_key="bench", commerce_url=self.commerce.url, data_dir=self.tmp / f"var{self.n}",
            deadline_s=20.0, llm_call_timeout_s=20.0,
        )  # fmt: skip
        return replace(base, **kw)

    def env(self, s: Settings, **extra: str) -> dict[str, str]:
        return {
            "COPYDESK_LLM_BASE_URL": s.llm_base_url or "", "COPYDESK_LLM_MODEL": "scripted",
            "COPYDESK_LLM_API_KEY": "bench", "COPYDESK_COMMERCE_URL": s.commerce_url or "",
            "COPYDESK_INDEX_DIR": str(self.index), "COPYDESK_DATA_DIR": str(s.data_dir),
            "COPYDESK_DEADLINE_S": "20", "COPYDESK_LOG_FORMAT": "json", **extra,
        }  # fmt: skip


def post(url: str, request_id: str, timeout: float = 60) -> tuple[float, int | str, dict]:
    started = time.monotonic()
    try:
        with httpx.Client(timeout=timeout) as c:
            r = c.post(url + "/v1/generate", json=body(request_id))
        return time.monotonic() - started, r.status_code, r.json() if r.content else {}
    except httpx.HTTPError as exc:
        return time.monotonic() - started, type(exc).__name__, {}


def tally(statuses) -> str:
    return " ".join(f"{k}×{v}" for k, v in sorted(collections.Counter(map(str, statuses)).items())) or "-"


ROWS: list[tuple[str, str, str]] = []


def row(phase: str, statuses: str, figure: str) -> None:
    ROWS.append((phase, statuses, figure))
    print(f"  {phase}: {statuses} | {figure}", flush=True)


def phase_kill9(rig: Rig) -> None:
    rig.model.script(default=slow_ok(0.5))
    port = free_port()
    proc = serve(port, rig.env(rig.settings()), rig.tmp / "kill9.log", workers=2)
    url, workers = f"http://127.0.0.1:{port}", children(proc.pid)
    with ThreadPoolExecutor(6) as pool:
        pending = [pool.submit(post, url, f"k9-{i}", 10) for i in range(6)]
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: not listeners(port), 10, 0.01)
        off_port = time.monotonic() - killed
        wait_until(lambda: not any(alive(w) for w in workers), 10, 0.01)
        gone = time.monotonic() - killed
        answers = [f.result() for f in pending]
    proc.wait()
    row("kill -9 supervisor, 6 in flight", tally(s for _, s, _ in answers),
        f"port free after {off_port:.2f} s, both workers gone after {gone:.2f} s")  # fmt: skip


def phase_sigterm(rig: Rig) -> None:
    rig.model.script(default=slow_ok(1.5))
    port = free_port()
    env = rig.env(rig.settings(), COPYDESK_SHUTDOWN_DRAIN_S="1")
    proc = serve(port, env, rig.tmp / "sigterm.log", workers=2)
    url = f"http://127.0.0.1:{port}"
    with ThreadPoolExecutor(12) as pool:
        pending = [pool.submit(post, url, f"term-{i}") for i in range(12)]
        wait_until(lambda: len(rig.model.calls) >= 12, 30)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        ready = httpx.get(url + "/readyz", timeout=5).status_code
        answers = [f.result() for f in pending]
        proc.wait(timeout=60)
    row("SIGTERM, 12 in flight (drain 1 s)", tally(s for _, s, _ in answers),
        f"/readyz {ready} at once; exited {time.monotonic() - sent:.1f} s after SIGTERM")  # fmt: skip


def phase_worker(rig: Rig) -> None:
    rig.model.script(Reply(stall_s=60, content="{}"), default=slow_ok(0.0))
    port = free_port()
    s = rig.settings()
    proc = serve(port, rig.env(s, COPYDESK_CLAIM_LEASE_S="1"), rig.tmp / "worker.log", workers=2)
    url, before = f"http://127.0.0.1:{port}", set(children(proc.pid))
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, url, "worker-dies", 90)
        wait_until(lambda: bool(rig.model.calls), 30)
        db = sqlite3.connect(s.data_dir / "copydesk.db")
        (owner,) = db.execute("SELECT owner FROM idempotency WHERE request_id = 'worker-dies'").fetchone()
        db.close()
        os.kill(int(owner.split(":")[1]), signal.SIGKILL)
        killed = time.monotonic()
        lost = first.result()
    retry = post(url, "worker-dies")
    wait_until(lambda: set(children(proc.pid)) - before and len(children(proc.pid)) >= 2, 120)
    replaced = time.monotonic() - killed
    stop(proc)
    row("kill -9 of a worker mid-request, then the retry", tally([lost[1], retry[1]]),
        f"retry answered in {retry[0]:.1f} s (lease 1 s); replaced after {replaced:.1f} s")  # fmt: skip


def load(send, clients: int, stop_event: threading.Event, out: list) -> list[threading.Thread]:
    count = iter(range(10**9))
    lock = threading.Lock()

    def run(n: int) -> None:
        while not stop_event.is_set():
            with lock:
                i = next(count)
            out.append((time.monotonic(), *send(f"load-{i}", n)))

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    return threads


def phase_postgres(rig: Rig) -> None:
    if reason := missing_reason():
        row("PostgreSQL restart", "skipped", reason)
        return
    cluster = PostgresCluster().start()
    try:
        rig.model.script(default=slow_ok(0.1))
        url = cluster.database()
        server = ThreadedServer(create_app(rig.settings(database_url=url, database_timeout_s=1.0))).start()
        answers: list = []
        halt = threading.Event()
        threads = load(lambda rid, _: post(server.url, rid), 4, halt, answers)
        time.sleep(3)
        down = time.monotonic()
        cluster.halt("fast")
        time.sleep(3)
        up = time.monotonic()
        cluster.resume()
        wait_until(lambda: any(t > up and s == 200 for t, _, s, _ in answers), 30)
        time.sleep(2)
        halt.set()
        for t in threads:
            t.join()
        first_ok = min(t for t, _, s, _ in answers if s == 200 and t > up)
        server.stop()
        retry_after = {b.get("error", {}).get("code") for _, _, s, b in answers if s == 503}
        for name, lo, hi in (("before", 0, down), ("down 3 s", down, up), ("after", up, float("inf"))):
            statuses = [s for t, _, s, _ in answers if lo <= t < hi]
            row(f"PostgreSQL restart under load: {name}", tally(statuses),
                f"503 codes {sorted(retry_after)}; first 200 {first_ok - up:.2f} s after it was back"
                if name == "after" else "")  # fmt: skip
    finally:
        cluster.stop()


def phase_chroma(rig: Rig) -> None:
    import shutil

    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    cmd = [exe, "run", "--path", str(rig.tmp / "chroma"), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    curl = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(curl + "/api/v2/heartbeat", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 60)
    rig.model.script(default=slow_ok(0.0))
    server = ThreadedServer(create_app(rig.settings(chroma_url=curl))).start()
    before = [post(server.url, f"chroma-a{i}") for i in range(3)]
    proc.terminate()
    proc.wait()
    stopped = time.monotonic()
    wait_until(lambda: httpx.get(server.url + "/readyz", timeout=5).status_code == 503, 10)
    noticed = time.monotonic() - stopped
    missing = httpx.get(server.url + "/readyz", timeout=5).json()["missing"]
    after = [post(server.url, f"chroma-b{i}") for i in range(3)]
    server.stop()
    for name, answers in (("up", before), ("stopped", after)):
        marks = tally((b.get("knowledge") or {}).get("reviews") for _, _, b in answers)
        row(f"Chroma server {name}", tally(s for _, s, _ in answers),
            f"reviews: {marks}" + (f"; /readyz 503 missing {missing} after {noticed:.1f} s"
                                    if name == "stopped" else ""))  # fmt: skip


def llama_servers() -> list[int]:
    out = []
    for pid in children(os.getpid()):
        try:
            if b"app.llm.llama_server" in Path(f"/proc/{pid}/cmdline").read_bytes() and alive(pid):
                out.append(pid)
        except OSError:
            pass
    return out


def phase_model(rig: Rig) -> None:
    s = rig.settings(llm_base_url=None, llm_model=None, llm_api_key=None)
    server = ThreadedServer(create_app(s)).start()
    try:
        post(server.url, "model-warm", 120)
        for pid in llama_servers():
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        meanwhile = post(server.url, "model-down")
        wait_until(
            lambda: httpx.get(server.url + "/readyz", timeout=5).json()["checks"]["model"]["ready"], 120
        )
        back = time.monotonic() - killed
        again = post(server.url, "model-back", 120)
    finally:
        server.stop()
    src = [(b.get("variants") or [{}])[0].get("source") for _, _, b in (meanwhile, again)]
    row("embedded model killed", tally([meanwhile[1], again[1]]),
        f"meanwhile {src[0]} in {meanwhile[0]:.1f} s (deadline 20 s); model back after {back:.1f} s; "
        f"then {src[1]}")  # fmt: skip


def phase_overload(rig: Rig, requests: int = 8) -> None:
    """Eight requests at once (two variants each) on the embedded model, 4 slots, deadline 30 s."""
    s = rig.settings(llm_base_url=None, llm_model=None, llm_api_key=None, deadline_s=30.0)
    server = ThreadedServer(create_app(s)).start()
    try:
        post(server.url, "overload-warm", 120)  # the service learns how long a call takes

        def one(i: int):
            b = body(f"overload-{i}")
            b["variants"] = 2
            started = time.monotonic()
            r = httpx.post(server.url + "/v1/generate", json=b, timeout=120)
            return time.monotonic() - started, r.status_code, r.json()

        with ThreadPoolExecutor(requests) as pool:
            answers = list(pool.map(one, range(requests)))
    finally:
        server.stop()
    times = sorted(t for t, _, _ in answers)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    sources = collections.Counter(
        "shed" if "fallback at once" in v["source_reason"] else v["source"]
        for _, _, b in answers
        for v in b.get("variants", [])
    )
    row(f"{requests} concurrent on the embedded model (2 variants each)", tally(s for _, s, _ in answers),
        f"p50 {statistics.median(times):.1f} s, p95 {p95:.1f} s, max {times[-1]:.1f} s; variants "
        f"{dict(sources)}")  # fmt: skip


def phase_rolling(rig: Rig) -> None:
    if reason := missing_reason():
        row("rolling restart", "skipped", reason)
        return
    cluster = PostgresCluster().start()
    procs: list[subprocess.Popen] = []
    try:
        rig.model.script(default=slow_ok(0.3))
        url = cluster.database()
        env = rig.env(rig.settings(), COPYDESK_DATABASE_URL=url, COPYDESK_SHUTDOWN_DRAIN_S="0.5")
        ports = [free_port(), free_port()]
        procs = [serve(p, env, rig.tmp / f"roll{n}.log") for n, p in enumerate(ports)]
        retries = collections.Counter()

        def send(rid: str, n: int):
            for attempt in range(6):
                t, status, b = post(f"http://127.0.0.1:{ports[(n + attempt) % 2]}", rid)
                if isinstance(status, int):
                    return t, status, b
                retries[rid] += 1
                time.sleep(0.1 * attempt)
            return t, status, b

        answers: list = []
        halt = threading.Event()
        threads = load(send, 4, halt, answers)
        time.sleep(3)
        sent = time.monotonic()
        procs[0].send_signal(signal.SIGTERM)
        procs[0].wait(timeout=60)
        stopped = time.monotonic() - sent
        procs[0] = serve(ports[0], env, rig.tmp / "roll0-again.log")
        back = time.monotonic() - sent
        time.sleep(3)
        halt.set()
        for t in threads:
            t.join()
        from app.store.database import open_database

        db = open_database(url, rig.tmp)
        per_id = collections.Counter(r[0] for r in db.fetchall("SELECT request_id FROM generations"))
        db.close()
        twice = sum(1 for _, _, s, b in answers if s == 200 and per_id[b["request_id"]] != 1)
        row("rolling restart of 1 of 2 instances, 4 clients", tally(s for _, _, s, _ in answers),
            f"{sum(retries.values())} retries on the other instance; generated twice: {twice}; "
            f"old one exited {stopped:.1f} s after SIGTERM, new one serving after {back:.1f} s")  # fmt: skip
    finally:
        for p in procs:
            stop(p)
        cluster.stop()


PHASES = {
    "kill9": phase_kill9, "sigterm": phase_sigterm, "worker": phase_worker, "postgres": phase_postgres,
    "chroma": phase_chroma, "model": phase_model, "overload": phase_overload, "rolling": phase_rolling,
}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=sorted(PHASES), help="phases to run (default: all)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="copydesk-resilience-") as tmp:
        rig = Rig(Path(tmp))
        for name in args.only or PHASES:
            print(f"== {name}", flush=True)
            try:
                PHASES[name](rig)
            except Exception as exc:  # noqa: BLE001 - a phase that breaks is a figure too
                row(name, "error", f"{type(exc).__name__}: {exc}"[:200])
        rig.model_server.stop()
        rig.commerce.stop()
    width = max(len(p) for p, _, _ in ROWS)
    print(f"\n{'phase':<{width}}  {'answers by status':<28}  figures")
    for phase, statuses, figure in ROWS:
        print(f"{phase:<{width}}  {statuses:<28}  {figure}")


if __name__ == "__main__":
    main()
