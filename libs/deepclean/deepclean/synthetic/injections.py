"""Astrophysical signals added to the synthetic strain: inspirals and sine-Gaussians.

The cleaning estimates the noise from the witnesses alone, so a signal in the
strain must come out of it untouched. These injections are what that is
measured on (``bench/quality/fidelity.py``). They go into the strain only,
never into a witness, and their strain is kept as its own channel of the truth
frames (``H1:SYN-INJECTION``), so ``strain = floor + truth + injection``.

Schedule. GPS time is cut into slots of ``interval`` seconds (slot ``k`` is
``[k * interval, (k + 1) * interval)``); every slot holds one injection that
lies wholly inside it, of the kind ``kinds[k % len(kinds)]``, with parameters
drawn from ``(seed, slot)`` (the waveforms: :mod:`deepclean.synthetic.waveforms`):

- ``inspiral``: a binary-neutron-star-like inspiral (IMRPhenomD through
  ``lalsimulation.SimInspiralChooseTDWaveform``), component masses 1.2-1.6
  Msun, no spins, from 40 Hz, random inclination,
  polarisation and phase, seen by a detector with ``F+ = cos 2psi``,
  ``Fx = sin 2psi``; 25-40 s long, so slots must be at least
  :data:`MIN_INSPIRAL_INTERVAL` s;
- ``sine_gaussian``: ``exp(-(t/tau)^2) sin(2 pi f0 t + phi)``, ``tau = Q / (sqrt(2) pi f0)``,
  ``f0`` in 55-65 Hz (the cleaning band), ``Q`` in 10-30, cut at ``+-6 tau``.

Each is scaled to an optimal SNR drawn from ``snr_range`` against the
detector's floor (the design curve, :func:`deepclean.signal.matched.optimal_snr`
over :data:`deepclean.signal.matched.DEFAULT_BAND`); an inspiral's distance
follows from it. Every waveform is computed whole for its own place in time
and sliced, so a GPS second holds the same samples however the data is cut.

Usage::

    from deepclean.synthetic import DetectorConfig, SyntheticDetector
    from deepclean.synthetic.injections import InjectedDetector, InjectionConfig

    detector = InjectedDetector(SyntheticDetector(DetectorConfig(seed=1)), InjectionConfig(interval=64))
    span = detector.generate(1400000000, 128)   # span.injection, span.injections (records)
    detector.schedule.between(1400000000, 1400000128)   # the same records, from the seed alone
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..signal.matched import optimal_snr
from .colouring import DEFAULT_PSD, design_asd
from .detector import DetectorConfig, SyntheticDetector
from .random_streams import Stream, generator
from .span import SyntheticSpan
from .waveforms import REFERENCE_DISTANCE_MPC, random_inspiral, random_sine_gaussian

INJECTION_KINDS = ("inspiral", "sine_gaussian")
"""The kinds of signal the schedule can inject."""

MIN_INSPIRAL_INTERVAL = 64
MIN_SINE_GAUSSIAN_INTERVAL = 4
SLOT_MARGIN = 1.0
"""Seconds kept free of signal at both ends of a slot."""

_CACHED_WAVEFORMS = 8


@dataclass(frozen=True)
class InjectionConfig:
    """What the synthetic detector injects into the strain.

    Parameters
    ----------
    interval
        Seconds per slot, one injection per slot (0: no injections).
    kinds
        Kinds taken in turn, slot by slot (see :data:`INJECTION_KINDS`).
    snr_range
        Optimal SNRs against the detector's floor are drawn uniformly from it.
    channel
        Truth-frame channel of the injected strain.
    """

    interval: int = 0
    kinds: tuple[str, ...] = INJECTION_KINDS
    snr_range: tuple[float, float] = (10.0, 30.0)
    channel: str = "H1:SYN-INJECTION"

    def __post_init__(self) -> None:
        if int(self.interval) != self.interval or self.interval < 0:
            raise ValueError(f"injection_interval must be a whole number of seconds >= 0, got {self.interval}")
        unknown = sorted(set(self.kinds) - set(INJECTION_KINDS))
        if not self.kinds or unknown:
            raise ValueError(f"injection_kinds must be among {list(INJECTION_KINDS)}, got {list(self.kinds)}")
        low, high = self.snr_range
        if not 0 < low <= high:
            raise ValueError(f"injection_snr_range must have 0 < low <= high, got {list(self.snr_range)}")
        if self.interval:
            shortest = MIN_INSPIRAL_INTERVAL if "inspiral" in self.kinds else MIN_SINE_GAUSSIAN_INTERVAL
            if self.interval < shortest:
                raise ValueError(
                    f"injection_interval={self.interval} s is too short for {list(self.kinds)}: at least {shortest} s"
                )


@dataclass(frozen=True)
class Injection:
    """One scheduled injection: where it is and what it is.

    ``start`` is the absolute index of its first sample at ``sample_rate``
    (GPS ``start / sample_rate``), ``samples`` its length; ``gps`` is its
    reference time: the waveform's peak for an inspiral (coalescence), the
    centre for a sine-Gaussian.
    """

    slot: int
    kind: str
    gps: float
    start: int
    samples: int
    sample_rate: int
    snr: float
    parameters: dict[str, float | str] = field(hash=False, compare=True)

    @property
    def start_gps(self) -> float:
        return self.start / self.sample_rate

    @property
    def end_gps(self) -> float:
        return (self.start + self.samples) / self.sample_rate

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready record (one line of the injection log)."""
        return {
            "slot": self.slot,
            "kind": self.kind,
            "gps": self.gps,
            "start_gps": self.start_gps,
            "end_gps": self.end_gps,
            "snr": self.snr,
            "parameters": dict(self.parameters),
        }


