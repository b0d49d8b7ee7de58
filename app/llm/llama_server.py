"""The embedded model's own process: llama.cpp's server from the prebuilt `xllamacpp` wheel.

Run as `python -m app.llm.llama_server --model FILE --port N ...` by `EmbeddedModelServer`. A
process of its own keeps a llama.cpp crash away from the service, lets several service workers
share one model, and stops cleanly with SIGTERM; it also exits when the process that started it
goes away, so no orphan holds the port or the memory.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

# Host memory for prompts a slot gives up, so that a later request with the same prefix skips
# re-reading it (llama.cpp's default is 8 GiB, far more than a copy prompt needs).
PROMPT_CACHE_RAM_MIB = 512


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m app.llm.llama_server", description=__doc__)
    ap.add_argument("--model", required=True, help="GGUF file")
    ap.add_argument("--alias", required=True, help="model name the API reports")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--slots", type=int, default=4, help="requests decoded side by side")
    ap.add_argument("--context", type=int, default=2048, help="tokens per slot")
    return ap.parse_args(argv)


def serve(args: argparse.Namespace) -> None:
    import xllamacpp  # imported here: the service process never loads llama.cpp

    p = xllamacpp.CommonParams()
    p.model.path = args.model
    p.model_alias = {args.alias}
    p.hostnames = ["127.0.0.1"]
    p.port = args.port
    p.n_parallel = args.slots
    p.n_ctx = args.context * args.slots  # llama.cpp splits n_ctx evenly between the slots
    for cpu in (p.cpuparams, p.cpuparams_batch):
        cpu.n_threads = args.threads
        # Threads wait on the OS instead of spinning between steps: on a small or shared
        # machine spinning threads starve each other (measured: 1 token/s instead of 10 under load).
        cpu.poll = 0
    p.cache_prompt = True
    p.cache_ram_mib = PROMPT_CACHE_RAM_MIB
    p.n_threads_http = max(2, args.slots)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()
    server = xllamacpp.Server(p)  # listening once this returns
    print(f"llama_server: serving {args.model} as {args.alias} on 127.0.0.1:{args.port}", flush=True)
    while not stop.wait(1.0):
        if os.getppid() != parent:  # the service died without stopping us
            break
    del server


def main(argv: list[str] | None = None) -> None:
    serve(parse_args(argv))


if __name__ == "__main__":
    main()
