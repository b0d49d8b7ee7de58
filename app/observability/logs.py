"""Log lines as JSON (one object a line, with the request's request_id, generation_id and client)
or as text; one logging config for copydesk and uvicorn, in every worker process."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from app.observability import request_context, tracing

QUIET = ("httpx", "httpcore", "aiohttp", "presidio-analyzer", "bm25s", "chromadb", "jieba")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", "request_id", "generation_id", "client", "trace_id",
    "span_id", ...extra}` (the trace's IDs while traces are on)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **request_context.current(),
            **tracing.ids(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the request's IDs appended when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = {**request_context.current(), **tracing.ids()}
        return text + ("  " + " ".join(f"{k}={v}" for k, v in ids.items()) if ids else "")


def log_config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """A logging.config dict (uvicorn's `log_config`): root, uvicorn and its access log alike."""
    formatter = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"()": TextFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": level.upper()},
        "loggers": {
            # Libraries that log every call at INFO: their lines cost CPU and say nothing new.
            **{name: {"level": "WARNING"} for name in QUIET},
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level.upper(), "propagate": True},
        },
    }
