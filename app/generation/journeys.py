"""Which journey's wording a request gets: a purchase-urging journey for a SKU with stock 0 switches
to the journey its `when_out_of_stock` rule in prompts/journeys.yaml names, or is refused."""

from __future__ import annotations

from dataclasses import dataclass

from app.commerce.facts import TradeFacts
from app.errors import RequestError

REFUSE = "refuse"


@dataclass(frozen=True)
class JourneyChoice:
    name: str  # the journey whose description, fallback copy and topic words the request gets
    note: str = ""  # why it differs from the requested one, for each variant's source_reason


def choose_journey(journeys: dict[str, dict], requested: str, trade: TradeFacts) -> JourneyChoice:
    """The requested journey unless the main product is out of stock and the journey says otherwise."""
    if requested not in journeys:
        known = ", ".join(sorted(journeys))
        raise RequestError("unknown_journey", f"journey must be one of: {known}", "journey")
    rule = journeys[requested].get("when_out_of_stock")
    main = trade.products[0] if trade.products else None
    if not rule or main is None or main.stock is None or main.stock > 0:
        return JourneyChoice(requested)
    if rule == REFUSE:
        raise RequestError(
            "out_of_stock",
            f"{main.sku} has stock 0; journey {requested} urges a purchase that cannot be made",
            "skus[0]",
            status=409,
        )
    if rule not in journeys:
        raise ValueError(f"prompts/journeys.yaml: {requested}.when_out_of_stock names unknown {rule}")
    return JourneyChoice(rule, f"journey {requested} became {rule}: {main.sku} has stock 0")
