"""Identifiers: UUIDv7 run ids (RFC 9562), time ordered and unique per process."""

from __future__ import annotations

import random
from time import time_ns

# rand_a carries the fraction of the millisecond in 12 bits (RFC 9562 section 6.2, method 3):
# one step is 1_000_000 / 4096 ≈ 244.1 ns, so a step of 245 ns always moves it on.
_STEP_NS = 245
_last_ns = 0


def uuid7() -> str:
    """Return a new UUIDv7 as a string.

    48 bits of Unix milliseconds, 12 bits of sub-millisecond time, then 62 random bits.
    Each id's timestamp is later than the last one's, even when the clock did not move
    or stepped back, so ids from one thread sort in creation order within a millisecond.
    No lock: two threads racing here may share a timestamp, and the random bits still
    keep their ids distinct.
    """
    global _last_ns
    ns = time_ns()
    if ns <= _last_ns:
        ns = _last_ns + _STEP_NS
    _last_ns = ns
    ms, within = divmod(ns, 1_000_000)
    sub_ms = within * 4096 // 1_000_000
    # version 7 in the top nibble of rand_a's 16 bits; variant 0b10 above the random bits.
    value = ms << 80 | (0x7000 | sub_ms) << 64 | 0x8000000000000000 | random.getrandbits(62)
    # bytes.hex() then slicing is several times faster than str(uuid.UUID(int=value)).
    h = value.to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
