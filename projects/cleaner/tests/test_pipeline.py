"""The wired pipeline: streamed cleaning against an offline pass, DQ bits, gaps, swaps and unpinning."""

import dataclasses
import shutil

import numpy as np
import pytest
from conftest import (
    BAND,
    RATE,
    STRAIN_RATE,
    WITNESS_RATES,
    WITNESSES,
    settings,
    synthetic_input,
)

from deepclean.model_repository import ModelRepository
from deepclean.signal import bandpass_sos, resample, zero_phase_bandpass
from deepclean.testing.model_versions import pin_versions
from deepclean_cleaner import dq
from deepclean_cleaner.backends import EmbeddedBackend
from deepclean_cleaner.buffers import Gap
from deepclean_cleaner.model_chain import LoadedModel, ModelChain
from deepclean_cleaner.pipeline import CleaningPipeline, InputSecond
from deepclean_cleaner.safety import SafetyDecision, SafetyGate
from deepclean_cleaner.watcher import ModelWatcher

START = 1400000000


def load(repository, version):
    """A version of the test repository loaded with the embedded backend."""
    model = ModelRepository(repository).model("deepclean")
    return LoadedModel(version, model.metadata(version), EmbeddedBackend().load(model, version))


def seconds(data, start, duration, missing_witness=()):
    """The input seconds of a synthetic span."""
    for i in range(duration):
        witnesses = None
        if start + i not in missing_witness:
            witnesses = {c: x[i * WITNESS_RATES[c] : (i + 1) * WITNESS_RATES[c]] for c, x in data["witnesses"].items()}
        yield InputSecond(
            start + i,
            data["strain"][i * STRAIN_RATE : (i + 1) * STRAIN_RATE],
            data["state"][i * 16 : (i + 1) * 16],
            witnesses,
        )


def run(pipeline, items):
    """Feed ``items`` and flush; the cleaned seconds by GPS."""
    out = {}
    for item in items:
        for second in pipeline.process(item):
            out[second.gps] = second
    for second in pipeline.flush():
        out[second.gps] = second
    return out


def offline_prediction(model, data, phase="linear"):
    """The un-scaled network output of one pass over the whole span (resample with the ``phase`` filter,
    standardise, network, un-scale)."""
    scaler = model.metadata["scaler"]
    witnesses = np.stack([resample(data["witnesses"][c], WITNESS_RATES[c], RATE, phase=phase) for c in WITNESSES])
    standardised = (witnesses - np.array(scaler["witness_mean"])[:, None]) / np.array(scaler["witness_std"])[:, None]
    predicted = model.predictor.predict(standardised[None].astype(np.float32))[0].astype(np.float64)
    return predicted * scaler["target_std"] + scaler["target_mean"]


def offline_noise(model, data, duration):
    """The noise estimate of one pass over the whole span (:func:`offline_prediction`, band-pass, upsample)."""
    filtered = zero_phase_bandpass(offline_prediction(model, data), bandpass_sos(BAND, RATE, 8))
    return resample(filtered, RATE, STRAIN_RATE)


def pipeline_for(lookahead=0.85, history=2.0, max_wait=2):
    return CleaningPipeline(settings(lookahead, history), BAND, max_wait=max_wait, safety={"enabled": False})


@pytest.mark.parametrize("lookahead,history,tolerance", [(0.85, 2.0, 0.06), (3.0, 3.0, 0.005)])
def test_streamed_noise_estimate_matches_one_offline_pass(repository, lookahead, history, tolerance):
    """The subtracted noise equals the offline estimate; the error is set by the band-pass look-ahead.

    The network's output here is broadband (random weights), the hard case for
    a finite look-ahead; the first cleaned second fades in and is left out.
    """
    duration = 24
    data = synthetic_input(START, duration)
    model = load(repository, 1)
    pipeline = pipeline_for(lookahead, history, max_wait=6)
    pipeline.swap("production", model)
    out = run(pipeline, seconds(data, START, duration))
    assert sorted(out) == list(range(START, START + duration))
    reference = offline_noise(model, data, duration)
    cleaned_seconds = [g for g, s in out.items() if s.outputs["production"].dq[0] & dq.CLEANED]
    middle = [g for g in cleaned_seconds[1:] if g < START + duration - 4]
    assert len(middle) >= 8
    for gps in middle:
        i = gps - START
        streamed = out[gps].raw - out[gps].outputs["production"].strain
        expected = reference[i * STRAIN_RATE : (i + 1) * STRAIN_RATE]
        error = np.sqrt(np.mean((streamed - expected) ** 2) / np.mean(expected**2))
        assert error < tolerance, f"GPS {gps}: relative RMS error {error:.3g}"