class InjectionSchedule:
    """The injections of one seed: their records and their strain for any stretch.

    Parameters
    ----------
    config
        What to inject and how often.
    seed
        The detector's seed (the parameters are drawn from ``(seed, slot)``).
    sample_rate
        Strain sample rate (Hz).
    design_curve
        The floor's design curve, the noise the SNRs are computed against.
    """

    def __init__(
        self, config: InjectionConfig, seed: int, sample_rate: int = 16384, design_curve: str = DEFAULT_PSD
    ) -> None:
        self.config = config
        self.seed = int(seed)
        self.sample_rate = int(sample_rate)
        self.design_curve = design_curve
        self._records: dict[int, Injection] = {}
        self._waveforms: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether anything is injected at all."""
        return self.config.interval > 0

    def injection(self, slot: int) -> Injection:
        """The injection of ``slot``."""
        self._compute(slot)
        return self._records[slot]

    def waveform(self, slot: int) -> np.ndarray:
        """The strain of the injection of ``slot`` (``Injection.samples`` samples, read-only)."""
        return self._compute(slot)

    def between(self, start: float, end: float) -> list[Injection]:
        """The injections with samples in GPS ``[start, end)``, in time order."""
        if not self.active or end <= start:
            return []
        interval = self.config.interval
        slots = range(math.floor(start / interval), math.ceil(end / interval))
        found = [self.injection(slot) for slot in slots]
        return [i for i in found if i.start_gps < end and i.end_gps > start]

    def strain(self, start: int, duration: int) -> np.ndarray:
        """The injected strain of the whole GPS seconds ``[start, start + duration)``."""
        rate = self.sample_rate
        out = np.zeros(int(duration) * rate)
        first = int(start) * rate
        for record in self.between(start, start + duration):
            wave = self.waveform(record.slot)
            lo = max(first, record.start)
            hi = min(first + out.size, record.start + record.samples)
            out[lo - first : hi - first] += wave[lo - record.start : hi - record.start]
        return out

    def add_to(self, span: SyntheticSpan) -> SyntheticSpan:
        """``span`` with the injections added to its strain and kept as ``span.injection``.

        The witnesses, floor, truth and state are the same arrays.
        """
        if span.strain_sample_rate != self.sample_rate:
            raise ValueError(
                f"the span's strain is at {span.strain_sample_rate} Hz, the injections at {self.sample_rate} Hz"
            )
        injection = self.strain(span.start, span.duration)
        return replace(
            span,
            strain=span.strain + injection,
            injection=injection,
            injection_channel=self.config.channel,
            injections=tuple(self.between(span.start, span.end)),
        )

    # ------------------------------------------------------------ generation

    def _compute(self, slot: int) -> np.ndarray:
        with self._lock:  # one detector may serve several threads
            if slot in self._waveforms:
                self._waveforms.move_to_end(slot)
                return self._waveforms[slot]
            record, wave = self._generate(slot)
            wave.flags.writeable = False
            self._records[slot] = record
            self._waveforms[slot] = wave
            while len(self._waveforms) > _CACHED_WAVEFORMS:
                self._waveforms.popitem(last=False)
            return wave

    def _generate(self, slot: int) -> tuple[Injection, np.ndarray]:
        if not self.active:
            raise ValueError("no injections are scheduled (injection_interval is 0)")
        kinds = self.config.kinds
        kind = kinds[slot % len(kinds)]
        rng = generator(self.seed, Stream.INJECTIONS, slot)
        snr = float(rng.uniform(*self.config.snr_range))
        if kind == "inspiral":
            wave, peak, parameters = random_inspiral(rng, self.sample_rate)
        else:
            wave, peak, parameters = random_sine_gaussian(rng, self.sample_rate)
        rate = self.sample_rate
        slot_start = slot * self.config.interval
        earliest = slot_start + SLOT_MARGIN + peak / rate
        latest = slot_start + self.config.interval - SLOT_MARGIN - (wave.size - peak) / rate
        if latest < earliest:
            raise ValueError(
                f"a {wave.size / rate:.1f} s {kind} does not fit in an injection_interval of {self.config.interval} s"
            )
        peak_sample = round((earliest + rng.uniform() * (latest - earliest)) * rate)
        reference = optimal_snr(wave, self._psd(wave.size), rate)
        scale = snr / reference
        wave = wave * scale
        if kind == "inspiral":
            parameters["distance_mpc"] = REFERENCE_DISTANCE_MPC / scale
        else:
            parameters["hrss"] = float(np.sqrt(np.sum(wave**2) / rate))
            parameters["amplitude"] = float(np.max(np.abs(wave)))
        record = Injection(
            slot=slot,
            kind=kind,
            gps=peak_sample / rate,
            start=peak_sample - peak,
            samples=wave.size,
            sample_rate=rate,
            snr=snr,
            parameters=parameters,
        )
        return record, wave

    def _psd(self, samples: int) -> np.ndarray:
        """The floor's one-sided PSD on the rfft grid of ``samples`` samples."""
        return design_asd(self.sample_rate / samples, samples // 2 + 1, self.design_curve) ** 2


class InjectedDetector:
    """A synthetic detector whose strain also carries the injections of an :class:`InjectionSchedule`.

    Stands in for the :class:`~deepclean.synthetic.detector.SyntheticDetector`
    it wraps (``generate``, ``config``, ``coupled_channels``); the witnesses,
    floor, truth and state are the wrapped detector's.
    """

    def __init__(self, detector: SyntheticDetector, config: InjectionConfig) -> None:
        self.detector = detector
        self.schedule = InjectionSchedule(
            config, detector.config.seed, detector.config.strain_sample_rate, detector.config.design_curve
        )

    @property
    def config(self) -> DetectorConfig:
        return self.detector.config

    @property
    def coupled_channels(self) -> list[str]:
        return self.detector.coupled_channels

    def generate(self, start: int, duration: int) -> SyntheticSpan:
        """The wrapped detector's span with the injections added to the strain."""
        return self.schedule.add_to(self.detector.generate(start, duration))


def read_injection_log(path: Path) -> list[dict[str, Any]]:
    """The records of an injection log (see :func:`deepclean.synthetic.frame_writer.write_truth`).

    One per slot, in slot order (a second written twice may have logged a record twice).
    """
    records: dict[int, dict[str, Any]] = {}
    with open(path) as log:
        for number, line in enumerate(log, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                records[int(record["slot"])] = record
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}, line {number}: not an injection record: {exc}") from None
    return [records[slot] for slot in sorted(records)]
