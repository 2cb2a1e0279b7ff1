"""The cleaning pipeline: one input second in, the cleaned seconds that became ready out.

::

    strain + state ────────────────────────────────────────────┐ (held until its noise is ready)
                                                                v
    witnesses ──> WitnessResampler ──┬──> production ModelChain ──> subtract ──> SafetyGate ──┐
    (native rates)  (to the working  │    StreamedNetwork              │                       │
                     rate, fixed     │    -> NoiseFilter (un-scale,    │                       ├──> CleanedSecond
                     delay)          │       zero-phase or causal      │                       │ (-> CleanedFrameWriter)
                                     │       band-pass)                │                       │
                                     │    -> BlockResampler            │                       │
                                     │       (to 16384 Hz)             │                       │
                                     └──> canary ModelChain ─────> subtract ──> SafetyGate ──┘
                                          (same stages)

Delays: witness resampling (48 samples at the 1024 Hz working rate) + network context (the version's
reach, :func:`deepclean.network_reach.architecture_context`: 128 samples for the shipped network, whose
linear path reaches +-125) + band-pass look-ahead (``bandpass_lookahead``) + upsampling (~10 ms). Under
one second, second ``t`` is written as soon as second ``t + 1`` has arrived; over it (0.85 s of
look-ahead at 1024 Hz: 1046 samples), ``t`` waits for ``t + 2`` and the log says so once.

In the causal mode (``ChainSettings.latency_mode``; versions trained for it) the
band-pass is causal and the network's output is stamped ``lead`` samples later
(:func:`deepclean.signal.causal_lead`: the witness resampling, the network
context and the upsampling together), so the chains' noise for second ``t`` is
complete once frame ``t`` has arrived and ``t`` is written at once. A version
whose lead is shorter than the chain needs makes ``t`` wait for ``t + 1``; the
log says so once.

A model swap (new canary, promotion) arrives from the background watcher and
is applied here, between two input seconds: the new chain is primed with the
retained witness history, so the seconds not yet written are cleaned by the
new version alone (no glitch at the switch). A dropped strain second
(:class:`Gap`) flushes what is pending and restarts every stage; a missing
witness second restarts the model chains. A second whose noise estimate cannot
be complete within ``max_wait`` seconds is written raw with the input-gap bit.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from deepclean.analysis_ready import analysis_ready_mask

from . import dq
from .backends import BackendUnavailableError
from .buffers import Block, Gap, SampleBuffer
from .metrics import CleanerMetrics
from .model_chain import ChainSettings, LoadedModel, ModelChain
from .safety import SafetyGate
from .witnesses import WitnessResampler

log = logging.getLogger(__name__)

SLOTS = ("production", "canary")


@dataclass
class InputSecond:
    """One second of input: strain and state (always), witnesses (``None`` when missing or late)."""

    gps: int
    strain: np.ndarray
    state: np.ndarray | None
    witnesses: dict[str, np.ndarray] | None
    arrival: float = 0.0
    """Wall-clock time (time.time()) the strain frame was seen."""


@dataclass
class SlotOutput:
    """One slot's output for one second: strain, model version and slot-local DQ bits per 1/16 s."""

    strain: np.ndarray
    version: int
    dq: np.ndarray


@dataclass
class CleanedSecond:
    """What the writer writes for one GPS second."""

    gps: int
    raw: np.ndarray
    arrival: float
    outputs: dict[str, SlotOutput]


@dataclass
class ModelSlot:
    """Production or canary: its chain, the noise it produced and its safety gate."""

    name: str
    gate: SafetyGate
    chain: ModelChain | None = None
    noise: SampleBuffer | None = None
    unavailable: bool = False
    """The backend failed: the chain restarts and raw strain is written meanwhile."""

    def feed(self, block: Block) -> None:
        """Run ``block`` through the chain and keep the noise it yields."""
        try:
            out = self.chain.process(block)
        except BackendUnavailableError as exc:
            if not self.unavailable:
                log.error(
                    "%s: inference failed, writing raw strain until it recovers: %s",
                    self.name,
                    exc,
                )
            self.unavailable = True
            self.chain.reset()
            self.noise = None
            return
        if isinstance(out, Block):
            if self.unavailable:
                log.info("%s: inference recovered", self.name)
            self.unavailable = False
            self.noise = _append(self.noise, out)