def test_steady_state_writes_a_second_once_the_next_one_arrived(repository):
    """With the default look-ahead the total delay is under 1 s: second t is out when t + 1 is in."""
    data = synthetic_input(START, 12)
    pipeline = pipeline_for()
    pipeline.swap("production", load(repository, 1))
    pipeline.swap("canary", load(repository, 2))
    emitted = [[s.gps for s in pipeline.process(item)] for item in seconds(data, START, 12)]
    assert emitted[-1] == [START + 10]
    assert emitted[-2] == [START + 9]


def test_no_model_writes_raw_strain_with_version_zero(repository):
    """A slot without a pinned version passes the raw strain through with the no-model bit."""
    data = synthetic_input(START, 6)
    pipeline = pipeline_for()
    pipeline.swap("production", load(repository, 1))
    out = run(pipeline, seconds(data, START, 6))
    canary = out[START + 3].outputs["canary"]
    assert canary.version == 0
    assert np.all(canary.dq & dq.NO_MODEL)
    np.testing.assert_array_equal(canary.strain, out[START + 3].raw)


def test_no_production_pin_writes_raw_strain_with_the_no_model_bit(repository, tmp_path):
    """Pins without production (from the start, or removed while running) give raw strain flagged no-model."""
    root = tmp_path / "repo"
    shutil.copytree(repository, root)
    model_dir = root / "deepclean"
    watcher = ModelWatcher(ModelRepository(root).model("deepclean"), EmbeddedBackend(), settings())
    pipeline = pipeline_for()
    pins_at = {START: (None, 2), START + 10: (1, 2), START + 20: (None, 2)}
    out = {}
    for item in seconds(synthetic_input(START, 30), START, 30):
        if item.gps in pins_at:
            pin_versions(model_dir, *pins_at[item.gps])
            watcher.poll()
        for slot, model in watcher.take_changes().items():
            pipeline.swap(slot, model)
        out.update((second.gps, second) for second in pipeline.process(item))
    out.update((second.gps, second) for second in pipeline.flush())
    for gps in [*range(START, START + 8), *range(START + 22, START + 30)]:
        production = out[gps].outputs["production"]
        assert production.version == 0, gps
        assert np.all(production.dq & dq.NO_MODEL) and not np.any(production.dq & dq.CLEANED)
        np.testing.assert_array_equal(production.strain, out[gps].raw)
        assert out[gps].outputs["canary"].version == 2
    for gps in range(START + 12, START + 18):
        production = out[gps].outputs["production"]
        assert production.version == 1 and np.all(production.dq & dq.CLEANED)
        assert not np.any(production.dq & dq.NO_MODEL)


def run_missing_witness(pipeline, model, duration):
    """Run ``pipeline`` with ``model`` in production over ``duration`` seconds whose witness frame of
    ``START + 12`` is missing; checks every second is written once and that one raw with the input-gap bit.
    The cleaned seconds by GPS."""
    data = synthetic_input(START, duration)
    pipeline.swap("production", model)
    out = run(pipeline, seconds(data, START, duration, missing_witness={START + 12}))
    assert sorted(out) == list(range(START, START + duration))
    gap = out[START + 12].outputs["production"]
    assert np.all(gap.dq & dq.INPUT_GAP) and not np.any(gap.dq & dq.CLEANED)
    np.testing.assert_array_equal(gap.strain, out[START + 12].raw)
    return out


def test_missing_witness_second_is_raw_with_the_input_gap_bit(repository):
    """A second without witnesses is written raw, flagged, and cleaning resumes after the restart."""
    duration = 30
    out = run_missing_witness(pipeline_for(), load(repository, 1), duration)
    assert np.all(out[START + 10].outputs["production"].dq & dq.CLEANED)
    assert np.all(out[START + duration - 3].outputs["production"].dq & dq.CLEANED)


