"""`copydesk serve` and `copydesk generate`: the HTTP API, and one request tried from a terminal."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.config import Settings, is_loopback

console = Console()

WORKER_PING_S = 30


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes (default: COPYDESK_WORKERS, else the machine's cores)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
    log_format: Annotated[
        str | None,
        typer.Option(help="json (one object a line) or text (default: COPYDESK_LOG_FORMAT, else json)."),
    ] = None,
) -> None:
    """Run the HTTP API (on the embedded model and demo catalog unless configured otherwise)."""
    import os
    from dataclasses import replace

    settings = Settings.from_env()
    if not settings.api_keys and not settings.client_keys and not is_loopback(host):
        console.print("[red]Refusing to bind a non-loopback address without COPYDESK_API_KEYS.[/red]")
        raise typer.Exit(2)
    count = workers or (settings.workers if os.environ.get("COPYDESK_WORKERS") else os.cpu_count() or 1)
    settings = replace(settings, workers=max(1, count))
    fmt = log_format or os.environ.get("COPYDESK_LOG_FORMAT") or "json"
    import logging.config

    import uvicorn

    from app.observability.logs import log_config

    config = log_config(log_level, fmt)
    logging.config.dictConfig(config)
    if settings.metrics_addr is not None:  # in this process; with workers after their metrics dir is set
        from app.cli.workers import metrics_dir_for

        metrics_dir_for(settings)
        from app.api.metrics import serve_metrics_apart

        serve_metrics_apart(settings.metrics_addr)
    common = {"host": host, "port": port, "log_config": config, "timeout_graceful_shutdown": settings.grace_s}
    if settings.workers == 1:
        from app.api.factory import serving_app
        from app.cli.supervisor import CopydeskServer

        CopydeskServer(
            uvicorn.Config(serving_app(settings), **common), drain_s=settings.shutdown_drain_s
        ).run()
        return
    from app.cli.workers import prepare_workers

    cleanup = prepare_workers(settings)
    from app.cli.supervisor import CopydeskSupervisor  # after the metrics directory is set

    try:  # the embedded model stops once every worker has stopped
        uv = uvicorn.Config(
            "app.api.factory:app_from_env",
            factory=True,
            workers=settings.workers,
            # A worker that does not answer the supervisor's ping within this is killed and replaced:
            # uvicorn's 5 s killed workers still loading the index on a loaded machine, again and again.
            timeout_worker_healthcheck=WORKER_PING_S,
            **common,
        )
        CopydeskSupervisor(
            uv, [uv.bind_socket()], drain_s=settings.shutdown_drain_s, grace_s=settings.grace_s
        ).run()
    finally:
        cleanup()


def generate(
    channel: Annotated[str, typer.Option(help="sms, push, email, wechat or inapp.")] = "sms",
    locale: Annotated[str, typer.Option(help="zh-CN or en-US.")] = "zh-CN",
    journey: Annotated[str, typer.Option(help="Journey name, see prompts/journeys.yaml.")] = "cart_abandon",
    sku: Annotated[list[str], typer.Option(help="SKU; repeat for several.")] = ["SKU-1001"],  # noqa: B006
    offer: Annotated[str | None, typer.Option(help="Offer ID.")] = None,
    variants: Annotated[int, typer.Option(min=1, max=4)] = 2,
    name: Annotated[str | None, typer.Option(help="Customer's name.")] = None,
    segment: Annotated[str | None, typer.Option(help="hot, warm or cold.")] = None,
    interest: Annotated[list[str], typer.Option(help="Interest; repeat for several.")] = [],  # noqa: B006
    cs_topic: Annotated[str | None, typer.Option(help="Topic the customer asked support about.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw response JSON.")] = False,
) -> None:
    """Generate one request's variants from the command line and print them side by side."""
    from pydantic import ValidationError

    from app.errors import RequestError
    from app.generation.service import build_service
    from app.schemas import GenerateRequest

    payload = {
        "request_id": "cli",
        "channel": channel,
        "locale": locale,
        "journey": journey,
        "skus": sku,
        "offer_id": offer,
        "audience": {"segment": segment, "interests": interest, "cs_topic": cs_topic, "name": name},
        "variants": variants,
    }
    try:
        req = GenerateRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        console.print(f"[red]{'.'.join(map(str, first['loc']))}: {first['msg']}[/red]")
        raise typer.Exit(2) from exc

    async def run():
        service = await asyncio.to_thread(build_service, Settings.from_env())
        try:
            return await service.generator.generate(req)
        finally:
            await service.aclose()

    try:
        resp = asyncio.run(run())
    except RequestError as exc:
        console.print(f"[red]{exc.field}: {exc.message}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        print(json.dumps(resp.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    console.print(f"model [bold]{resp.model}[/bold] · prompt {resp.prompt_version} · {resp.generation_id}")
    table = Table(show_lines=True)
    for v in resp.variants:
        table.add_column(f"{v.variant_id[-1]} · {v.tone} · {v.source}", overflow="fold")
    table.add_row(*(_render_variant(v) for v in resp.variants))
    console.print(table)


def _render_variant(v) -> str:
    lines = []
    if v.title:
        lines.append(f"[bold]{v.title}[/bold]")
    lines.append(v.body)
    if v.cta:
        lines.append(f"[reverse] {v.cta} [/reverse]")
    lines.append("")
    lines += [f"{'[green]✓' if c.passed else '[red]✗'} {c.name}[/] {c.detail}" for c in v.checks]
    return "\n".join(lines)
