"""Tests of deepclean.signal.resample: one-shot and streaming resampling."""

import itertools

import numpy as np
import pytest
from scipy.signal import freqz, resample_poly

from deepclean.signal import StreamingResampler, resample, resampling_factors, resampling_filter, streaming_resampler
from deepclean.signal.resample import minimum_phase_filter

RATES = [(16384, 4096), (512, 4096), (1024, 4096), (4096, 16384), (2048, 4096), (256, 4096), (16384, 16384)]


def _stream(resampler: StreamingResampler, data: np.ndarray, block: int) -> list[np.ndarray]:
    return [resampler.push(data[..., i : i + block]) for i in range(0, data.shape[-1], block)]


def test_factors_are_reduced_and_rates_must_be_whole():
    """Integer rates give the reduced up/down pair; non-integer or zero rates are refused."""
    assert resampling_factors(16384, 4096) == (1, 4)
    assert resampling_factors(512, 4096) == (8, 1)
    assert resampling_factors(6000, 4096) == (256, 375)
    with pytest.raises(ValueError, match="input_rate"):
        resampling_factors(1000.5, 4096)
    with pytest.raises(ValueError, match="output_rate"):
        resampling_factors(1024, 0)


def test_one_shot_matches_scipy_and_keeps_a_tone():
    """One-shot resampling is resample_poly's, and a 60 Hz tone keeps its amplitude and phase."""
    t = np.arange(16384 * 2) / 16384
    tone = np.sin(2 * np.pi * 60 * t)
    out = resample(tone, 16384, 4096)
    np.testing.assert_allclose(out, resample_poly(tone, 1, 4), rtol=0, atol=1e-12)
    t_out = np.arange(4096 * 2) / 4096
    middle = slice(400, -400)
    np.testing.assert_allclose(out[middle], np.sin(2 * np.pi * 60 * t_out)[middle], atol=1e-3)


@pytest.mark.parametrize("input_rate,output_rate", RATES)
def test_streaming_equals_one_shot(input_rate, output_rate):
    """Second-by-second output, concatenated and flushed, equals the one-shot output to 1e-10 relative."""
    rng = np.random.default_rng(input_rate + output_rate)
    data = rng.normal(size=(2, input_rate * 6))  # two channels, 6 s
    resampler = StreamingResampler(input_rate, output_rate)
    blocks = _stream(resampler, data, input_rate)
    streamed = np.concatenate(blocks + [resampler.flush()], axis=-1)
    expected = resample(data, input_rate, output_rate)
    assert streamed.shape == expected.shape
    assert np.max(np.abs(streamed - expected)) < 1e-10 * np.max(np.abs(expected))


@pytest.mark.parametrize("input_rate,output_rate", RATES)
def test_streaming_delay_is_fixed_and_reported(input_rate, output_rate):
    """Each 1 s block yields exactly one second of output once the first delay is paid; the delay is as reported."""
    resampler = StreamingResampler(input_rate, output_rate)
    up, down = resampling_factors(input_rate, output_rate)
    data = np.random.default_rng(0).normal(size=input_rate * 4)
    lengths = [len(b) for b in _stream(resampler, data, input_rate)]
    assert lengths[0] == output_rate - resampler.delay_samples
    assert lengths[1:] == [output_rate] * 3
    # The history carried between blocks is about one filter length, not the stream.
    assert resampler.buffered_samples <= 2 * 10 * max(up, down) // up + 2 * down + 1
    assert resampler.delay == resampler.delay_samples / output_rate
    expected_delay = 0 if up == down else 10 * max(up, down) // down
    assert resampler.delay_samples == expected_delay
    assert resampler.delay < 0.040  # the latency resampling adds stays below 40 ms (256 Hz witnesses: 39 ms)


def test_irregular_blocks_equal_one_shot():
    """Blocks of uneven lengths (not multiples of the ratio) still reproduce the one-shot output."""
    rng = np.random.default_rng(3)
    data = rng.normal(size=16384 * 3)
    resampler = StreamingResampler(16384, 4096)
    cuts = [0, 1, 5000, 5003, 16384, 30001, len(data)]
    pieces = [resampler.push(data[a:b]) for a, b in itertools.pairwise(cuts)]
    streamed = np.concatenate(pieces + [resampler.flush()])
    np.testing.assert_allclose(streamed, resample(data, 16384, 4096), rtol=0, atol=1e-12)


