"""The learning loop as the rest of the service uses it: weights for any arms of a context (the
reusable core), tones drawn from the posteriors, variants recorded, events ingested."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.learning.allocation import decide, fingerprint, guard_flags, guarded_counts
from app.learning.arms import HOLDOUT, Context
from app.learning.events import EventIn, Rejection, parse_event
from app.learning.policy import AllocationPolicy
from app.learning.posteriors import ParentCounts, posteriors
from app.learning.store import LearningStore, NewEvent, VariantRow
from app.observability import request_context
from app.store.database import Database

PosteriorsRead = tuple[float, np.ndarray, np.ndarray, list[bool]]  # (monotonic time, α, β, flagged)


@dataclass(frozen=True)
class ArmShare:
    arm: str
    weight: float  # share of all traffic of this context (the arms and the hold-out sum to 1)
    p_best: float
    sends: int
    flags: tuple[str, ...]
    prior: str  # what the prior mean came from: arm, family, parent, none


@dataclass(frozen=True)
class Allocation:
    policy_version: str
    goal: str
    context: Context
    arms: tuple[ArmShare, ...]
    hold_out: float
    reason: str
    hold_out_sends: int = 0  # `sent` events of the hold-out in this context so far

    def share(self, arm: str) -> ArmShare:
        return next(a for a in self.arms if a.arm == arm)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicate: int
    rejected: list[Rejection]


def caller() -> str:
    return request_context.client.get() or "local"


class Learning:
    """Counts and weights in `db` (None: nothing stored, every split equal)."""

    def __init__(self, db: Database | None, policy: AllocationPolicy) -> None:
        self.db = db
        self.policy = policy
        self.store = LearningStore(db) if db is not None else None
        # Per (client, context, arms): the guarded counts last checked within an interval and found
        # to flag nothing new, so one new unsubscribe costs one guard check, not one per request.
        self._guard_checked: dict[tuple[str, str, str], list] = {}
        # Per (client, context, candidates): when `choose_arms` last read the posteriors, and them.
        self._posteriors_read: dict[tuple[str, str, str], PosteriorsRead] = {}
        self._rng = np.random.default_rng()

    @classmethod
    def load(cls, db: Database | None, content_dir: Path) -> Learning:
        return cls(db, AllocationPolicy.load(content_dir / "guardrails" / "allocation.yaml"))

    # -- weights --------------------------------------------------------------------------------
    def allocate(self, context: Context, arms: Sequence[str], *, client: str | None = None) -> Allocation:
        """Weights of `arms` (any keys: tones, library IDs) in `context`, the hold-out beside them.
        Recomputed only when a count the decision reads has changed since the weights last served
        there, and at most once per `update_interval_s` (unless the guard would flag an arm anew);
        then each weight moves at most the policy's step (flagged arms drop to the floor)."""
        arms = list(dict.fromkeys(arms))
        if not arms:
            raise ValueError("allocate needs at least one arm")
        client = client or caller()
        key = "|".join(arms)
        where = (client, context.key, key)
        last = self.store.last_decision(client, context, key) if self.store else None
        saved, parent = None, None
        if last is not None and self.store is not None and self._young(last):
            # Within the interval the weights stand unless the guard has news: only this context's
            # counts are read (a few rows), not the parent's.
            own = ParentCounts.split(self.store.context_rows(client, context), context)
            guarded = guarded_counts(arms, own, self.policy)
            if last[1].get("guarded") == guarded or self._guard_checked.get(where) == guarded:
                saved, parent = last[1], own
        if saved is None:
            parent = self._parent(client, context)
            saved = self._decision(client, context, arms, key, where, parent, last)
        scale = 1.0 - self.policy.hold_out
        shares = tuple(
            ArmShare(arm, w * scale, p, n, tuple(f), prior)
            for arm, w, p, n, f, prior in zip(
                arms, saved["weights"], saved["p_best"], saved["sends"], saved["flags"], saved["prior"],
                strict=True,
            )
        )  # fmt: skip
        return Allocation(
            self.policy.version,
            self.policy.goal,
            context,
            shares,
            self.policy.hold_out,
            saved["reason"],
            int(parent.held.get("sent", 0)) if parent is not None else 0,
        )

    def _young(self, last: tuple[str, dict, float]) -> bool:
        """The weights last served were decided under this policy less than an interval ago."""
        _, saved, updated_at = last
        return saved.get("policy") == self.policy.version and (
            time.time() - updated_at < self.policy.update_interval_s
        )

    def _decision(
        self,
        client: str,
        context: Context,
        arms: list[str],
        key: str,
        where: tuple[str, str, str],
        parent: ParentCounts,
        last: tuple[str, dict, float] | None,
    ) -> dict:
        """The weights to serve from the parent's counts: the stored ones while nothing they read
        changed (or they stand, see `_stands`), else a new decision, stored and logged."""
        state = fingerprint(arms, parent, self.policy)
        guarded = guarded_counts(arms, parent, self.policy)
        if last is not None and (last[0] == state or self._stands(last, where, arms, parent, guarded, state)):
            return last[1]
        d = decide(arms, parent, self.policy, last[1]["weights"] if last else None)
        saved = {
            "weights": d.weights,
            "p_best": d.p_best,
            "flags": [list(f) for f in d.flags],
            "sends": [p.sends for p in d.posteriors],
            "prior": [p.prior_from for p in d.posteriors],
            "reason": d.reason,
            "arms": arms,
            "policy": self.policy.version,
            "guarded": guarded,
        }
        if self.store is not None:
            changed = last is None or any(
                abs(a - b) > 1e-9 for a, b in zip(last[1]["weights"], d.weights, strict=False)
            )
            self.store.save_decision(client, context, key, state, saved, self.policy.version, changed)
        return saved

    def _stands(
        self,
        last: tuple[str, dict, float],
        where: tuple[str, str, str],
        arms: list[str],
        parent: ParentCounts,
        guarded: list,
        state: str,
    ) -> bool:
        """The weights last served stand while younger than the policy's interval, unless a new
        unsubscribe or complaint in the context changes what the guard flags (then it acts at once)."""
        _, saved, updated_at = last
        if saved.get("policy") != self.policy.version:
            return False
        if time.time() - updated_at >= self.policy.update_interval_s:
            return False
        if saved.get("guarded") == guarded or self._guard_checked.get(where) == guarded:
            return True
        flags = guard_flags(arms, parent, self.policy, np.random.default_rng(int(state[:16], 16)))
        if [list(f) for f in flags] != saved["flags"]:
            return False
        if len(self._guard_checked) >= 4096:
            self._guard_checked.clear()
        self._guard_checked[where] = guarded
        return True

    def choose_arms(
        self, context: Context, candidates: Sequence[str], k: int, *, client: str | None = None
    ) -> list[str]:
        """`k` of the candidates by Thompson sampling: one draw from each posterior, the highest
        draws win, arms the guard flags last. Exploration comes from the draws themselves. The
        posteriors and flags are read at most once per `update_interval_s` per context (the weights
        that follow, from `allocate`, still hold a newly flagged arm at the floor at once)."""
        candidates = list(dict.fromkeys(candidates))
        client = client or caller()
        where = (client, context.key, "|".join(candidates))
        cached = self._posteriors_read.get(where)
        if cached is None or time.monotonic() - cached[0] >= self.policy.update_interval_s:
            parent = self._parent(client, context)
            posts = posteriors(candidates, parent, self.policy.goal, self.policy)
            flags = guard_flags(candidates, parent, self.policy, np.random.default_rng())
            cached = (
                time.monotonic(),
                np.array([p.alpha for p in posts]),
                np.array([p.beta for p in posts]),
                [bool(f) for f in flags],
            )
            if len(self._posteriors_read) >= 4096:
                self._posteriors_read.clear()
            self._posteriors_read[where] = cached
        _, alpha, beta, flagged = cached
        draws = self._rng.beta(alpha, beta)
        order = sorted(range(len(candidates)), key=lambda i: (flagged[i], -draws[i]))
        return [candidates[i] for i in order[:k]]

    def _parent(self, client: str, context: Context) -> ParentCounts:
        rows = self.store.parent_rows(client, context) if self.store else []
        return ParentCounts.split(rows, context)

    # -- variants and events --------------------------------------------------------------------
    def record_variants(self, rows: Sequence[VariantRow]) -> None:
        if self.store is not None:
            self.store.record_variants(rows)

    def ingest(
        self, raw_events: Sequence[Any], *, client: str | None, now: float | None = None
    ) -> IngestResult:
        """Accept, count as duplicate or reject each event; `client` None may post for any client's
        variants (the audit role), else only for the caller's own."""
        now = time.time() if now is None else now
        skew = self.policy.clock_skew_s
        parsed = [parse_event(i, raw) for i, raw in enumerate(raw_events)]
        ok = [e for e in parsed if isinstance(e, EventIn)]
        rejected = [e for e in parsed if isinstance(e, Rejection)]
        known = self.store.variants((e.variant_id for e in ok), client) if self.store else {}
        fresh: list[NewEvent] = []
        seen: set[str] = set()
        duplicate = 0
        for e in ok:
            variant = known.get(e.variant_id)
            if variant is None:
                rejected.append(Rejection(e.index, e.event_id, "unknown_variant", "variant_id",
                                          f"variant_id: no variant {e.variant_id}"))  # fmt: skip
            elif e.at > now + skew:
                rejected.append(Rejection(e.index, e.event_id, "in_future", "at", "at: later than now"))
            elif e.at < variant.created_at - skew:
                rejected.append(Rejection(e.index, e.event_id, "before_generation", "at",
                                          "at: before the variant was generated"))  # fmt: skip
            elif (variant.client, e.event_id) in seen:
                duplicate += 1
            else:
                seen.add((variant.client, e.event_id))
                fresh.append(NewEvent(e.event_id, variant, e.type, e.at, e.value))
        inserted = self.store.insert_events(fresh) if self.store else 0
        rejected.sort(key=lambda r: r.index)
        return IngestResult(inserted, duplicate + len(fresh) - inserted, rejected)


__all__ = ["HOLDOUT", "Allocation", "ArmShare", "IngestResult", "Learning"]