def test_dropped_strain_second_has_no_output_and_the_stream_restarts(repository):
    """A strain gap: nothing for the missing second, every other second written once."""
    duration = 30
    data = synthetic_input(START, duration)
    items = [
        s if s.gps != START + 12 else Gap(START + 12, START + 13, "dropped", "strain frames missing")
        for s in seconds(data, START, duration)
    ]
    pipeline = pipeline_for()
    pipeline.swap("production", load(repository, 1))
    out = run(pipeline, items)
    assert sorted(out) == [g for g in range(START, START + duration) if g != START + 12]
    assert np.all(out[START + duration - 3].outputs["production"].dq & dq.CLEANED)


def test_not_analysis_ready_samples_are_flagged(repository):
    """State-vector samples without both ready bits set the not-ready bit at 16 Hz."""
    data = synthetic_input(START, 4)
    data["state"][16 * 2 + 5] = 1
    out = run(pipeline_for(), seconds(data, START, 4))
    bits = out[START + 2].outputs["production"].dq
    assert bits[5] & dq.NOT_ANALYSIS_READY and not np.any(np.delete(bits, 5) & dq.NOT_ANALYSIS_READY)


def test_a_swap_at_a_block_edge_cleans_as_if_the_new_version_had_run_all_along(
    repository,
):
    """After a swap, the seconds not yet written come from the new version alone (no glitch)."""
    duration = 24
    data = synthetic_input(START, duration)
    items = list(seconds(data, START, duration))
    reference_pipeline = pipeline_for()
    reference_pipeline.swap("production", load(repository, 2))
    reference = run(reference_pipeline, items)

    pipeline = pipeline_for()
    pipeline.swap("production", load(repository, 1))
    out = {}
    for item in items:
        if item.gps == START + 14:
            pipeline.swap("production", load(repository, 2))
        for second in pipeline.process(item):
            out[second.gps] = second
    assert out[START + 12].outputs["production"].version == 1
    for gps in range(START + 13, START + 20):
        assert out[gps].outputs["production"].version == 2
        np.testing.assert_allclose(
            out[gps].outputs["production"].strain,
            reference[gps].outputs["production"].strain,
            rtol=0,
            atol=1e-30,
        )


def test_seconds_before_a_restarted_chain_output_do_not_wait_for_max_wait(repository):
    """Once a restarted chain's noise begins after a pending second, that second goes out raw at once."""
    duration = 30
    data = synthetic_input(START, duration)
    pipeline = pipeline_for(max_wait=100)
    pipeline.swap("production", load(repository, 1))
    emitted = []
    for item in seconds(data, START, duration, missing_witness={START + 12}):
        emitted += [s.gps for s in pipeline.process(item)]
    assert emitted == list(range(START, START + duration - 1))


def test_a_witness_frame_without_a_configured_channel_counts_as_missing(repository):
    """An incomplete witness frame does not stop the stream: raw strain with the input-gap bit."""
    duration = 8
    data = synthetic_input(START, duration)
    items = list(seconds(data, START, duration))
    del items[5].witnesses[WITNESSES[2]]
    pipeline = pipeline_for()
    pipeline.swap("production", load(repository, 1))
    out = run(pipeline, items)
    assert sorted(out) == list(range(START, START + duration))
    assert np.all(out[START + 5].outputs["production"].dq & dq.INPUT_GAP)


def test_delays_over_one_second_are_warned_about_once(repository, caplog):
    """Look-ahead so long that the delays exceed 1 s: second t waits for t + 2, and the log says so once."""
    import logging

    caplog.set_level(logging.INFO)
    data = synthetic_input(START, 4)
    for lookahead, warned in ((0.8, False), (0.99, True)):
        caplog.clear()
        pipeline = pipeline_for(lookahead=lookahead)
        pipeline.swap("production", load(repository, 1))
        for item in seconds(data, START, 4):
            pipeline.process(item)
        assert caplog.text.count("written only after t + 2 arrives") == int(warned), lookahead


