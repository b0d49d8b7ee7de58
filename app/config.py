"""Settings read once from the environment; the service never reads os.environ elsewhere."""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
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


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    return _float(env, name, 0.0) if env.get(name) else None


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
    # Azure OpenAI (AsyncAzureOpenAI): the resource's endpoint, the API version, the deployment.
    llm_azure_endpoint: str | None = None
    llm_api_version: str | None = None
    llm_deployment: str | None = None
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
    commerce_retry_after_s: float = 10.0  # Retry-After of a 503 commerce_unavailable, unless the API sent one
    local_model: Path | None = None
    local_model_threads: int = field(default_factory=half_the_cores)
    local_model_slots: int = 4  # the most variants a request may ask for, generated side by side
    local_model_context: int = 2048  # tokens per slot: a Chinese e-mail prompt and its answer fit
    # Scale-out (issue 14): shared state, named client keys and their limits, workers.
    database_url: str | None = None
    client_keys: tuple[tuple[str, str], ...] = ()  # (name, key)
    # Roles per named client (COPYDESK_API_ROLES); a key not named there may only generate.
    client_roles: tuple[tuple[str, frozenset[str]], ...] = ()
    claim_lease_s: float = 10.0
    client_rate_per_s: float = 0.0  # 0: no rate limit
    client_burst: int = 0  # 0: one second's worth of the rate
    client_concurrency: int = 0  # 0: no cap
    workers: int = 1
    log_format: str = "text"
    kb_refresh_s: float = 10.0
    # Failure semantics (issue 24): shutdown, the database's outage, the model's admission.
    shutdown_drain_s: float = 2.0  # after SIGTERM: /readyz 503 while still accepting
    shutdown_grace_s: float | None = None  # then in-flight requests may take this long; None: deadline + 5 s
    database_timeout_s: float = 2.0  # the longest a request waits for a database connection
    llm_concurrency: int = 0  # model calls in flight per worker; 0: the embedded model's slots, else no limit
    # Privacy (issue 22): replays sealed under these keys (newest first), for this long; what the
    # audit and events keep, for this long; the purge's schedule and batch; /metrics' key and address.
    replay_keys: tuple[bytes, ...] = ()
    replay_window_s: float = 24 * 3600.0
    retention_days: float = 30.0
    purge_every_s: float = 600.0  # 0: serve never purges (run `copydesk db purge` from cron)
    purge_batch: int = 500
    metrics_key: str | None = None
    metrics_addr: tuple[str, int] | None = None

    @property
    def index_path(self) -> Path:
        """Where embedded Chroma keeps the index (unused with COPYDESK_CHROMA_URL)."""
        return self.index_dir or self.data_dir

    @cached_property
    def clients_by_key(self) -> dict[str, str]:
        """Bearer key → client name, from the named and the bare keys alike."""
        named = {key: name for name, key in self.client_keys}
        return {**{k: unnamed_key(k) for k in self.api_keys}, **named}

    def roles_of(self, client: str | None) -> frozenset[str]:
        """What a client may do; without keys (loopback only) every role."""
        if not self.api_keys:
            return frozenset(ROLES)
        return dict(self.client_roles).get(client or "", DEFAULT_ROLES)

    @property
    def grace_s(self) -> float:
        """How long in-flight requests may finish once the listener closed: a deadline, the audit."""
        return self.shutdown_grace_s if self.shutdown_grace_s is not None else self.deadline_s + 5.0

    @property
    def uses_embedded_model(self) -> bool:
        return not self.llm_base_url and not self.llm_azure_endpoint

    @property
    def model_name(self) -> str | None:
        """The model asked for: COPYDESK_LLM_MODEL, else Azure's deployment name."""
        return self.llm_model or self.llm_deployment

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
        named = parse_api_keys(env.get("COPYDESK_API_KEYS", ""))
        keys = frozenset(key for _, key in named)
        azure = env.get("COPYDESK_LLM_AZURE_ENDPOINT") or None
        if azure and env.get("COPYDESK_LLM_BASE_URL"):
            raise ValueError("set COPYDESK_LLM_BASE_URL or COPYDESK_LLM_AZURE_ENDPOINT, not both")
        if azure and not env.get("COPYDESK_LLM_API_VERSION"):
            raise ValueError("COPYDESK_LLM_AZURE_ENDPOINT needs COPYDESK_LLM_API_VERSION (e.g. 2024-10-21)")
        if azure and not (env.get("COPYDESK_LLM_DEPLOYMENT") or env.get("COPYDESK_LLM_MODEL")):
            raise ValueError("COPYDESK_LLM_AZURE_ENDPOINT needs COPYDESK_LLM_DEPLOYMENT (the deployment)")
        return cls(
            llm_base_url=env.get("COPYDESK_LLM_BASE_URL") or None,
            llm_azure_endpoint=azure,
            llm_api_version=env.get("COPYDESK_LLM_API_VERSION") or None,
            llm_deployment=env.get("COPYDESK_LLM_DEPLOYMENT") or None,
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
            commerce_retry_after_s=_float(env, "COPYDESK_COMMERCE_RETRY_AFTER_S", cls.commerce_retry_after_s),
            local_model=Path(env["COPYDESK_LOCAL_MODEL"]) if env.get("COPYDESK_LOCAL_MODEL") else None,
            local_model_threads=_positive(env, "COPYDESK_LOCAL_MODEL_THREADS", half_the_cores()),
            local_model_slots=_positive(env, "COPYDESK_LOCAL_MODEL_SLOTS", cls.local_model_slots),
            local_model_context=_positive(env, "COPYDESK_LOCAL_MODEL_CONTEXT", cls.local_model_context),
            database_url=env.get("COPYDESK_DATABASE_URL") or None,
            client_keys=named,
            client_roles=parse_api_roles(env.get("COPYDESK_API_ROLES", ""), {n for n, _ in named}),
            claim_lease_s=_float(env, "COPYDESK_CLAIM_LEASE_S", cls.claim_lease_s),
            client_rate_per_s=_float(env, "COPYDESK_CLIENT_RATE", cls.client_rate_per_s),
            client_burst=_int(env, "COPYDESK_CLIENT_BURST", cls.client_burst),
            client_concurrency=_int(env, "COPYDESK_CLIENT_CONCURRENCY", cls.client_concurrency),
            workers=max(1, _int(env, "COPYDESK_WORKERS", 1)),
            log_format=env.get("COPYDESK_LOG_FORMAT") or "text",
            kb_refresh_s=_float(env, "COPYDESK_KB_REFRESH_S", cls.kb_refresh_s),
            shutdown_drain_s=_float(env, "COPYDESK_SHUTDOWN_DRAIN_S", cls.shutdown_drain_s),
            shutdown_grace_s=_optional_float(env, "COPYDESK_SHUTDOWN_GRACE_S"),
            database_timeout_s=_float(env, "COPYDESK_DATABASE_TIMEOUT_S", cls.database_timeout_s),
            llm_concurrency=_int(env, "COPYDESK_LLM_CONCURRENCY", cls.llm_concurrency),
            replay_keys=parse_replay_keys(env.get("COPYDESK_REPLAY_KEY", "")),
            replay_window_s=_float(env, "COPYDESK_REPLAY_WINDOW_S", cls.replay_window_s),
            retention_days=_float(env, "COPYDESK_RETENTION_DAYS", cls.retention_days),
            purge_every_s=_float(env, "COPYDESK_PURGE_EVERY_S", cls.purge_every_s),
            purge_batch=_positive(env, "COPYDESK_PURGE_BATCH", cls.purge_batch),
            metrics_key=env.get("COPYDESK_METRICS_KEY") or None,
            metrics_addr=parse_address(env.get("COPYDESK_METRICS_ADDR", "")),
        )


