"""The service's Prometheus metrics, defined once for every stage to count into; `/metrics`
(app/api/metrics.py) exposes them, merged across worker processes in multiprocess mode."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)

REQUEST_SECONDS = Histogram(
    "copydesk_request_seconds",
    "POST /v1/generate end to end, by channel, locale, HTTP status and client",
    ["channel", "locale", "status", "client"],
    buckets=LATENCY_BUCKETS,
)
REPLAYS = Counter("copydesk_replays_total", "Answers replayed for a request_id seen before", ["client"])
STAGE_SECONDS = Histogram(
    "copydesk_stage_seconds",
    "Time in each stage: trade, retrieval, variants, checks_cpu (CPU of every check run, per request); "
    "model, checks (per call)",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
VARIANTS = Counter("copydesk_variants_total", "Variants returned, by source", ["source", "channel"])
CHECK_FAILURES = Counter("copydesk_check_failures_total", "Drafts that failed a check, by check", ["check"])
MODEL_CALLS = Counter("copydesk_model_calls_total", "Calls to the model, by outcome", ["outcome"])
MODEL_RETRIES = Counter("copydesk_model_retries_total", "Model calls that were retries")
MODEL_ERRORS = Counter("copydesk_model_errors_total", "Failed model calls, by error", ["error"])
MODEL_SHED = Counter(
    "copydesk_model_shed_total",
    "Model calls not made, fallback at once: the model could not answer inside the deadline "
    "(overload: the queue of calls in flight; rate_limited: the provider's 429 Retry-After)",
    ["reason"],
)
MODEL_TOKENS = Counter("copydesk_model_tokens_total", "Tokens used, prompt or completion", ["kind"])
COMMERCE_CALLS = Counter("copydesk_commerce_calls_total", "Commerce API calls, by outcome", ["outcome"])
COMMERCE_MALFORMED = Counter(
    "copydesk_commerce_malformed_total",
    "Commerce API answers that broke the contract (not an outage), by resource and field",
    ["resource", "field"],
)
COMMERCE_CACHE_HITS = Counter("copydesk_commerce_cache_hits_total", "Trade facts served from the cache")
REFUSED = Counter(
    "copydesk_client_refused_total", "Requests refused by a client limit (429)", ["client", "limit"]
)


def observe_stages(
    timings_ms: dict[str, float], stages: tuple[str, ...] = ("trade", "retrieval", "variants", "checks_cpu")
):
    for stage in stages:
        if stage in timings_ms:
            STAGE_SECONDS.labels(stage).observe(timings_ms[stage] / 1000)
