"""Tests of deepclean.signal.spectra: ASDs and the band figures."""

import numpy as np
import pytest

from deepclean.signal import spectra

FS = 1024
BAND = (58.0, 62.0)
DURATION = 64


def _band_noise(rng: np.random.Generator, size: int, band: tuple[float, float], asd: float) -> np.ndarray:
    """Gaussian noise of one-sided ASD ``asd`` inside ``band`` and nothing outside."""
    spectrum = np.fft.rfft(rng.normal(size=size))
    frequencies = np.fft.rfftfreq(size, 1 / FS)
    spectrum[(frequencies < band[0]) | (frequencies > band[1])] = 0
    return np.fft.irfft(spectrum, n=size) * asd * np.sqrt(FS / 2)


@pytest.fixture(scope="module")
def noise():
    """White noise of unit variance (ASD sqrt(2/fs)) and in-band noise ten times louder (the 'truth')."""
    rng = np.random.default_rng(11)
    white = rng.normal(size=FS * DURATION)
    truth = _band_noise(rng, white.size, (57.0, 63.0), 10 * np.sqrt(2 / FS))
    return white, truth


def test_asd_of_white_noise_and_median_average():
    """White noise of unit variance has ASD sqrt(2/fs) for both averages, and the median ignores a glitch."""
    rng = np.random.default_rng(1)
    data = rng.normal(size=FS * 64)
    expected = np.sqrt(2 / FS)
    for average in ("median", "mean"):
        frequencies, amplitude = spectra.asd(data, FS, fftlength=2, average=average)
        assert frequencies[1] == pytest.approx(0.5)
        assert np.median(amplitude[10:-10]) == pytest.approx(expected, rel=0.05)
    data[FS * 10 : FS * 10 + FS] += 30 * rng.normal(size=FS)  # a loud broadband glitch in one segment
    _, median_asd = spectra.asd(data, FS, fftlength=2, average="median")
    _, mean_asd = spectra.asd(data, FS, fftlength=2, average="mean")
    assert np.median(median_asd[10:-10]) == pytest.approx(expected, rel=0.1)
    assert np.median(mean_asd[10:-10]) > 2 * expected


def test_asd_needs_one_fft_of_data():
    """Less data than one FFT length is an error that says so."""
    with pytest.raises(ValueError, match="shorter than one FFT"):
        spectra.asd(np.zeros(FS), FS, fftlength=4)


def test_band_ratio_of_removed_noise(noise):
    """Removing in-band noise 10x the floor gives a ratio near 1/sqrt(101); removing nothing gives exactly 1."""
    white, truth = noise
    raw = white + truth
    assert spectra.band_asd_ratio(raw, raw, FS, BAND) == pytest.approx(1.0)
    assert spectra.band_asd_ratio(white, raw, FS, BAND) == pytest.approx(1 / np.sqrt(101), rel=0.15)


def test_out_of_band_ratio_is_one_for_in_band_cleaning(noise):
    """Cleaning only in-band noise leaves every out-of-band bin at 1 within 2 %, and the band itself is excluded."""
    white, truth = noise
    # The truth reaches 57-63 Hz: exclude that, as a caller passes the band it cleans.
    centres, ratios = spectra.out_of_band_ratios(white, white + truth, FS, (57.0, 63.0), (10.0, 200.0))
    assert not np.any((centres > 56.5) & (centres < 63.5))
    assert np.all(np.abs(ratios - 1) < 0.02)
    assert abs(spectra.worst_out_of_band_ratio(white, white + truth, FS, (57.0, 63.0), (10.0, 200.0)) - 1) < 0.02


def test_out_of_band_ratio_catches_added_noise(noise):
    """Noise added at 100-110 Hz shows as the worst out-of-band ratio, above 1, in a bin inside 100-110 Hz."""
    white, _ = noise
    added = _band_noise(np.random.default_rng(5), white.size, (100.0, 110.0), np.sqrt(2 / FS))
    worst = spectra.worst_out_of_band_ratio(white + added, white, FS, BAND, (10.0, 200.0))
    assert worst == pytest.approx(np.sqrt(2), rel=0.1)
    centres, ratios = spectra.out_of_band_ratios(white + added, white, FS, BAND, (10.0, 200.0))
    assert 100 <= centres[np.argmax(ratios)] <= 110


def test_fraction_removed_and_residual(noise):
    """An estimate off by 10 % in amplitude removes 99 % of the power (-20 dB); a perfect one removes all."""
    _, truth = noise
    assert spectra.fraction_removed(truth, 0.9 * truth, FS, BAND) == pytest.approx(0.99, abs=1e-6)
    assert spectra.residual_db(truth, 0.9 * truth, FS, BAND) == pytest.approx(-20.0, abs=1e-3)
    assert spectra.fraction_removed(truth, truth, FS, BAND) == pytest.approx(1.0)
    assert spectra.fraction_removed(truth, np.zeros_like(truth), FS, BAND) == pytest.approx(0.0)
    assert spectra.fraction_removed(truth, -truth, FS, BAND) == pytest.approx(-3.0)


def test_fraction_removed_counts_only_the_band(noise):
    """An estimate that matches in band but adds out-of-band noise still scores as complete removal in band."""
    white, truth = noise
    assert (
        spectra.fraction_removed(
            truth, truth + 0.01 * _band_noise(np.random.default_rng(2), truth.size, (100.0, 200.0), 1.0), FS, BAND
        )
        > 0.999
    )
    # White noise at a tenth of the truth's ASD left behind: 1 % of the power remains.
    assert spectra.fraction_removed(truth, truth + white, FS, BAND) == pytest.approx(0.99, abs=0.003)


def test_fraction_removed_needs_matching_shapes():
    """Truth and estimate of different lengths are refused."""
    with pytest.raises(ValueError, match="shape"):
        spectra.fraction_removed(np.zeros(FS * 8), np.zeros(FS * 4), FS, BAND)


def test_psd_variants_give_the_same_figures(noise):
    """The figures computed from PSDs equal those computed from the time series."""
    white, truth = noise
    frequencies, psd_cleaned = spectra.psd(white, FS, 4.0)
    _, psd_raw = spectra.psd(white + truth, FS, 4.0)
    assert spectra.band_asd_ratio_of_psds(frequencies, psd_cleaned, psd_raw, BAND) == pytest.approx(
        spectra.band_asd_ratio(white, white + truth, FS, BAND)
    )
    centres, ratios = spectra.out_of_band_ratios_of_psds(frequencies, psd_cleaned, psd_raw, BAND, (10.0, 200.0))
    expected_centres, expected_ratios = spectra.out_of_band_ratios(white, white + truth, FS, BAND, (10.0, 200.0))
    np.testing.assert_array_equal(centres, expected_centres)
    np.testing.assert_allclose(ratios, expected_ratios)
