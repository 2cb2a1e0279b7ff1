"""Stage: never write a second cleaned worse than raw.

Over a sliding window of ``window`` seconds the gate compares the spectrum the
cleaning would produce with the raw strain's, with the figures of
:mod:`deepclean.figures` (1 s Hann segments, 1 Hz bins): every bin of
``check_range`` and of the band is judged on its own by
:func:`deepclean.figures.judge_bins`, the band's mean ASD ratio must stay within
``band_tolerance``, and the few Hz either side of the band are also judged as
two groups. While the judgement fails the raw strain is written (the
subtraction weight ramps to 0 and back to 1 with half-cosine tapers) and the
fallback is reported.

Why every bin on its own: a bin's power can only be traded against its own
raw power. Summed with its neighbours, a large reduction at the 60 Hz carrier
hides an increase of 1.6x in ASD a few Hz away, and the stream is flagged
"cleaned" while it is worse than raw there.

The tolerance of a bin is the largest ASD ratio still consistent with the
cleaning adding no noise: the cleaned power ``|R - N|^2`` differs from the raw
power ``|R|^2`` by ``|N|^2 - 2 Re(R N*)``, and an estimate ``N`` unrelated to
the raw strain still moves the cross term by chance. A bin fails when its
cleaned power exceeds the raw power by more than ``sigma`` standard deviations
of that cross term over the window (and by more than ``min_excess`` in ASD),
see :meth:`deepclean.figures.BinPowers.added_noise_tolerance`.

What this can and cannot see: over a few one-second segments the cross term's
spread is large wherever the estimate is as large as the raw strain (the
band's edges and shoulders), so a single bin there fails only when noise was
clearly added; the shoulder groups catch increases spread over several bins
somewhat earlier, and a trip holds the fallback until ``window`` passing
seconds have followed, so a stream whose figures hover near the tolerance does
not flap; a trip soon after a fallback ended doubles the next hold (up to
``max_backoff`` times), so an estimate that is bad every few tens of seconds is
written raw rather than in short cleaned bursts between trips (measured by
``bench/safety_gate.py``, "flapping").

The newest ``onset_window`` seconds are judged the same way on their own: in the window an estimate
that turns bad at once (a model trained before a coupling step and run after it) is a few seconds of
many, and the window's mean shows it only once most of the window has turned. Measured by
``bench/safety_gate.py`` on the 13 scenarios of :mod:`deepclean.synthetic.scenarios`, 1024 s each,
with the injected noise itself as the estimate (band 55-65 Hz, the service's settings otherwise):

- turned into 2.2x itself (in-band ASD ratio ~1.15): the window alone writes 12-14 such seconds as
  cleaned before it falls back; with the newest 4 s judged as well, 3;
- left as it is (a perfect estimate): the window alone never falls back; with the newest 4 s, 2 of
  the 13312 s tripped it (one band-edge bin, 55 or 65 Hz, over 4 s), 32 s of raw in all (0.24 %);
  with the newest 2 s, 3 trips and 48 s of raw in 13 x 256 s (1.4 %; ``--onset-windows 2 --seconds
  256 --seed 3``), where the newest 4 s trip nowhere in those seconds;
- with noise flat over 62-64 Hz added to it, 0.44, 1.56 and 3 times the raw strain's mean power
  there (the cleaned ASD then rises least at 62 Hz, ~1.02x raw for the first, and most at 64 Hz,
  1.5-1.8x): 0-77 %, 6-100 % and 66-100 % of the seconds fall back with the window alone, 0-79 %,
  46-100 % and 68-100 % with the newest 4 s as well; 0.2 % of that power trips neither;
- flapping: good (itself) or bad (2.2x itself) in random 8 s blocks, bad one time in three (~340 of
  1024 s): the window alone writes 204-239 bad seconds as cleaned; with the newest 4 s, 30-38, and
  8-10 with the hold doubled on each trip soon after a fallback (``max_backoff`` 8). That writes
  630-664 of the ~680 good seconds raw (381-404 without), and the aligned 16 s windows of written
  output that added noise while holding a cleaned second fall from 110 to 9 over the 13 scenarios.

The narrowed estimate: falling back to raw strain drops the whole estimate when one bin at the band's edge
fails, and with it the carrier's removal. The model chain also hands the gate the estimate band-passed to a
narrower band (:func:`narrowed_safety_band`: the band less ``safety_narrowing`` Hz each side). When the
whole estimate cannot be written (its judgement failed, or it is held after a failure) and the narrowed one
passes the same judgements over its own window, the narrowed one is written instead of raw, cross-faded like
the fallback (DQ bit "narrowed", :data:`deepclean.cleaned_frames.NARROWED`). It has its own hold and backoff,
but is judged only in seconds it could be written: not while the whole one can, nor while its own hold
runs, which then simply runs out with time (the judgement at its end covers the whole window); that halves
the gate's work when both fail. It comes from the witnesses alone, like the whole estimate, so a
signal in the strain passes through it untouched.

It replaces the whole estimate only once the model's whole estimate has been written for
:data:`NARROWING_TRUST` windows in a row (64 s with the default window): narrowing is for a model that was
right and drifts at the band's edge (a canary promoted to production keeps the trust it earned on the canary
stream: the same estimate against the same strain). A model wrong from its start, adding noise across the band
and beyond (``tests/test_bad_version.py``), has a narrowed part that adds 1.1-1.3x beside the carrier, under
what a 16 s window detects; the fades between narrowed and raw strain around its trips also spread a strong
line over the band. Such a model is written raw. A model that turns bad everywhere later is judged by the
narrowed estimate's own window: with about 1.3x added beside the carrier, 13-48 of 256 s were written narrowed
before that window failed too, and the output over those 256 s was at most 1.058x raw in a bin of 56-64 Hz
(``bench/safety_gate.py``, "bad across the band"). Measured on the one-shot fast-drift scenario
(``bench/quality/README.md``, "The narrowed estimate"): a version whose estimate added noise at 65 Hz twice
wrote 50 s raw and removed 86.3 % of the injected noise; written narrowed in those 50 s, 92.4 % (92.5 % with
no gate at all).

A new model is judged on its own seconds from its first
(:meth:`SafetyGate.new_estimate`). The monitor, which judges the same figures
over a longer window, is the slower and surer guard against small harm.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from deepclean.figures import (
    DEFAULT_MIN_EXCESS,
    DEFAULT_SIGMA,
    BinJudgement,
    BinPowers,
    bins_judged,
    judge_bins,
    second_spectra,
)

log = logging.getLogger(__name__)

BACKOFF_RESET = 4
"""Windows of usable seconds after which a trip no longer lengthens the next hold."""

NARROWING_TRUST = 4
"""Windows of seconds in a row a model's whole estimate must have been written, each judged over a full window,
before its narrowed one may replace it."""

MIN_NARROWED_HZ = 2.0
"""Narrowest band (Hz) a narrowed estimate is made for (:func:`narrowed_safety_band`)."""


def narrowed_safety_band(band: tuple[float, float], narrowing: float) -> tuple[float, float] | None:
    """``band`` less ``narrowing`` Hz on each side: where the narrowed estimate is band-passed to (None: no
    narrowing, or less than :data:`MIN_NARROWED_HZ` would remain)."""
    low, high = band[0] + narrowing, band[1] - narrowing
    if narrowing <= 0 or high - low < MIN_NARROWED_HZ:
        return None
    return (low, high)


@dataclass(frozen=True)
class SafetyDecision:
    """What the gate wrote for one second: the output, the weight and why."""

    output: np.ndarray
    weight: np.ndarray
    fallback: bool
    """Raw strain was written for this second because of the gate (judgement failed, or a non-finite estimate)."""
    fallback_samples: np.ndarray
    """Samples where raw strain was (partly) written because of the gate, incl. the taper back in."""
    judgement: BinJudgement | None = None
    """The judgement of the window ending with this second (None: not judged)."""
    newest: BinJudgement | None = None
    """The judgement of the newest ``onset_window`` seconds on their own (None: not judged)."""
    narrowed: bool = False
    """The narrowed estimate was written for this second, because the whole one could not be (its judgement
    failed, or it was held after a failure)."""
    narrowed_samples: np.ndarray | None = None
    """Samples where the narrowed estimate was (partly) subtracted, incl. the cross-fades (None: none)."""

    @property
    def band_ratio(self) -> float:
        """Mean ASD ratio cleaned/raw over the band's bins (NaN: not judged)."""
        return self.judgement.band_ratio if self.judgement else float("nan")

    @property
    def worst_bin(self) -> float:
        """Largest ASD ratio of a checked bin outside the band (NaN: not judged)."""
        return self.judgement.worst_bin if self.judgement else float("nan")

    @property
    def worst_bin_frequency(self) -> float:
        """Centre (Hz) of :attr:`worst_bin` (NaN: not judged)."""
        return self.judgement.worst_bin_frequency if self.judgement else float("nan")

    @property
    def failing_bins(self) -> tuple[tuple[float, float], ...]:
        """``(frequency, ASD ratio)`` of every bin where the cleaning added noise, over the window or over
        the newest seconds alone (the window's ratio where both failed a bin)."""
        found: dict[float, float] = {}
        for judgement in (self.newest, self.judgement):
            if judgement is not None:
                found.update(zip(judgement.failing_bins, judgement.failing_ratios, strict=False))
        return tuple(sorted(found.items()))

    @property
    def failed_judgement(self) -> BinJudgement | None:
        """The window's judgement if it failed, else the newest seconds' if that failed, else None."""
        for judgement in (self.judgement, self.newest):
            if judgement is not None and not judgement.passed:
                return judgement
        return None


