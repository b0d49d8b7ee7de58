"""The variants' tones and traffic weights from what their context has learnt (app/learning), and
the rows that let posted events find each variant again."""

from __future__ import annotations

from dataclasses import dataclass

from app.content import Content
from app.learning import Allocation, Context, Learning, arm_key
from app.learning.arms import HOLDOUT
from app.learning.store import VariantRow
from app.schemas import AllocationOut, ArmOut, GenerateRequest, GenerateResponse


@dataclass(frozen=True)
class Plan:
    context: Context
    tones: list[str]
    allocation: Allocation


def context_of(req: GenerateRequest) -> Context:
    return Context(req.journey, req.channel, req.locale, req.audience.segment)


def plan_variants(learning: Learning, content: Content, req: GenerateRequest, prompt_version: str) -> Plan:
    """Which tones the variants take (the request's, drawn from the posteriors for "auto", else the
    tones file's order) and the weight of each in this context. Runs where its database is cheap."""
    context = context_of(req)
    names = [t.name for t in content.tones]
    if req.tones == "auto":
        chosen = learning.choose_arms(context, [arm_key(t, prompt_version) for t in names], req.variants)
        tones = [arm.split("@", 1)[0] for arm in chosen]
    else:
        first = list(req.tones or [])
        tones = (first + [t for t in names if t not in first])[: req.variants]
    allocation = learning.allocate(context, [arm_key(t, prompt_version) for t in tones])
    return Plan(context, tones, allocation)


def hold_out_id(generation_id: str) -> str:
    return f"{generation_id}-H"


def allocation_out(plan: Plan, variant_ids: list[str], generation_id: str) -> AllocationOut:
    a = plan.allocation
    return AllocationOut(
        policy_version=a.policy_version,
        goal=a.goal,  # type: ignore[arg-type]
        hold_out=a.hold_out,
        hold_out_id=hold_out_id(generation_id) if a.hold_out > 0 else None,
        reason=a.reason,
        arms=[
            ArmOut(
                variant_id=vid,
                arm=s.arm,
                weight=s.weight,
                p_best=s.p_best,
                sends=s.sends,
                prior=s.prior,
                flags=list(s.flags),
            )  # type: ignore[arg-type]  # fmt: skip
            for vid, s in zip(variant_ids, a.arms, strict=True)
        ],
    )


def variant_rows(
    resp: GenerateResponse, context: Context, client: str, created_at: float, hold_out: bool
) -> list[VariantRow]:
    """One row per variant served (and one for the hold-out), for /v1/events to find."""
    rows = [
        VariantRow(v.variant_id, resp.generation_id, client, created_at, context,
                   arm_key(v.tone, resp.prompt_version), v.tone, resp.prompt_version, resp.model, v.source)
        for v in resp.variants
    ]  # fmt: skip
    if hold_out:
        rows.append(
            VariantRow(
                hold_out_id(resp.generation_id),
                resp.generation_id,
                client,
                created_at,
                context,
                HOLDOUT,
                None,
                resp.prompt_version,
                resp.model,
                None,
            )  # fmt: skip
        )
    return rows