@dataclass
class CleaningPipeline:
    """Wire the stages (see the module diagram) and decide when a second is ready.

    Parameters
    ----------
    settings
        Channels, rates, band-pass context and latency mode shared by every chain.
    band
        The cleaning band (safety check).
    max_wait
        Seconds a second may wait for its noise estimate before it is written raw.
    safety
        Keyword arguments of :class:`SafetyGate` (window, tolerances, taper, enabled).
    metrics
        Where the safety gates' decisions are counted (None: nowhere).
    prime_seconds
        Seconds of resampled witnesses kept to prime a swapped-in model.
    workers
        Threads running the witness groups, the two chains and the two safety
        gates side by side (onnxruntime, scipy's filters and numpy's FFT
        release the GIL); 1 runs everything on the calling thread.
    dq_rate
        Samples per second of the version and DQ channels.
    """

    settings: ChainSettings
    band: tuple[float, float]
    max_wait: int = 2
    safety: dict = field(default_factory=dict)
    metrics: CleanerMetrics | None = None
    prime_seconds: int = 10
    workers: int = 2
    dq_rate: int = 16
    _slots: dict[str, ModelSlot] = field(default_factory=dict, init=False, repr=False)
    _pending: deque = field(default_factory=deque, init=False, repr=False)
    _witness_history: deque = field(default_factory=deque, init=False, repr=False)
    _warned_delay: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="clean") if self.workers > 1 else None
        self.witness_stage = WitnessResampler(
            self.settings.witness_channels,
            self.settings.sample_rate,
            phase=self.settings.witness_resampling,
            executor=self._executor,
        )
        for name in SLOTS:
            gate = SafetyGate(self.settings.strain_sample_rate, self.band, stream=name, **self.safety)
            self._slots[name] = ModelSlot(name, gate)

    def version(self, slot: str) -> int:
        """The version cleaning in ``slot`` (0: none)."""
        chain = self._slots[slot].chain
        return chain.version if chain else 0

    def swap(self, slot: str, model: LoadedModel | None) -> None:
        """Put ``model`` in ``slot`` at this block edge, primed with the retained witness history."""
        target = self._slots[slot]
        if model is None:
            target.chain, target.noise = None, None
            return
        target.chain, target.noise = ModelChain(model, self.settings), None
        self._warn_if_over_a_second(target.chain)
        # a canary promoted to production keeps the trust it earned on the canary stream: the same
        # estimate, judged against the same strain
        target.gate.new_estimate(
            trusted=any(
                other is not target
                and other.chain is not None
                and other.chain.version == model.version
                and other.gate.narrowing_trusted()
                for other in self._slots.values()
            )
        )
        for block in self._witness_history:
            target.feed(block)
        log.info(
            "%s: now version %d (primed on %d s of witnesses)",
            slot,
            model.version,
            len(self._witness_history),
        )

    def _warn_if_over_a_second(self, chain: ModelChain) -> None:
        """Say so once when second t cannot be written as early as the mode promises.

        Zero-phase: before t + 2 arrives (the delays exceed 1 s); causal: as soon as t arrived (the
        version's lead is shorter than the chain's look-ahead).
        """
        witness = self.witness_stage.delay / self.settings.sample_rate
        total = witness + chain.delay
        if self._warned_delay:
            return
        if chain.causal and total > 0:
            self._warned_delay = True
            log.warning(
                "version %d's lead of %d samples is %.3f s short of the chain's look-ahead: second t is written "
                "only after t + 1 arrives",
                chain.version,
                chain.network.lead,
                total,
            )
        elif not chain.causal and total >= 1.0:
            self._warned_delay = True
            log.info(
                "the delays add up to %.3f s (witness resampling %.3f s + network, band-pass look-ahead and "
                "upsampling %.3f s): second t is written only after t + 2 arrives; bandpass_lookahead "
                "%.2f s or less writes it when t + 1 arrives",
                total,
                witness,
                chain.delay,
                self.settings.bandpass_lookahead - (total - 1.0) - 0.01,
            )

    def process(self, item: InputSecond | Gap) -> list[CleanedSecond]:
        """Feed one input second (or a dropped-strain gap); return the seconds now complete."""
        if isinstance(item, Gap):
            done = self._emit(flush=True)
            self._restart()
            return done
        self._pending.append(item)
        block = self._resample_witnesses(item)
        if not self._warned_delay and self.witness_stage.delay:
            for slot in self._slots.values():
                if slot.chain is not None:
                    self._warn_if_over_a_second(slot.chain)
        if isinstance(block, Block):
            self._witness_history.append(block)
            while len(self._witness_history) > self.prime_seconds:
                self._witness_history.popleft()
            self._map(
                lambda slot: slot.feed(block),
                [s for s in self._slots.values() if s.chain is not None],
            )
        return self._emit()

    def _resample_witnesses(self, item: InputSecond) -> Block | None:
        """The witness block of ``item``; a missing or incomplete witness frame restarts the chains."""
        if item.witnesses is not None:
            try:
                return self.witness_stage.process(item.gps, item.witnesses)
            except KeyError as exc:
                log.error("%s; treated as a missing witness frame", exc.args[0])
        self._restart()
        return None

    def _map(self, function, items: list) -> list:
        if self._executor is None or len(items) < 2:
            return [function(item) for item in items]
        return list(self._executor.map(function, items))

    def close(self) -> None:
        """Stop the worker threads."""
        if self._executor is not None:
            self._executor.shutdown()

    def flush(self) -> list[CleanedSecond]:
        """Write out everything pending (end of stream)."""
        return self._emit(flush=True)

    def _restart(self) -> None:
        self.witness_stage.reset()
        self._witness_history.clear()
        for slot in self._slots.values():
            if slot.chain is not None:
                slot.chain.reset()
            slot.noise = None

    def _span(self, gps: int) -> tuple[int, int]:
        rate = self.settings.strain_sample_rate
        return gps * rate, (gps + 1) * rate

    def _emit(self, flush: bool = False) -> list[CleanedSecond]:
        done = []
        while self._pending:
            second = self._pending[0]
            start, stop = self._span(second.gps)
            waiting = any(
                slot.chain is not None and _may_still_cover(slot.noise, start, stop) for slot in self._slots.values()
            )
            overdue = self._pending[-1].gps - second.gps >= self.max_wait
            if waiting and not (flush or overdue):
                break
            self._pending.popleft()
            done.append(self._clean(second, start, stop))
        return done

    def _clean(self, second: InputSecond, start: int, stop: int) -> CleanedSecond:
        not_ready = np.zeros(self.dq_rate, dtype=bool)
        if second.state is not None and len(second.state):
            try:
                ready = analysis_ready_mask(np.asarray(second.state))
            except ValueError:  # a state vector that is not a bit field says nothing is ready
                ready = np.zeros(len(second.state), dtype=bool)
            not_ready = (
                ~ready.reshape(self.dq_rate, -1).all(axis=1)
                if ready.size % self.dq_rate == 0
                else np.full(self.dq_rate, not ready.all())
            )
        # Non-finite strain is written as it came, but never as cleaned data: an input gap there.
        bad_strain = ~np.isfinite(second.strain).reshape(self.dq_rate, -1).all(axis=1)
        if bad_strain.any():
            log.warning(
                "GPS %d: %d non-finite strain sample(s); flagged as an input gap",
                second.gps,
                int(np.count_nonzero(~np.isfinite(second.strain))),
            )
        slots = list(self._slots.values())
        results = self._map(lambda slot: self._clean_slot(slot, second, start, stop, not_ready, bad_strain), slots)
        outputs = {slot.name: result for slot, result in zip(slots, results, strict=False)}
        return CleanedSecond(second.gps, second.strain, second.arrival, outputs)

    def _clean_slot(
        self,
        slot: ModelSlot,
        second: InputSecond,
        start: int,
        stop: int,
        not_ready: np.ndarray,
        bad_strain: np.ndarray,
    ) -> SlotOutput:
        """One slot's output for ``second``: subtract its noise (if complete) through the safety gate."""
        bits = np.where(not_ready, dq.NOT_ANALYSIS_READY, 0).astype(np.int32)
        noise = None
        if slot.chain is None:
            bits |= dq.NO_MODEL
        elif slot.noise is not None and slot.noise.covers(start, stop):
            noise = slot.noise.get(start, stop)
        elif slot.unavailable:
            bits |= dq.NO_MODEL
        else:
            bits |= dq.INPUT_GAP
        narrowed = None
        if noise is not None and noise.ndim == 2:  # the chain's whole and narrowed estimates
            noise, narrowed = noise
        decision = slot.gate.process(second.strain, noise, narrowed)
        if self.metrics is not None:
            self.metrics.record_safety(slot.name, decision)
        per_sample = decision.weight.reshape(self.dq_rate, -1)
        bits |= np.where(per_sample.max(axis=1) > 0, dq.CLEANED, 0).astype(np.int32)
        fallback = decision.fallback_samples.reshape(self.dq_rate, -1).any(axis=1)
        bits |= np.where(fallback, dq.SAFETY_FALLBACK, 0).astype(np.int32)
        if decision.narrowed_samples is not None:
            narrowed_bits = decision.narrowed_samples.reshape(self.dq_rate, -1).any(axis=1)
            bits |= np.where(narrowed_bits, dq.NARROWED, 0).astype(np.int32)
        bits = np.where(bad_strain, (bits | dq.INPUT_GAP) & ~dq.CLEANED, bits).astype(np.int32)
        if slot.noise is not None:
            slot.noise.keep_last(max(slot.noise.stop - stop, 0))
            if len(slot.noise) == 0:
                slot.noise = None
        return SlotOutput(decision.output, slot.chain.version if slot.chain else 0, bits)


def _may_still_cover(noise: SampleBuffer | None, start: int, stop: int) -> bool:
    """Whether noise for ``[start, stop)`` is still to come (not there yet, and not begun after ``start``)."""
    if noise is None:
        return True
    return noise.start <= start and noise.stop < stop


def _append(buffer: SampleBuffer | None, block: Block) -> SampleBuffer:
    """Append ``block`` to ``buffer``, starting a new buffer if it does not follow on."""
    if buffer is None or buffer.stop != block.start:
        buffer = SampleBuffer(block.rate)
    buffer.append(block)
    return buffer