@dataclass
class _Candidate:
    """One noise estimate the gate may write: its spectra over the window, its hold and its backoff."""

    spectra: deque = field(default_factory=deque)
    hold: int = 0
    """Seconds the estimate stays unusable whatever its judgement (after a failed one)."""
    backoff: int = 1
    usable: bool = True
    """Whether the estimate could be written the last second (judged good and not held)."""
    usable_since_release: int | None = None
    """Usable seconds since its last hold ended (None: none ended within the backoff's memory)."""
    usable_streak: int = 0
    """Seconds in a row it could be written, each judged over a full window (counted for the whole estimate)."""
    trusted: bool = False
    """The whole estimate: it has been written for :data:`NARROWING_TRUST` windows in a row since the model
    started (since :meth:`forget`)."""

    def forget(self) -> None:
        """Judge the estimate on its own seconds from now on, without backoff."""
        self.spectra.clear()
        self.hold, self.backoff, self.usable, self.usable_since_release = 0, 1, True, None
        self.usable_streak, self.trusted = 0, False


@dataclass
class SafetyGate:
    """Judge cleaned against raw spectra over ``window`` seconds, bin by bin, and fall back to raw when worse.

    Parameters
    ----------
    sample_rate
        Strain sample rate (1 s segments give 1 Hz bins).
    band
        The cleaning band in Hz.
    window
        Seconds in the sliding window.
    onset_window
        The newest seconds also judged on their own (0: none; none either when not shorter than
        ``window``, which the cleaner's command line refuses; not judged while the window holds no
        more). Each judgement has the false-trip chance ``sigma`` sets, so with two per second the
        gate's is about twice the window's alone, and more over few seconds (measured above).
    band_tolerance
        Largest accepted mean ASD ratio cleaned/raw over the band's bins.
    sigma, min_excess
        A bin fails when its ASD ratio exceeds the tolerance
        :meth:`deepclean.figures.BinPowers.added_noise_tolerance` (``sigma``
        standard deviations of the cross term, never less than ``1 + min_excess``).
    check_range
        Frequencies (Hz) whose bins are judged.
    taper
        Seconds over which the subtraction fades out and back in (or from one estimate to the other).
    max_backoff
        A trip within :data:`BACKOFF_RESET` windows of usable seconds after the last hold ended
        doubles the hold (``window`` passing seconds) up to this factor (1: never).
    enabled
        False: judge and report, but always subtract the whole estimate.
    stream
        Name of the stream in log messages.
    """

    sample_rate: int
    band: tuple[float, float]
    window: int = 16
    onset_window: int = 4
    band_tolerance: float = 1.0
    sigma: float = DEFAULT_SIGMA
    min_excess: float = DEFAULT_MIN_EXCESS
    check_range: tuple[float, float] = (10.0, 1000.0)
    taper: float = 0.25
    max_backoff: int = 8
    enabled: bool = True
    stream: str = "cleaned"
    _whole: _Candidate = field(default_factory=_Candidate, init=False, repr=False)
    _narrowed: _Candidate = field(default_factory=_Candidate, init=False, repr=False)
    _weight: float = field(default=1.0, init=False, repr=False)
    _narrowed_weight: float = field(default=0.0, init=False, repr=False)
    _was_fallback: bool = field(default=False, init=False, repr=False)
    _was_narrowed: bool = field(default=False, init=False, repr=False)
    _fallback_seconds: int = field(default=0, init=False, repr=False)
    _narrowed_seconds: int = field(default=0, init=False, repr=False)
    _fading_in: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"safety window must be at least 1 s, got {self.window}")
        if self.onset_window < 0:
            raise ValueError(f"safety onset window must be 0 (none) or more seconds, got {self.onset_window}")
        low, high = self.band
        if not np.ceil(low) <= high:
            raise ValueError(f"band {list(self.band)} holds no 1 Hz bin for the safety gate to judge")
        self._bins = bins_judged(self.band, self.check_range)
        ramp = round(self.taper * self.sample_rate)
        self._ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / max(ramp, 1))

    def new_estimate(self, trusted: bool = False) -> None:
        """Forget the window: the estimate now comes from another model, judged on its own seconds only.

        ``trusted``: the model has already earned its narrowed estimate on another stream of the same strain
        (:meth:`narrowing_trusted`: a canary promoted to production); else it earns it here.
        """
        self._whole.forget()
        self._narrowed.forget()
        self._whole.trusted = trusted

    def process(self, raw: np.ndarray, noise: np.ndarray | None, narrowed: np.ndarray | None = None) -> SafetyDecision:
        """The output for one second of ``raw`` strain and its noise estimate (None: none).

        ``narrowed`` is the same estimate band-passed to a narrower band (None: there is none); it is
        written when the whole estimate cannot be (its judgement failed, or it is held after a failure)
        and its own judgement passes.
        """
        nothing = np.zeros(raw.size)
        if noise is None:
            self._weight = self._narrowed_weight = 0.0  # fade the subtraction back in when the estimate returns
            self._was_fallback = False
            self._fading_in = True
            self._report_narrowed(False)
            self._report("no noise estimate")
            return SafetyDecision(raw.copy(), nothing, False, np.zeros(raw.size, bool))
        if not (np.isfinite(noise).all() and (narrowed is None or np.isfinite(narrowed).all())):
            # A version that predicts NaN or inf: raw strain, flagged, never a poisoned output.
            self._weight = self._narrowed_weight = 0.0
            self._was_fallback = True
            self._report_narrowed(False)
            self._report("non-finite noise estimate")
            return SafetyDecision(raw.copy(), nothing, True, np.ones(raw.size, bool))
        if not np.isfinite(raw).all():
            # Bad strain samples stay what they are; they must not enter the spectral window.
            narrowing = narrowed is not None and self._narrowed_weight > 0.0
            return SafetyDecision(
                raw - self._weight * noise - (self._narrowed_weight * narrowed if narrowing else 0.0),
                np.full(raw.size, self._weight + (self._narrowed_weight if narrowing else 0.0)),
                False,
                np.zeros(raw.size, bool),
                narrowed=narrowing,
                narrowed_samples=np.full(raw.size, narrowing),
            )
        whole, judgement, newest = self._assess(self._whole, raw, noise)
        self._count_trust()
        use_narrowed = False
        if narrowed is None:
            self._narrowed.forget()
        elif whole or not self.enabled or self._narrowed.hold > 1 or not self.narrowing_trusted():
            # judged only when it could be written: not while the whole one is, nor while its own hold runs (half
            # the gate's work; the hold runs out with time, and the judgement at its end covers the window), nor
            # before the model has earned it
            self._wait(self._narrowed, raw, narrowed)
        else:
            use_narrowed, *_ = self._assess(self._narrowed, raw, narrowed)
        fallback = self.enabled and not whole and not use_narrowed
        targets = (0.0 if fallback or use_narrowed else 1.0, 1.0 if use_narrowed else 0.0)
        weight, narrowed_weight = self._fade(self._weight, targets[0]), self._fade(self._narrowed_weight, targets[1])
        self._weight, self._narrowed_weight = targets
        total = weight + narrowed_weight
        if fallback or self._was_fallback or self._fading_in:
            # the fade back in writes raw strain in part, and a strong line faded in or out spreads over
            # the bins around it: those samples are flagged like the fallback itself
            fallback_samples = total < 1.0
        else:
            fallback_samples = np.zeros(raw.size, bool)
        self._fading_in = False
        self._was_fallback = fallback
        output = raw - weight * noise
        if narrowed is not None:
            output -= narrowed_weight * narrowed
        decision = SafetyDecision(
            output, total, fallback, fallback_samples, judgement, newest, use_narrowed, narrowed_weight > 0.0
        )
        self._report_narrowed(use_narrowed, self._reason(decision) if use_narrowed else "")
        self._report(self._reason(decision) if fallback else "cleaning again")
        return decision

    def _assess(
        self, candidate: _Candidate, raw: np.ndarray, noise: np.ndarray
    ) -> tuple[bool, BinJudgement, BinJudgement | None]:
        """Judge ``candidate``'s estimate with this second added; whether it may be written, and the
        judgements of the window and of the newest seconds."""
        spectra = self._record(candidate, raw, noise)
        judgement = self._judge(spectra)
        # The newest seconds are judged on their own too: in the window they are a few seconds of many, and
        # an estimate that turns bad at once would be written for 12-14 s before the window's mean shows it.
        recent = list(spectra)[-self.onset_window :] if 0 < self.onset_window < len(spectra) else None
        newest = self._judge(recent) if recent else None
        passed = judgement.passed and (newest is None or newest.passed)
        # A failed judgement holds the estimate back until a whole window of new seconds has passed:
        # a short window's statistics hover near the tolerance, and a stream must not flap.
        if self.enabled and not passed:
            if candidate.usable and candidate.usable_since_release is not None:
                # tripped again soon after it was released: an estimate hovering at the tolerance is held
                # longer each time, so it writes fewer short bursts between holds
                candidate.backoff = min(2 * candidate.backoff, self.max_backoff)
            candidate.hold = self.window * candidate.backoff
        elif candidate.hold:
            candidate.hold -= 1
        candidate.usable = not self.enabled or (passed and not candidate.hold)
        self._count_release(candidate)
        return candidate.usable, judgement, newest

    def narrowing_trusted(self) -> bool:
        """Whether the model's whole estimate has earned its narrowed one the right to replace it
        (:meth:`_count_trust`, or :meth:`new_estimate` told so)."""
        return self._whole.trusted

    def _count_trust(self) -> None:
        """Count a second the whole estimate could be written, judged over a full window; once
        :data:`NARROWING_TRUST` windows of them came in a row, it is trusted until the model changes.

        A model whose whole estimate fails now and then from its start is wrong, not drifting at the band's
        edge: where it adds noise across the band and beyond, its narrowed part adds some too, less than a
        window detects (1.1-1.3x beside the carrier, ``tests/test_bad_version.py``), so it is written raw.
        Seconds judged over a window still filling do not count: their judgement is the weakest.
        """
        whole = self._whole
        if not whole.usable:
            whole.usable_streak = 0
        elif len(whole.spectra) == self.window:
            whole.usable_streak += 1
            whole.trusted |= whole.usable_streak >= NARROWING_TRUST * self.window

    def _wait(self, candidate: _Candidate, raw: np.ndarray, noise: np.ndarray) -> None:
        """Add this second to ``candidate``'s window unjudged: its hold runs down, and once it is over the
        seconds count towards forgetting its backoff."""
        self._record(candidate, raw, noise)
        candidate.hold = max(candidate.hold - 1, 0)
        candidate.usable = not candidate.hold
        self._count_release(candidate)

    def _count_release(self, candidate: _Candidate) -> None:
        """Count a second since ``candidate``'s last hold ended; after :data:`BACKOFF_RESET` windows, no backoff."""
        if not candidate.usable:
            candidate.usable_since_release = 0
        elif candidate.usable_since_release is not None:
            candidate.usable_since_release += 1
            if candidate.usable_since_release >= BACKOFF_RESET * self.window:
                candidate.backoff, candidate.usable_since_release = 1, None

    def _record(self, candidate: _Candidate, raw: np.ndarray, noise: np.ndarray) -> deque:
        """Add this second's spectra to ``candidate``'s window; the window."""
        spectra = candidate.spectra
        spectra.append(second_spectra(raw, noise).first(self._bins))
        while len(spectra) > self.window:
            spectra.popleft()
        return spectra

    def _reason(self, decision: SafetyDecision) -> str:
        """Why ``decision`` falls back, for the log."""
        failed = decision.failed_judgement
        if failed is None:
            return f"held for {self.window} s after a failed judgement"
        if failed is decision.newest:
            return f"the newest {self.onset_window} s alone: {failed.describe()}"
        return failed.describe()

    def _judge(self, seconds) -> BinJudgement:
        """:func:`deepclean.figures.judge_bins` over ``seconds`` of spectra, with the gate's settings."""
        return judge_bins(
            BinPowers.of(seconds, self.sample_rate),
            self.band,
            self.check_range,
            self.sigma,
            self.min_excess,
            self.band_tolerance,
        )

    def _report_narrowed(self, narrowed: bool, reason: str = "") -> None:
        """Log starting to write the narrowed estimate (with ``reason``: why not the whole one) and stopping."""
        if narrowed and not self._was_narrowed:
            log.warning("%s: writing the narrowed estimate, the whole one fails: %s", self.stream, reason)
        elif self._was_narrowed and not narrowed:
            log.info("%s: narrowed estimate written for %d s", self.stream, self._narrowed_seconds)
        self._narrowed_seconds = self._narrowed_seconds + 1 if narrowed else 0
        self._was_narrowed = narrowed

    def _report(self, reason: str) -> None:
        """Log entering the fallback (with ``reason``) and leaving it (after how long); nothing while it lasts."""
        if self._was_fallback:
            if not self._fallback_seconds:
                log.warning("%s: safety fallback, writing raw strain: %s", self.stream, reason)
            self._fallback_seconds += 1
        elif self._fallback_seconds:
            log.info("%s: safety fallback over after %d s (%s)", self.stream, self._fallback_seconds, reason)
            self._fallback_seconds = 0

    def _fade(self, start: float, target: float) -> np.ndarray:
        """Per-sample subtraction weights of one second moving from ``start`` to ``target``."""
        weight = np.full(self.sample_rate, target)
        if start != target and self._ramp.size:
            weight[: self._ramp.size] = start + (target - start) * self._ramp
        return weight
