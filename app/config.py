"""Settings read once from the environment; the service never reads os.environ elsewhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

JSON_MODES = ("json_schema", "json_object")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_float(env, name, default))


def half_the_cores() -> int:
    """The embedded model's default threads: half the CPUs this process may use, at least one.
    llama.cpp's threads meet at a barrier every step, so on a busy machine one descheduled thread
    stalls the rest (2 threads on 2 shared cores generated ~1 token/s, 1 thread ~10)."""
    return max(1, len(os.sched_getaffinity(0)) // 2) if hasattr(os, "sched_getaffinity") else 1


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything that can differ between deployments; the defaults run fully offline."""

    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_json_mode: str | None = None
    commerce_url: str | None = None
    chroma_url: str | None = None
    index_dir: Path | None = None
    api_keys: frozenset[str] = field(default_factory=frozenset)
    data_dir: Path = Path("var")
    content_dir: Path = REPO_ROOT
    deadline_s: float = 30.0
    llm_call_timeout_s: float = 20.0
    llm_attempts: int = 3
    max_repairs: int = 1
    commerce_timeout_s: float = 2.0
    commerce_cache_ttl_s: float = 30.0
    local_model: Path | None = None
    local_model_threads: int = field(default_factory=half_the_cores)
    local_model_slots: int = 4  # the most variants a request may ask for, generated side by side
    local_model_context: int = 2048  # tokens per slot: a Chinese e-mail prompt and its answer fit

    @property
    def index_path(self) -> Path:
        """Where embedded Chroma keeps the index (unused with COPYDESK_CHROMA_URL)."""
        return self.index_dir or self.data_dir

    @property
    def uses_embedded_model(self) -> bool:
        return not self.llm_base_url

    @property
    def json_mode(self) -> str:
        """How to ask for structured output: the standard json_schema unless told otherwise."""
        return self.llm_json_mode or "json_schema"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = env.get("COPYDESK_LLM_JSON_MODE") or None
        if mode is not None and mode not in JSON_MODES:
            raise ValueError(f"COPYDESK_LLM_JSON_MODE must be one of {', '.join(JSON_MODES)}, got {mode!r}")
        keys = frozenset(k.strip() for k in env.get("COPYDESK_API_KEYS", "").split(",") if k.strip())
        return cls(
            llm_base_url=env.get("COPYDESK_LLM_BASE_URL") or None,
            llm_model=env.get("COPYDESK_LLM_MODEL") or None,
            llm_api_key=env.get("COPYDESK_LLM_API_KEY") or None,
            llm_json_mode=mode,
            commerce_url=(env.get("COPYDESK_COMMERCE_URL") or "").rstrip("/") or None,
            chroma_url=env.get("COPYDESK_CHROMA_URL") or None,
            index_dir=Path(env["COPYDESK_INDEX_DIR"]) if env.get("COPYDESK_INDEX_DIR") else None,
            api_keys=keys,
            data_dir=Path(env.get("COPYDESK_DATA_DIR") or "var"),
            content_dir=Path(env.get("COPYDESK_CONTENT_DIR") or REPO_ROOT),
            deadline_s=_float(env, "COPYDESK_DEADLINE_S", cls.deadline_s),
            llm_call_timeout_s=_float(env, "COPYDESK_LLM_TIMEOUT_S", cls.llm_call_timeout_s),
            llm_attempts=_int(env, "COPYDESK_LLM_ATTEMPTS", cls.llm_attempts),
            max_repairs=_int(env, "COPYDESK_MAX_REPAIRS", cls.max_repairs),
            commerce_timeout_s=_float(env, "COPYDESK_COMMERCE_TIMEOUT_S", cls.commerce_timeout_s),
            commerce_cache_ttl_s=_float(env, "COPYDESK_COMMERCE_CACHE_TTL_S", 30.0),
            local_model=Path(env["COPYDESK_LOCAL_MODEL"]) if env.get("COPYDESK_LOCAL_MODEL") else None,
            local_model_threads=_positive(env, "COPYDESK_LOCAL_MODEL_THREADS", half_the_cores()),
            local_model_slots=_positive(env, "COPYDESK_LOCAL_MODEL_SLOTS", cls.local_model_slots),
            local_model_context=_positive(env, "COPYDESK_LOCAL_MODEL_CONTEXT", cls.local_model_context),
        )
