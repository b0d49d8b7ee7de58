"""A bare OpenAI-compatible chat endpoint with a fixed latency, for load benchmarks: a raw ASGI app
(no framework) so the stub itself costs little CPU beside the service it feeds.
Run: python benchmarks/model_stub.py PORT LATENCY_MS"""

from __future__ import annotations

import asyncio
import json
import sys

BODY = {"body": "{name}，您购物车里的{product}还在等您，{offer}。"}


def completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(BODY, ensure_ascii=False)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 400, "completion_tokens": 30, "total_tokens": 430},
        },
        ensure_ascii=False,
    ).encode()


def make_app(latency_s: float):
    reply = completion("stub")
    models = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}).encode()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:  # drain the request body
            message = await receive()
            more = message.get("more_body", False)
        if scope["path"].endswith("/chat/completions"):
            await asyncio.sleep(latency_s)
            body = reply
        else:
            body = models
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    import uvicorn

    port, latency_ms = int(sys.argv[1]), float(sys.argv[2])
    uvicorn.run(make_app(latency_ms / 1000), host="127.0.0.1", port=port, log_level="warning", backlog=4096)
