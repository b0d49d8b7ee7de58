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
class VariantWeights:
    """The allocation over the distinct arms, and each variant's weight (variants sharing an arm
    share its weight)."""

    allocation: Allocation
    arms: list[str]  # per variant
    weights: list[float]  # per variant


@dataclass
class Plan:
    context: Context
    tones: list[str]
    allocation: VariantWeights | None = None


def context_of(req: GenerateRequest) -> Context:
    return Context(req.journey, req.channel, req.locale, req.audience.segment)


def arm_of(library_id: str | None, tone: str, prompt_version: str) -> str:
    """A library variant's arm is its library ID; generated copy's is its tone under this prompt."""
    return library_id or arm_key(tone, prompt_version)


def plan_variants(learning: Learning, content: Content, req: GenerateRequest, prompt_version: str) -> Plan:
    """Which tones the variants take: the request's list first, drawn from the posteriors for
    "auto", else the order of prompts/tones.yaml."""
    context = context_of(req)
    names = [t.name for t in content.tones]
    if req.tones == "auto":
        chosen = learning.choose_arms(context, [arm_key(t, prompt_version) for t in names], req.variants)
        return Plan(context, [arm.split("@", 1)[0] for arm in chosen])
    first = list(req.tones or [])
    return Plan(context, (first + [t for t in names if t not in first])[: req.variants])


def weigh_variants(learning: Learning, context: Context, arms: list[str]) -> VariantWeights:
    """Weights of the variants' arms in this context; runs where its database is cheap to reach."""
    allocation = learning.allocate(context, arms)
    shared = {a: arms.count(a) for a in arms}
    weights = [allocation.share(a).weight / shared[a] for a in arms]
    return VariantWeights(allocation, arms, weights)


def hold_out_id(generation_id: str) -> str:
    return f"{generation_id}-H"


def allocation_out(weighed: VariantWeights, generation_id: str) -> AllocationOut:
    a = weighed.allocation
    arms = []
    for i, (arm, weight) in enumerate(zip(weighed.arms, weighed.weights, strict=True)):
        s = a.share(arm)
        arms.append(
            ArmOut(
                variant_id=f"{generation_id}-{chr(ord('A') + i)}",
                arm=arm,
                weight=weight,
                p_best=s.p_best,
                sends=s.sends,
                prior=s.prior,
                flags=list(s.flags),
            )  # type: ignore[arg-type]  # fmt: skip
        )
    if a.hold_out > 0:  # the "send nothing" share, as its own arm: the weights sum to 1 over `arms`
        arms.append(
            ArmOut(
                variant_id=hold_out_id(generation_id),
                arm=HOLDOUT,
                weight=a.hold_out,
                p_best=0.0,
                sends=a.hold_out_sends,
                prior="none",
                flags=[],
            )  # fmt: skip
        )
    return AllocationOut(
        policy_version=a.policy_version,
        goal=a.goal,  # type: ignore[arg-type]
        hold_out=a.hold_out,
        hold_out_id=hold_out_id(generation_id) if a.hold_out > 0 else None,
        reason=a.reason,
        arms=arms,
    )


def variant_rows(
    resp: GenerateResponse, context: Context, client: str, created_at: float, hold_out: bool
) -> list[VariantRow]:
    """One row per variant served (and one for the hold-out), for /v1/events to find."""
    rows = [
        VariantRow(v.variant_id, resp.generation_id, client, created_at, context, arm.arm, v.tone,
                   resp.prompt_version, resp.model, v.source)
        for v, arm in zip(resp.variants, [a for a in resp.allocation.arms if a.arm != HOLDOUT], strict=True)
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