def parse_api_keys(raw: str) -> tuple[tuple[str, str], ...]:
    """`engine-a:key1,engine-b:key2` names each client; a bare `key1` (the older form) is named by a
    hash of the key, so logs and metrics never show a key."""
    out = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, key = item.partition(":")
        if not sep:
            name, key = unnamed_key(item), item
        if not name.strip() or not key.strip():
            raise ValueError(f"COPYDESK_API_KEYS: {item.split(':')[0]!r}: expected name:key")
        out.append((name.strip(), key.strip()))
    return tuple(out)


ROLES = ("generate", "review", "audit")
DEFAULT_ROLES = frozenset({"generate"})


def parse_api_roles(raw: str, names: set[str]) -> tuple[tuple[str, frozenset[str]], ...]:
    """`reviewer:review,auditor:audit,engine-a:generate+review`: what each named key may do.
    `generate` calls /v1/generate and posts events, `review` decides on library entries, `audit`
    reads every client's records and erases them. A name that is not a key is a typo: refused."""
    out = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, roles = item.partition(":")
        wanted = frozenset(r.strip() for r in roles.split("+") if r.strip())
        if not sep or not wanted:
            raise ValueError(f"COPYDESK_API_ROLES: {item!r}: expected name:role+role")
        if name.strip() not in names:
            raise ValueError(f"COPYDESK_API_ROLES: {name.strip()!r} is not a client of COPYDESK_API_KEYS")
        unknown = wanted - set(ROLES)
        if unknown:
            raise ValueError(
                f"COPYDESK_API_ROLES: unknown role {sorted(unknown)[0]!r}; roles: {', '.join(ROLES)}"
            )
        out.append((name.strip(), wanted))
    return tuple(out)


def parse_replay_keys(raw: str) -> tuple[bytes, ...]:
    """`COPYDESK_REPLAY_KEY`: comma-separated base64 keys of 16, 24 or 32 bytes, newest first."""
    keys = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        text = item.replace("-", "+").replace("_", "/")  # URL-safe base64 too
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("COPYDESK_REPLAY_KEY: a key is not base64") from exc
        if len(key) not in (16, 24, 32):
            raise ValueError(f"COPYDESK_REPLAY_KEY: a key of {len(key)} bytes; AES takes 16, 24 or 32")
        keys.append(key)
    return tuple(keys)


def parse_address(raw: str) -> tuple[str, int] | None:
    """`host:port` (`[::1]:9100` for IPv6), or None when unset."""
    if not raw.strip():
        return None
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"COPYDESK_METRICS_ADDR: expected host:port, got {raw!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def unnamed_key(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def is_loopback(host: str | None) -> bool:
    """A loopback address (or `localhost`, as a bind address may be written)."""
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
