"""Copy that learns from its sends: outcome events, counts per arm and context, the hierarchical
Beta posteriors and the Thompson-sampling allocation with a floor, a step limit, a hold-out and an
unsubscribe / complaint guard (policy: guardrails/allocation.yaml).

Stores through `store`; imports only store, observability and the shared modules. Reached from
`api` (events, performance) and `generation` (weights, auto tones), never the other way round.
The reusable core for any arm keys (tones, library IDs): `Learning.allocate(context, arms)`.
"""

from app.learning.arms import Context, arm_key
from app.learning.policy import AllocationPolicy
from app.learning.service import Allocation, Learning

__all__ = ["Allocation", "AllocationPolicy", "Context", "Learning", "arm_key"]
