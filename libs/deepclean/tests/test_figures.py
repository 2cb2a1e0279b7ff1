"""Tests of deepclean.figures: per-bin powers, the added-noise tolerance and the bin judgement."""

import numpy as np
import pytest
from scipy.signal import welch

from deepclean.figures import (
    DEFAULT_MIN_EXCESS,
    DEFAULT_SIGMA,
    BinPowers,
    bins_judged,
    family_sigma,
    judge_bins,
    second_spectra,
)

FS = 4096
BAND = (58.0, 62.0)
CHECK = (10.0, 1000.0)


def band_noise(rng: np.random.Generator, seconds: int, band: tuple[float, float], rms: float) -> np.ndarray:
    """Gaussian noise with a flat spectrum inside ``band`` (Hz), nothing outside, of standard deviation ``rms``."""
    size = seconds * FS
    spectrum = np.fft.rfft(rng.normal(size=size))
    frequencies = np.fft.rfftfreq(size, 1 / FS)
    spectrum[(frequencies < band[0]) | (frequencies > band[1])] = 0
    noise = np.fft.irfft(spectrum, n=size)
    return noise * rms / np.std(noise)


def line(seconds: int, frequency: float, amplitude: float) -> np.ndarray:
    t = np.arange(seconds * FS) / FS
    return amplitude * np.sin(2 * np.pi * frequency * t + 0.3)


def powers(raw: np.ndarray, noise: np.ndarray) -> BinPowers:
    """The BinPowers of cleaning ``raw`` by subtracting ``noise``."""
    return BinPowers.of_strain(raw, raw - noise, FS)


def test_of_strain_sums_the_spectra_of_every_whole_second():
    """BinPowers.of_strain is BinPowers.of over second_spectra of each second; a partial second is left out."""
    rng = np.random.default_rng(0)
    raw, noise = rng.normal(size=3 * FS + 100), rng.normal(scale=0.1, size=3 * FS + 100)
    summed = BinPowers.of(
        [second_spectra(raw[i * FS : (i + 1) * FS], noise[i * FS : (i + 1) * FS]) for i in range(3)], FS
    )
    whole = BinPowers.of_strain(raw, raw - noise, FS)
    assert whole.seconds == summed.seconds == 3 and whole.raw.size == FS // 2 + 1
    for name in ("raw", "cleaned", "noise_raw"):
        np.testing.assert_allclose(getattr(whole, name), getattr(summed, name), rtol=1e-10)


def test_psd_matches_welch_with_one_second_hann_segments_without_overlap():
    """BinPowers.psd is scipy.signal.welch's density (Hann, 1 s segments, no overlap, no detrending)."""
    rng = np.random.default_rng(1)
    raw = rng.normal(size=8 * FS) + line(8, 60.0, 3.0)
    cleaned = raw - line(8, 60.0, 2.5)
    figures = BinPowers.of_strain(raw, cleaned, FS)
    for which, data in (("raw", raw), ("cleaned", cleaned)):
        frequencies, expected = welch(data, FS, window="hann", nperseg=FS, noverlap=0, detrend=False)
        np.testing.assert_allclose(figures.frequencies, frequencies)
        np.testing.assert_allclose(figures.psd(which), expected, rtol=1e-9)


def test_a_negligible_estimate_gets_the_minimum_tolerance_and_passes():
    """Where the estimate is zero the tolerance is exactly 1 + min_excess and the unchanged bins pass."""
    rng = np.random.default_rng(2)
    raw = rng.normal(size=8 * FS)
    figures = powers(raw, np.zeros(raw.size))
    np.testing.assert_array_equal(figures.added_noise_tolerance(), 1.0 + DEFAULT_MIN_EXCESS)
    np.testing.assert_array_equal(figures.bin_asd_ratios(), 1.0)
    assert judge_bins(figures, BAND, CHECK).passed


