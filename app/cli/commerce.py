"""`copydesk commerce serve`: the reference commerce API over the demo catalog, for other systems."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from app.config import Settings

commerce_app = typer.Typer(help="The reference commerce API over the demo catalog.", no_args_is_help=True)
console = Console()


@commerce_app.command("serve")
def commerce_serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8100,
) -> None:
    """Serve GET /skus/{sku} and GET /offers/{offer_id} from knowledge/."""
    import uvicorn

    from app.commerce.catalog import load_catalog
    from app.commerce.server import create_commerce_app

    settings = Settings.from_env()
    catalog = load_catalog(settings.content_dir / "knowledge")
    console.print(
        Panel(f"{len(catalog.products)} SKUs, {len(catalog.offers)} offers on http://{host}:{port}")
    )
    uvicorn.run(create_commerce_app(catalog), host=host, port=port, log_level="warning")
