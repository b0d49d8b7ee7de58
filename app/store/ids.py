"""Random identifiers without a system call each: a per-process generator seeded once from the
OS (os.urandom costs ~50 µs a call here, two a request) and seeded again in a forked child."""

from __future__ import annotations

import os
import random

_rng = random.Random(os.urandom(32))


def _reseed() -> None:
    _rng.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def random_hex(digits: int) -> str:
    """`digits` hex digits (4 bits each) of randomness, e.g. 20 for a generation id (80 bits)."""
    return f"{_rng.getrandbits(4 * digits):0{digits}x}"