def test_the_tolerance_is_sigma_standard_deviations_of_the_chance_cross_term():
    """An estimate unrelated to the raw strain exceeds the tolerance in ~none of 1000 bins at sigma 3.5,
    in many at sigma 1; and the tolerance narrows as the window grows (spread ~ 1/sqrt(seconds))."""
    rng = np.random.default_rng(3)
    raw = rng.normal(size=32 * FS)
    unrelated = rng.normal(scale=0.05, size=raw.size)  # adds 0.25 % of power: far below the chance spread
    short = powers(raw[: 8 * FS], unrelated[: 8 * FS])
    bins = slice(100, 1100)
    ratios = short.bin_asd_ratios()[bins]
    assert np.mean(ratios > short.added_noise_tolerance(DEFAULT_SIGMA)[bins]) < 0.003
    assert 0.05 < np.mean(ratios > short.added_noise_tolerance(1.0, 0.0)[bins]) < 0.3
    long = powers(raw, unrelated)
    narrowing = (long.added_noise_tolerance(1.0, 0.0)[bins] ** 2 - 1) / (
        short.added_noise_tolerance(1.0, 0.0)[bins] ** 2 - 1
    )
    assert np.median(narrowing) == pytest.approx(0.5, rel=0.15)


def test_a_bin_where_noise_was_added_fails():
    """A line the estimate adds at 75 Hz fails that bin, however well the band is cleaned next to it."""
    rng = np.random.default_rng(4)
    carrier = line(8, 60.0, 20.0)
    raw = rng.normal(size=8 * FS) + carrier
    judgement = judge_bins(powers(raw, carrier - line(8, 75.0, 0.2)), BAND, CHECK)
    assert not judgement.passed and judgement.band_ratio < 0.5
    assert 75.0 in judgement.failing_bins and judgement.worst_bin_frequency == 75.0
    assert judgement.worst_bin == pytest.approx(judgement.failing_ratios[judgement.failing_bins.index(75.0)])
    assert "75 Hz" in judgement.describe()


def test_noise_added_next_to_the_band_fails_although_the_carrier_removal_outweighs_it():
    """Removing the carrier lowers the total power of band and shoulders, yet the 63-64 Hz bins fail."""
    rng = np.random.default_rng(5)
    carrier = line(8, 60.0, 20.0)
    raw = rng.normal(size=8 * FS) + carrier
    added = band_noise(rng, 8, (62.5, 64.5), 0.15)
    figures = powers(raw, carrier + added)
    near = (figures.frequencies >= BAND[0] - 4) & (figures.frequencies <= BAND[1] + 4)
    assert figures.cleaned[near].sum() < 0.1 * figures.raw[near].sum()
    judgement = judge_bins(figures, BAND, CHECK)
    assert not judgement.passed and {63.0, 64.0} <= set(judgement.failing_bins)


def test_a_bin_where_true_noise_was_removed_passes():
    """An estimate equal to the injected noise (large, in and next to the band) passes everywhere."""
    rng = np.random.default_rng(6)
    truth = band_noise(rng, 8, (55.0, 65.0), 2.0) + line(8, 60.0, 20.0)
    raw = rng.normal(size=8 * FS) + truth
    judgement = judge_bins(powers(raw, truth), BAND, CHECK)
    assert judgement.passed and not judgement.failing_bins and judgement.band_ratio < 0.2


def test_the_band_fails_when_its_mean_ratio_exceeds_the_band_tolerance():
    """The band's figure is the mean of its bins' ASD ratios, judged against band_tolerance alone."""
    rng = np.random.default_rng(7)
    truth = band_noise(rng, 8, (57.5, 62.5), 1.0)
    raw = rng.normal(size=8 * FS) + truth
    figures = powers(raw, 0.5 * truth)
    in_band = (figures.frequencies >= BAND[0]) & (figures.frequencies <= BAND[1])
    judgement = judge_bins(figures, BAND, CHECK)
    assert judgement.band_ratio == pytest.approx(np.mean(figures.bin_asd_ratios()[in_band]))
    assert judgement.passed and 0.5 < judgement.band_ratio < 0.9
    strict = judge_bins(figures, BAND, CHECK, band_tolerance=0.5)
    assert strict.band_failed and not strict.passed and not strict.failing_bins
    assert "band ASD ratio" in strict.describe()


