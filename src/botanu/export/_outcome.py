"""What became of one batch of spans handed to an exporter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Outcome:
    """The fate of every span of one batch: ``exported + spooled + sum(dropped) == size``."""

    size: int
    exported: int = 0
    spooled: int = 0
    dropped: Mapping[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every span of the batch was delivered."""
        return self.exported == self.size

    @classmethod
    def lost(cls, size: int, reason: str) -> Outcome:
        return cls(size, dropped={reason: size} if size else {})

    def plus(self, other: Outcome) -> Outcome:
        """The outcome of both batches together."""
        dropped = dict(self.dropped)
        for reason, count in other.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        return Outcome(
            self.size + other.size, self.exported + other.exported, self.spooled + other.spooled, dropped
        )
