"""Injected faults: dropped strain or witness frames and late witness frames.

Whether a frame is dropped or late is decided per GPS second from the seed
(or by explicit lists), so a restarted detector injects the same faults.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .random_streams import Stream, uniform


@dataclass(frozen=True)
class FaultInjection:
    """Which frames to drop or delay.

    Parameters
    ----------
    seed
        Seed of the random decisions.
    drop_strain_probability, drop_witness_probability
        Probability that a strain (witness) frame is never written.
    drop_strain_gps, drop_witness_gps
        GPS seconds whose strain (witness) frame is never written.
    late_witness_probability
        Probability that a witness frame is written ``late_witness_delay``
        seconds (of stream time) after its slot.
    late_witness_gps
        GPS seconds whose witness frame is late.
    late_witness_delay
        How late (s) a late witness frame is.
    """

    seed: int = 1
    drop_strain_probability: float = 0.0
    drop_witness_probability: float = 0.0
    drop_strain_gps: frozenset[int] = field(default_factory=frozenset)
    drop_witness_gps: frozenset[int] = field(default_factory=frozenset)
    late_witness_probability: float = 0.0
    late_witness_gps: frozenset[int] = field(default_factory=frozenset)
    late_witness_delay: float = 3.0

    def __post_init__(self) -> None:
        for name in ("drop_strain_probability", "drop_witness_probability", "late_witness_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.late_witness_delay <= 0:
            raise ValueError(f"late_witness_delay must be positive, got {self.late_witness_delay}")
        for name in ("drop_strain_gps", "drop_witness_gps", "late_witness_gps"):
            object.__setattr__(self, name, frozenset(int(gps) for gps in getattr(self, name)))

    @classmethod
    def none(cls) -> FaultInjection:
        """No faults."""
        return cls()

    def drops_strain(self, gps: int) -> bool:
        """Whether the strain frame of ``gps`` is dropped."""
        return self._decide(gps, self.drop_strain_gps, self.drop_strain_probability, Stream.DROP_STRAIN)

    def drops_witness(self, gps: int) -> bool:
        """Whether the witness frame of ``gps`` is dropped."""
        return self._decide(gps, self.drop_witness_gps, self.drop_witness_probability, Stream.DROP_WITNESS)

    def witness_delay(self, gps: int) -> float:
        """How late (s) the witness frame of ``gps`` is written (0: on time)."""
        late = self._decide(gps, self.late_witness_gps, self.late_witness_probability, Stream.LATE_WITNESS)
        return self.late_witness_delay if late else 0.0

    def _decide(self, gps: int, listed: Iterable[int], probability: float, stream: Stream) -> bool:
        if gps in listed:
            return True
        return probability > 0 and uniform(self.seed, stream, gps) < probability