def test_reset_starts_a_new_stream_after_a_gap():
    """After reset, output equals the one-shot output of the data after the gap alone."""
    rng = np.random.default_rng(4)
    before, after = rng.normal(size=1024 * 2), rng.normal(size=1024 * 3)
    resampler = StreamingResampler(1024, 4096)
    _stream(resampler, before, 1024)
    resampler.reset()
    streamed = np.concatenate(_stream(resampler, after, 1024) + [resampler.flush()])
    np.testing.assert_allclose(streamed, resample(after, 1024, 4096), rtol=0, atol=1e-12)


def test_block_shape_must_stay_the_same():
    """A block with a different number of channels is refused rather than silently mixed."""
    resampler = StreamingResampler(512, 4096)
    resampler.push(np.zeros((3, 512)))
    with pytest.raises(ValueError, match="leading shape"):
        resampler.push(np.zeros((2, 512)))


@pytest.mark.parametrize("input_rate,output_rate", RATES)
def test_minimum_phase_streams_without_delay_equal_to_one_shot(input_rate, output_rate):
    """The minimum-phase stream yields each 1 s block's whole second at once, equal to one-shot
    resampling of the whole stream; irregular blocks too."""
    rng = np.random.default_rng(input_rate * 3 + output_rate)
    data = rng.normal(size=(2, input_rate * 4))
    resampler = streaming_resampler(input_rate, output_rate, "minimum")
    assert resampler.delay_samples == 0 and resampler.delay == 0.0
    blocks = _stream(resampler, data, input_rate)
    assert [b.shape[-1] for b in blocks] == [output_rate] * 4
    expected = resample(data, input_rate, output_rate, phase="minimum")
    np.testing.assert_allclose(np.concatenate(blocks, axis=-1), expected, rtol=0, atol=1e-12)
    assert resampler.buffered_samples <= 2 * 10 * max(resampling_factors(input_rate, output_rate)) + input_rate
    resampler.reset()
    cuts = [0, 3, input_rate // 3 * 2, input_rate + 7, data.shape[-1]]
    pieces = [resampler.push(data[:, a:b]) for a, b in itertools.pairwise(cuts)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=-1), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("input_rate", [256, 512, 2048, 16384])
def test_minimum_phase_keeps_the_magnitude_and_delays_the_band_by_a_few_samples(input_rate):
    """Same magnitude response as the linear-phase filter; a 60 Hz tone comes out at its amplitude,
    a few samples late, where the linear-phase stream is 10-40 samples late."""
    up, down = resampling_factors(input_rate, 1024)
    linear, minimum = resampling_filter(up, down), minimum_phase_filter(up, down)
    frequencies = np.linspace(0, 0.5, 512)
    _, h_linear = freqz(linear, worN=frequencies, fs=1.0)
    _, h_minimum = freqz(minimum, worN=frequencies, fs=1.0)
    np.testing.assert_allclose(np.abs(h_minimum), np.abs(h_linear), atol=2e-3)
    t = np.arange(input_rate * 8) / input_rate
    out = resample(np.sin(2 * np.pi * 60 * t), input_rate, 1024, phase="minimum")
    steady = out[1024 * 2 : 1024 * 7]
    assert np.max(np.abs(steady)) == pytest.approx(1.0, abs=5e-3)
    reference = np.sin(2 * np.pi * 60 * np.arange(out.size) / 1024)
    lags = range(0, 12)
    errors = [np.mean((steady - reference[1024 * 2 - lag : 1024 * 7 - lag]) ** 2) for lag in lags]
    assert int(np.argmin(errors)) <= 7
    assert StreamingResampler(input_rate, 1024).delay_samples >= 10


def test_an_unknown_phase_is_refused():
    """Only the phases in PHASES are accepted."""
    with pytest.raises(ValueError, match="phase"):
        resample(np.zeros(512), 512, 1024, phase="maximum")
    with pytest.raises(ValueError, match="phase"):
        streaming_resampler(512, 1024, "zero")