class RecordingGate(SafetyGate):
    """The gate, keeping the estimates it was given; ``narrow`` makes it write the narrowed one every second."""

    def __init__(self, *args, narrow: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.given, self.narrow = [], narrow

    def process(self, raw, noise, narrowed=None):
        self.given.append((noise, narrowed))
        if self.narrow and narrowed is not None:
            every = np.ones(raw.size, bool)
            return SafetyDecision(raw - narrowed, np.ones(raw.size), False, ~every, None, None, True, every)
        return super().process(raw, noise, narrowed)


def recorded_run(repository, narrowed_band, narrow=False, duration=24):
    """Clean ``duration`` s with production version 1 (look-ahead 3 s); the cleaned seconds and the gate."""
    data = synthetic_input(START, duration)
    chain_settings = dataclasses.replace(settings(3.0, 3.0), narrowed_band=narrowed_band)
    pipeline = CleaningPipeline(chain_settings, BAND, max_wait=6, safety={"enabled": False})
    gate = RecordingGate(STRAIN_RATE, BAND, enabled=False, narrow=narrow)
    pipeline._slots["production"].gate = gate
    pipeline.swap("production", load(repository, 1))
    return data, run(pipeline, seconds(data, START, duration)), gate


def test_the_narrowed_estimate_streams_as_one_offline_pass_and_leaves_the_whole_one_as_it_was(repository):
    """With a narrowed band the gate gets the same whole estimate as without, and the narrowed one equals
    one offline zero-phase pass of the narrowed band-pass (to the look-ahead's tolerance)."""
    _, _, plain = recorded_run(repository, None)
    data, _, gate = recorded_run(repository, (59.0, 61.0))
    assert all(narrowed is None for _, narrowed in plain.given)
    pairs = [(a, b) for (a, _), (b, _) in zip(plain.given, gate.given, strict=True) if a is not None]
    assert len(pairs) >= 12 and all(np.array_equal(a, b) for a, b in pairs)
    model = load(repository, 1)
    offline = resample(
        zero_phase_bandpass(offline_prediction(model, data), bandpass_sos((59.0, 61.0), RATE, 8)), RATE, STRAIN_RATE
    )
    given = [narrowed for _, narrowed in gate.given]
    first = next(i for i, narrowed in enumerate(given) if narrowed is not None)
    for i in range(first + 1, len(given) - 4):
        expected = offline[i * STRAIN_RATE : (i + 1) * STRAIN_RATE]
        error = np.sqrt(np.mean((given[i] - expected) ** 2) / np.mean(expected**2))
        # a 2 Hz band-pass rings longer than the 4 Hz one: the same 3 s of look-ahead leave up to ~1 % here
        assert error < 0.012, f"second {i}: relative RMS error {error:.3g}"


def test_a_second_written_narrowed_carries_the_narrowed_bit_not_the_fallback_bit(repository):
    _, out, gate = recorded_run(repository, (59.0, 61.0), narrow=True)
    narrowed = {START + i: n for i, (_, n) in enumerate(gate.given) if n is not None}
    assert len(narrowed) >= 12
    for gps, estimate in narrowed.items():
        written = out[gps].outputs["production"]
        assert np.all(written.dq & dq.CLEANED) and np.all(written.dq & dq.NARROWED)
        assert not np.any(written.dq & dq.SAFETY_FALLBACK)
        np.testing.assert_array_equal(written.strain, out[gps].raw - estimate)


def test_a_version_whose_filter_band_does_not_hold_the_narrowed_band_gets_no_narrowed_estimate(repository, caplog):
    """The narrowed estimate must be narrower than the version's own estimate: otherwise none is made."""
    model = load(repository, 1)
    inside = ModelChain(model, dataclasses.replace(settings(), narrowed_band=(59.0, 61.0)))
    with caplog.at_level("INFO", logger="deepclean_cleaner.model_chain"):
        wider = ModelChain(model, dataclasses.replace(settings(), narrowed_band=(50.0, 70.0)))
    assert inside.narrowed_filter is not None and wider.narrowed_filter is None
    assert "does not hold the narrowed band [50.0, 70.0] Hz" in caplog.text


def test_a_canary_promoted_to_production_keeps_the_trust_it_earned_on_the_canary_stream(repository):
    """The production gate trusts the narrowed estimate of a version the canary stream's gate trusts (the same
    estimate against the same strain), and of no other version."""
    pipeline = CleaningPipeline(dataclasses.replace(settings(), narrowed_band=(59.0, 61.0)), BAND)
    try:
        first, second = load(repository, 1), load(repository, 2)
        pipeline.swap("canary", second)
        pipeline.swap("production", second)
        assert not pipeline._slots["production"].gate.narrowing_trusted()  # nothing earned yet
        pipeline._slots["canary"].gate._whole.trusted = True  # as after 4 windows in a row written
        pipeline.swap("production", first)
        assert not pipeline._slots["production"].gate.narrowing_trusted()
        pipeline.swap("production", second)
        assert pipeline._slots["production"].gate.narrowing_trusted()
        assert pipeline._slots["canary"].gate.narrowing_trusted()
    finally:
        pipeline.close()
