"""The causal (low-latency) mode: the causal band-pass, the lead, the mode check and the latency structure."""

import dataclasses

import numpy as np
import pytest
from conftest import BAND, LEAD, RATE, STRAIN_RATE, WITNESS_RATES, causal_settings, settings, synthetic_input
from test_pipeline import START, load, offline_prediction, run, run_missing_witness, seconds

from deepclean.model_repository import ModelRepository
from deepclean.signal import (
    CAUSAL_WITNESS_PHASE,
    bandpass_sos,
    causal_bandpass,
    resample,
    witness_resampling_delay,
)
from deepclean_cleaner import dq
from deepclean_cleaner.buffers import Block
from deepclean_cleaner.model_chain import IncompatibleModelError, ModelChain
from deepclean_cleaner.noise_filter import CausalNoiseFilter
from deepclean_cleaner.pipeline import CleaningPipeline


def causal_pipeline(max_wait=2):
    return CleaningPipeline(causal_settings(), BAND, max_wait=max_wait, safety={"enabled": False})


def test_causal_filter_streamed_in_blocks_equals_one_pass():
    """Blocks of any length filtered with the carried state give one causal_bandpass pass, to rounding."""
    rng = np.random.default_rng(3)
    data = rng.normal(size=5 * RATE) + 2.0
    sos = bandpass_sos(BAND, RATE, 8)
    stage = CausalNoiseFilter(sos, target_mean=0.5, target_std=3.0, history=0)
    out, start = [], 0
    for size in (RATE, 16, 3 * RATE - 16, RATE):
        block = stage.process(Block(start, RATE, data[start : start + size]))
        assert block.start == start and block.size == size
        out.append(block.data)
        start += size
    expected = causal_bandpass(data * 3.0 + 0.5, sos)
    np.testing.assert_allclose(np.concatenate(out), expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_causal_filter_settles_for_history_and_restarts_after_a_hole():
    """Nothing comes out for ``history`` samples after a start, and a block that does not follow restarts it."""
    stage = CausalNoiseFilter(bandpass_sos(BAND, RATE, 8), 0.0, 1.0, history=RATE)
    ones = np.ones(RATE)
    assert stage.process(Block(0, RATE, ones)) is None
    assert stage.process(Block(RATE, RATE, ones)) is not None
    assert stage.process(Block(5 * RATE, RATE, ones)) is None


@pytest.mark.parametrize("cleaner_mode,version_mode", [("zero-phase", "causal"), ("causal", "zero-phase")])
def test_a_version_of_the_other_mode_is_refused_naming_version_and_key(
    repository, causal_repository, cleaner_mode, version_mode
):
    """A version runs only in the latency mode it was trained for; the error names the version and the key."""
    model = load(causal_repository if version_mode == "causal" else repository, 2)
    chain_settings = dataclasses.replace(settings(), latency_mode=cleaner_mode)
    with pytest.raises(IncompatibleModelError, match=r"model version 2: 'latency\.mode' is '" + version_mode):
        ModelChain(model, chain_settings)


def test_a_causal_chain_leads_its_input_by_the_witness_delay(causal_repository):
    """Lead = witness resampling (none: minimum phase) + context + upsampling: the chain's output ends at
    the input frame's end."""
    chain = ModelChain(load(causal_repository, 1), causal_settings())
    witness_delay = witness_resampling_delay(WITNESS_RATES.values(), RATE, 16, CAUSAL_WITNESS_PHASE) / RATE
    assert witness_delay == 0.0
    assert witness_resampling_delay(WITNESS_RATES.values(), RATE, 16) > 0  # the linear-phase filter's
    assert chain.causal and chain.network.lead == LEAD
    assert -witness_delay - 1 / RATE < chain.delay <= -witness_delay


def test_a_causal_version_with_other_witness_resampling_is_refused(causal_repository):
    """A causal version trained on linear-phase resampled witnesses (before the minimum-phase filter) has
    learned that filter's phase: the cleaner refuses it, naming the version and the key."""
    model = load(causal_repository, 2)
    model.metadata["latency"] = {"mode": "causal", "lead": LEAD}
    with pytest.raises(IncompatibleModelError, match=r"model version 2: 'latency\.witness_resampling' is 'linear'"):
        ModelChain(model, causal_settings())


def test_causal_mode_writes_second_t_as_soon_as_frame_t_arrived(causal_repository):
    """Production and canary: once primed, every input second comes out cleaned by the call that brought it."""
    data = synthetic_input(START, 12)
    pipeline = causal_pipeline()
    pipeline.swap("production", load(causal_repository, 1))
    pipeline.swap("canary", load(causal_repository, 2))
    emitted = [[s for s in pipeline.process(item)] for item in seconds(data, START, 12)]
    for i in range(6, 12):
        assert [s.gps for s in emitted[i]] == [START + i]
        for slot in ("production", "canary"):
            assert np.all(emitted[i][0].outputs[slot].dq & dq.CLEANED), (i, slot)


def test_zero_phase_mode_still_waits_for_the_next_frame(repository):
    """The default mode keeps its structure: second t is out when t + 1 is in."""
    data = synthetic_input(START, 12)
    pipeline = CleaningPipeline(settings(), BAND, safety={"enabled": False})
    pipeline.swap("production", load(repository, 1))
    emitted = [[s.gps for s in pipeline.process(item)] for item in seconds(data, START, 12)]
    assert emitted[-1] == [START + 10]


def offline_causal_noise(model, data):
    """One pass over the whole span: :func:`offline_prediction`, causal band-pass, upsample, moved by the lead."""
    noise = offline_prediction(model, data, CAUSAL_WITNESS_PHASE)
    upsampled = resample(causal_bandpass(noise, bandpass_sos(BAND, RATE, 8)), RATE, STRAIN_RATE)
    shift = LEAD * (STRAIN_RATE // RATE)
    return np.concatenate([np.full(shift, np.nan), upsampled[:-shift]])


def test_causal_streamed_noise_estimate_matches_one_offline_pass(causal_repository):
    """The subtracted noise equals the offline causal estimate (broadband network output, the hard case).

    The stream's filter starts after its restart, the offline one at the span's
    start; their difference dies away with the filter's ring time, so the
    seconds compared begin a few seconds in.
    """
    duration = 20
    data = synthetic_input(START, duration)
    model = load(causal_repository, 1)
    pipeline = causal_pipeline(max_wait=6)
    pipeline.swap("production", model)
    out = run(pipeline, seconds(data, START, duration))
    assert sorted(out) == list(range(START, START + duration))
    reference = offline_causal_noise(model, data)
    compared = [g for g in range(START + 8, START + duration - 1)]
    for gps in compared:
        assert out[gps].outputs["production"].dq[0] & dq.CLEANED
        i = gps - START
        streamed = out[gps].raw - out[gps].outputs["production"].strain
        expected = reference[i * STRAIN_RATE : (i + 1) * STRAIN_RATE]
        error = np.sqrt(np.mean((streamed - expected) ** 2) / np.mean(expected**2))
        assert error < 1e-6, f"GPS {gps}: relative RMS error {error:.3g}"


def test_a_causal_version_swapped_in_cleans_at_once(causal_repository):
    """A swap primes the causal chain on the retained witnesses: the next second is cleaned without waiting."""
    data = synthetic_input(START, 16)
    pipeline = causal_pipeline()
    pipeline.swap("production", load(causal_repository, 1))
    items = list(seconds(data, START, 16))
    for item in items[:10]:
        pipeline.process(item)
    pipeline.swap("production", load(causal_repository, 2))
    second = pipeline.process(items[10])
    assert [s.gps for s in second] == [START + 10]
    assert second[0].outputs["production"].version == 2
    assert np.all(second[0].outputs["production"].dq & dq.CLEANED)


def test_the_causal_repository_is_readable(causal_repository):
    """The causal metadata passes the repository's checks (the exporter's and the watcher's readers)."""
    assert ModelRepository(causal_repository).model("deepclean").metadata(1)["latency"] == {
        "mode": "causal",
        "lead": LEAD,
        "witness_resampling": CAUSAL_WITNESS_PHASE,
    }


def test_a_missing_witness_second_costs_the_causal_mode_only_itself_and_the_refill(causal_repository):
    """Without look-ahead the second before a missing witness frame is still cleaned in full; every
    second is written once, the gap raw with the input-gap bit."""
    duration = 24
    out = run_missing_witness(causal_pipeline(), load(causal_repository, 1), duration)
    assert np.all(out[START + 11].outputs["production"].dq & dq.CLEANED)
    assert np.all(out[START + duration - 1].outputs["production"].dq & dq.CLEANED)


def test_a_causal_restart_resumes_without_duplicate_or_hole(tmp_path, causal_repository):
    """Stopped and restarted in the causal mode: every second once, the resumed ones as an uninterrupted run's."""
    from conftest import write_input
    from test_main import PRODUCTION, arguments

    from deepclean.frames import read_frame
    from deepclean_cleaner.main import main

    write_input(tmp_path / "data", START, 24)
    causal = {"latency_mode": "causal"}
    main(**arguments(tmp_path, causal_repository, stop_gps=START + 12, **causal))
    main(**arguments(tmp_path, causal_repository, stop_gps=START + 24, **causal))
    names = sorted(p.name for p in (tmp_path / "cleaned").iterdir())
    assert names == [f"H-H1_DEEPCLEAN-{g}-1.gwf" for g in range(START, START + 24)]
    reference = tmp_path / "reference"
    main(**arguments(tmp_path, causal_repository, cleaned_dir=reference, stop_gps=START + 24, **causal))
    for gps in range(START + 12, START + 24):
        resumed = read_frame(tmp_path / "cleaned" / f"H-H1_DEEPCLEAN-{gps}-1.gwf")
        uninterrupted = read_frame(reference / f"H-H1_DEEPCLEAN-{gps}-1.gwf")
        raw = read_frame(tmp_path / "data" / "llhoft" / f"H-H1_llhoft-{gps}-1.gwf")["H1:GDS-CALIB_STRAIN"]
        assert resumed["H1:DEEPCLEAN-DQ"][0] & dq.CLEANED
        estimate = raw - uninterrupted[PRODUCTION]
        difference = resumed[PRODUCTION] - uninterrupted[PRODUCTION]
        assert np.sqrt(np.mean(difference**2) / np.mean(estimate**2)) < 1e-6


def test_a_causal_chain_makes_no_narrowed_estimate(causal_repository):
    """A causal filter of another band would change the phase the version learned: no narrowed estimate."""
    chain = ModelChain(load(causal_repository, 1), dataclasses.replace(causal_settings(), narrowed_band=(59.0, 61.0)))
    assert chain.narrowed_filter is None
