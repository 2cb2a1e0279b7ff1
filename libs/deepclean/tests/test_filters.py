"""Tests of deepclean.signal.filters: Butterworth band-pass and zero-phase context."""

import numpy as np
import pytest
from scipy.signal import sosfreqz

from deepclean.signal import bandpass_sos, zero_phase_accuracy, zero_phase_bandpass, zero_phase_context

FS = 4096
BAND = (58.0, 62.0)


def test_bandpass_passes_band_and_rejects_outside():
    """The 58-62 Hz band-pass keeps 60 Hz and removes 50 Hz and 70 Hz by more than 60 dB (zero phase)."""
    sos = bandpass_sos(BAND, FS, order=8)
    assert sos.shape == (8, 6)
    _, response = sosfreqz(sos, worN=[50.0, 58.0, 60.0, 62.0, 70.0], fs=FS)
    gain = np.abs(response) ** 2  # forward-backward squares the magnitude
    assert gain[2] == pytest.approx(1.0, abs=1e-3)
    assert gain[1] == pytest.approx(0.5, abs=0.01) and gain[3] == pytest.approx(0.5, abs=0.01)
    assert gain[0] < 1e-6 and gain[4] < 1e-6


def test_zero_phase_keeps_tone_phase_and_input():
    """A 60 Hz tone comes out unshifted in time, and the caller's array is untouched."""
    t = np.arange(FS * 20) / FS
    tone = np.cos(2 * np.pi * 60 * t)
    original = tone.copy()
    out = zero_phase_bandpass(tone, bandpass_sos(BAND, FS))
    middle = slice(FS * 8, FS * 12)
    np.testing.assert_allclose(out[middle], tone[middle], atol=1e-3)
    np.testing.assert_array_equal(tone, original)


def test_bad_band_is_refused():
    """Edges outside (0, Nyquist) or in the wrong order raise ValueError naming the band."""
    with pytest.raises(ValueError, match="band"):
        bandpass_sos((62.0, 58.0), FS)
    with pytest.raises(ValueError, match="Nyquist"):
        bandpass_sos((58.0, 3000.0), FS)


def test_context_is_longer_for_tighter_accuracy():
    """More accuracy needs more context; the 8th-order 58-62 Hz filter needs between 2 and 4 s for 0.1 %."""
    sos = bandpass_sos(BAND, FS)
    contexts = [zero_phase_context(sos, FS, accuracy) for accuracy in (1e-2, 1e-3, 1e-4)]
    assert contexts[0] < contexts[1] < contexts[2]
    assert 2.0 < contexts[1] < 4.0
    # A wider band rings for less time.
    assert zero_phase_context(bandpass_sos((40.0, 80.0), FS), FS, 1e-3) < contexts[1] / 4


@pytest.mark.parametrize("accuracy", [1e-2, 1e-3])
@pytest.mark.parametrize("input_band", [(58.0, 62.0), (50.0, 70.0)])
def test_context_reaches_its_accuracy_on_a_finite_span(accuracy, input_band):
    """Filtering 1 s with the stated context on both sides matches the long-span filter to the accuracy."""
    sos = bandpass_sos(BAND, FS)
    rng = np.random.default_rng(7)
    # Noise in or around the band, as a network's prediction is.
    data = zero_phase_bandpass(rng.normal(size=FS * 64), bandpass_sos(input_band, FS, order=4))
    reference = zero_phase_bandpass(data, sos)
    context = round(zero_phase_context(sos, FS, accuracy) * FS)
    for start in (FS * 20, FS * 30, FS * 40):
        span = data[start - context : start + FS + context]
        kept = zero_phase_bandpass(span, sos)[context : context + FS]
        error = np.max(np.abs(kept - reference[start : start + FS]))
        assert error < accuracy * np.max(np.abs(span))
    # With a tenth of that context the error is far larger than the accuracy.
    short = context // 10
    span = data[start - short : start + FS + short]
    truncated = zero_phase_bandpass(span, sos)[short : short + FS]
    assert np.max(np.abs(truncated - reference[start : start + FS])) > 3 * accuracy * np.max(np.abs(span))


def test_accuracy_is_the_inverse_of_context():
    """The accuracy a context buys meets the accuracy that context was asked for, and shrinks as context grows."""
    sos = bandpass_sos(BAND, FS)
    for accuracy in (1e-2, 1e-3):
        assert accuracy / 2 < zero_phase_accuracy(sos, FS, zero_phase_context(sos, FS, accuracy)) < accuracy
    budget = [zero_phase_accuracy(sos, FS, seconds) for seconds in (0.5, 1.0, 1.5)]
    assert budget[0] > budget[1] > budget[2]
    assert 0.05 < budget[1] < 0.15  # what a 1 s look-ahead buys the 8th-order 58-62 Hz band-pass
