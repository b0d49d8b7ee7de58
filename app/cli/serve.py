"""`copydesk serve` and `copydesk generate`: the HTTP API, and one request tried from a terminal."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.config import Settings

console = Console()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP API (on the embedded model and demo catalog unless configured otherwise)."""
    settings = Settings.from_env()
    if not settings.api_keys and not _loopback(host):
        console.print("[red]Refusing to bind a non-loopback address without COPYDESK_API_KEYS.[/red]")
        raise typer.Exit(2)
    import uvicorn

    from app.api import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


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
