"""Identifiers: UUIDv7 run ids (RFC 9562), time ordered and unique per process."""

from __future__ import annotations

import random
from time import time_ns

# rand_a carries the fraction of the millisecond in 12 bits (RFC 9562 section 6.2, method 3):
# one step is 1_000_000 / 4096 ≈ 244.1 ns, so a step of 245 ns always moves it on.
_STEP_NS = 245
_last_ns = 0
# The first 15 characters ("tttttttt-tttt-7") only change once a millisecond: kept, with the
# millisecond they belong to, in one tuple so that threads never pair one with the other's.
_prefix: tuple[int, str] = (-1, "")


def uuid7() -> str:
    """Return a new UUIDv7 as a string.

    48 bits of Unix milliseconds, 12 bits of sub-millisecond time, then 62 random bits.
    Each id's timestamp is later than the last one's, even when the clock did not move
    or stepped back, so ids from one thread sort in creation order within a millisecond.
    No lock: two threads racing here may share a timestamp, and the random bits still
    keep their ids distinct.
    """
    global _last_ns, _prefix
    ns = time_ns()
    if ns <= _last_ns:
        ns = _last_ns + _STEP_NS
    _last_ns = ns
    ms, within = divmod(ns, 1_000_000)
    prefix = _prefix
    if prefix[0] != ms:
        h = ms.to_bytes(6, "big").hex()
        prefix = _prefix = (ms, f"{h[:8]}-{h[8:]}-7")
    # 76 bits: 12 of sub-millisecond time, the variant (0b10), 62 random; as 20 hex digits
    # the first is always 0. bytes.hex() is several times faster than formatting an int.
    tail = (
        ((within * 4096 // 1_000_000) << 64 | 0x8000000000000000 | random.getrandbits(62))
        .to_bytes(10, "big")
        .hex()
    )
    return f"{prefix[1]}{tail[1:4]}-{tail[4:8]}-{tail[8:]}"