def test_noise_spread_over_a_shoulder_fails_as_a_group():
    """Bins next to the band each within their own tolerance fail together when their sum adds noise;
    far from the band (no group there) the same noise fails only the bins beyond their own tolerance."""
    rng = np.random.default_rng(8)
    raw = rng.normal(size=16 * FS)
    spread = band_noise(rng, 16, (62.5, 66.5), 0.03)
    shoulder = powers(raw, spread)
    bins = [63, 64, 65, 66]
    judged = (shoulder.frequencies >= CHECK[0]) & (shoulder.frequencies <= CHECK[1])
    sigma = family_sigma(DEFAULT_SIGMA, int(np.sum(judged & shoulder.could_add())))  # what judge_bins uses
    ratios, tolerance = shoulder.bin_asd_ratios()[bins], shoulder.added_noise_tolerance(sigma)[bins]
    assert np.all(ratios < tolerance) and np.all(ratios > 1.0 + DEFAULT_MIN_EXCESS)
    judgement = judge_bins(shoulder, BAND, CHECK)
    assert not judgement.passed and set(bins) <= set(judgement.failing_bins)
    assert not judge_bins(shoulder, BAND, CHECK, shoulder_hz=0.0).failing_bins
    far = powers(raw, band_noise(rng, 16, (82.5, 86.5), 0.03))
    far_sigma = family_sigma(DEFAULT_SIGMA, int(np.sum(judged & far.could_add())))
    alone = far.frequencies[far.bin_asd_ratios() > far.added_noise_tolerance(far_sigma)]
    assert set(judge_bins(far, BAND, CHECK).failing_bins) == set(alone) != {82.0, 83.0, 84.0, 85.0, 86.0}


def test_judge_bins_rejects_a_band_without_bins():
    """A band with low >= high, or holding no 1 Hz bin centre, is an error naming the band."""
    figures = powers(np.random.default_rng(9).normal(size=FS), np.zeros(FS))
    with pytest.raises(ValueError, match="low < high"):
        judge_bins(figures, (62.0, 58.0), CHECK)
    with pytest.raises(ValueError, match="no 1 Hz bin"):
        judge_bins(figures, (60.2, 60.8), CHECK)


@pytest.mark.parametrize("check_range", [(10.0, 2000.0), (10.0, 500.0), (10.0, 40.0), (10.0, float("inf"))])
def test_spectra_cut_to_the_bins_judged_are_judged_the_same(check_range):
    """The safety gate keeps only :func:`bins_judged` bins of each second: the judgement does not change."""
    rng = np.random.default_rng(3)
    t = np.arange(16384) / 16384
    seconds = [
        second_spectra(rng.normal(size=t.size), 0.2 * rng.normal(size=t.size) + np.sin(2 * np.pi * 60.3 * t))
        for _ in range(8)
    ]
    band = (55.0, 65.0)
    bins = bins_judged(band, check_range)
    whole = judge_bins(BinPowers.of(seconds, 16384), band, check_range)
    cut = judge_bins(BinPowers.of([s.first(bins) for s in seconds], 16384), band, check_range)
    assert bins is None if check_range[1] == float("inf") else bins < 8193
    assert cut == whole


def test_band_power_ratio_is_the_cleaned_over_the_raw_power_summed_over_the_band():
    """A line removed to a tenth of its amplitude leaves ~1 % of the band's power; outside the band, nothing counts."""
    t = np.arange(16 * FS) / FS
    rng = np.random.default_rng(3)
    floor = 1e-3 * rng.standard_normal(t.size)
    line = np.sin(2 * np.pi * 60.0 * t)
    figures = BinPowers.of_strain(floor + line + np.sin(2 * np.pi * 200.0 * t), floor + 0.1 * line, FS)
    assert figures.band_power_ratio((55.0, 65.0)) == pytest.approx(0.01, rel=0.05)
    with pytest.raises(ValueError, match="no 1 Hz bin"):
        figures.band_power_ratio((60.2, 60.4))
