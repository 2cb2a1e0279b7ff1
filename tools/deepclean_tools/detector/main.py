"""``deepclean-detector``: write the synthetic detector's live frames into the data directories.

The frames are those of :mod:`deepclean.synthetic` (the detector, its scenarios, faults and
injections); this module is the service around them: its settings, where it resumes after the
frames on disk (:func:`resume_plan`) and the paced stream until stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from jsonargparse.typing import ClosedUnitInterval, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from deepclean.config import ConfigError, from_keys
from deepclean.entry_point import configure_logging, stop_on_signals
from deepclean.synthetic.colouring import DEFAULT_PSD
from deepclean.synthetic.detector import STEP_GPS, SyntheticDetector
from deepclean.synthetic.detector_config import default_witnesses, mains_witness
from deepclean.synthetic.faults import FaultInjection
from deepclean.synthetic.frame_writer import FrameLayout
from deepclean.synthetic.injections import INJECTION_KINDS, InjectedDetector, InjectionConfig
from deepclean.synthetic.scenarios import ScenarioName, scenario_config
from deepclean.synthetic.streaming import FrameStreamer, StreamReport

logger = logging.getLogger("deepclean.synthetic")


def current_gps() -> int:
    """The current GPS second.

    Returns
    -------
    int
        Now in GPS seconds (``gwpy.time``, leap seconds from astropy).
    """
    from gwpy.time import to_gps

    return int(to_gps("now"))


def resume_plan(layout: FrameLayout, history: int) -> tuple[int, int]:
    """Where to start and how much history is still to write.

    With frames on disk: the second after the newest, and only the part of
    ``history`` the frames on disk do not cover already (a restart goes live
    at once). Without: ``history`` seconds before now, all of it.

    Parameters
    ----------
    layout
        The detector's frame directories and names.
    history
        Seconds of history asked for before going live.

    Returns
    -------
    tuple of int
        The first GPS second to write and the seconds of history to write from it.
    """
    on_disk = layout.span_on_disk()
    if on_disk is None:
        return current_gps() - history, history
    oldest, newest = on_disk
    return newest + 1, max(0, history - (newest + 1 - oldest))


def main(
    strain_dir: Path,
    witness_dir: Path,
    truth_dir: Path,
    site: str = "H",
    ifo: str = "H1",
    strain_tag: str = "llhoft",
    witness_tag: str = "lldetchar",
    truth_tag: str = "llnoise",
    strain_channel: str | None = None,
    state_channel: str | None = None,
    truth_channel: str | None = None,
    strain_sample_rate: PositiveInt = 16384,
    witness_channels: list[str] | None = None,
    mains_channel: str | None = None,
    witness_sample_rates: dict[str, PositiveInt] | None = None,
    start: PositiveInt | None = None,
    duration: PositiveInt | None = None,
    speed: PositiveFloat = 1.0,
    history: NonNegativeInt = 0,
    seed: NonNegativeInt = 1,
    scenario: ScenarioName = "baseline",
    step_gps: PositiveInt = STEP_GPS,
    noise_rms: PositiveFloat = 5e-22,
    bilinear_fraction: ClosedUnitInterval = 0.45,
    num_coupled: NonNegativeInt = 4,
    design_curve: str = DEFAULT_PSD,
    not_ready_interval: NonNegativeFloat = 3600.0,
    not_ready_duration: PositiveFloat = 30.0,
    drop_strain_probability: ClosedUnitInterval = 0.0,
    drop_witness_probability: ClosedUnitInterval = 0.0,
    drop_strain_gps: list[int] | None = None,
    drop_witness_gps: list[int] | None = None,
    late_witness_probability: ClosedUnitInterval = 0.0,
    late_witness_gps: list[int] | None = None,
    late_witness_delay: PositiveFloat = 3.0,
    write_truth: bool = True,
    injection_interval: NonNegativeInt = 0,
    injection_kinds: list[Literal["inspiral", "sine_gaussian"]] | None = None,
    injection_snr_range: tuple[PositiveFloat, PositiveFloat] = (10.0, 30.0),
    injection_channel: str | None = None,
    retention_seconds: NonNegativeInt = 0,
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO",
) -> StreamReport:
    """Write synthetic live frames (strain, witnesses, state vector, truth) of one scenario (--list-scenarios).

    Writes ``history`` seconds from ``start`` at once, then one frame per
    ``1 / speed`` s of wall time, for ``duration`` seconds in all (forever
    when None). Stops after the current frame on SIGTERM or SIGINT.

    Parameters
    ----------
    strain_dir, witness_dir, truth_dir
        Output directories (truth only with ``write_truth``).
    site, ifo, strain_tag, witness_tag, truth_tag
        Frame file names ``<site>-<ifo>_<tag>-<gps>-1.gwf``.
    strain_channel, state_channel, truth_channel
        Channel names of the strain, state vector and injected noise (None:
        ``<ifo>:GDS-CALIB_STRAIN``, ``<ifo>:GDS-CALIB_STATE_VECTOR``, ``<ifo>:SYN-INJECTED_NOISE``).
    strain_sample_rate
        Strain sample rate (Hz).
    witness_channels
        Witness channels; ``mains_channel`` is the mains monitor, the others
        are angular-control loops (None: the 21 witnesses of
        :func:`~deepclean.synthetic.detector_config.default_witnesses` for ``ifo``).
    mains_channel
        The mains monitor channel (must be among ``witness_channels``; None:
        ``<ifo>:PEM-CS_MAINSMON_EBAY_1_DQ``).
    witness_sample_rates
        Native rates overriding the defaults (mains 1024 Hz, loops 256/512 Hz,
        two at 2048 Hz).
    start
        First GPS second; default: after the newest frame present (writing
        only the history not on disk yet), else now minus ``history``.
    duration
        Seconds to write in all (None: forever).
    speed
        Live pace in stream seconds per wall-clock second.
    history
        Seconds written at once before going live.
    seed
        Seed of everything random: the same seed gives the same data.
    scenario
        The simulated world (:mod:`deepclean.synthetic.scenarios`;
        ``--list-scenarios`` prints them); the other settings apply on top.
    step_gps
        GPS second of the coupling step of the scenarios that have one.
    noise_rms
        RMS strain of the injected mains noise.
    bilinear_fraction
        Fraction of the injected noise power in the mains x angular sidebands.
    num_coupled
        Number of angular loops that modulate the mains coupling.
    design_curve
        Sensitivity curve of the strain floor: ``lalsimulation.SimNoisePSD<name>``
        (default the O4 curve of T1800545).
    not_ready_interval, not_ready_duration
        Mean spacing and length (s) of not-analysis-ready segments (interval
        0: always ready; otherwise at least 600 s).
    drop_strain_probability, drop_witness_probability, drop_strain_gps, drop_witness_gps
        Strain or witness frames never written (by chance or listed GPS).
    late_witness_probability, late_witness_gps, late_witness_delay
        Witness frames written ``late_witness_delay`` s after their slot.
    write_truth
        Also write the injected noise into ``truth_dir``.
    injection_interval, injection_kinds, injection_snr_range, injection_channel
        Astrophysical signals added to the strain only (never the witnesses):
        one every ``injection_interval`` s (0: none), of the kinds taken in
        turn (None: inspiral and sine_gaussian), at optimal SNRs drawn from the
        range; their strain is the truth frames' ``injection_channel`` (None:
        ``<ifo>:SYN-INJECTION``) and their
        records a JSON-lines file next to them (see
        :mod:`deepclean.synthetic.injections`).
    retention_seconds
        Delete this detector's frames older than this many GPS seconds
        before the newest (0: keep all; frames take 0.4 MB per second of data).
    log_level
        Logging level.
    """
    configure_logging("detector", log_level)
    try:
        faults = from_keys(
            FaultInjection,
            locals(),
            drop_strain_gps=frozenset(drop_strain_gps or ()),
            drop_witness_gps=frozenset(drop_witness_gps or ()),
            late_witness_gps=frozenset(late_witness_gps or ()),
        )
        layout = from_keys(FrameLayout, locals(), truth_dir=truth_dir if write_truth else None)
        config = scenario_config(
            scenario,
            seed=seed,
            strain_channel=strain_channel or f"{ifo}:GDS-CALIB_STRAIN",
            state_channel=state_channel or f"{ifo}:GDS-CALIB_STATE_VECTOR",
            truth_channel=truth_channel or f"{ifo}:SYN-INJECTED_NOISE",
            strain_sample_rate=strain_sample_rate,
            witness_channels=tuple(witness_channels or default_witnesses(ifo)),
            mains_channel=mains_channel or mains_witness(ifo),
            witness_sample_rates=dict(witness_sample_rates or {}),
            noise_rms=noise_rms,
            bilinear_fraction=bilinear_fraction,
            num_coupled=num_coupled,
            design_curve=design_curve,
            not_ready_interval=not_ready_interval or None,
            not_ready_duration=not_ready_duration,
            step_gps=step_gps,
        )
        detector = SyntheticDetector(config)
        if injection_interval:
            detector = InjectedDetector(
                detector,
                InjectionConfig(
                    interval=injection_interval,
                    kinds=tuple(injection_kinds or INJECTION_KINDS),
                    snr_range=(float(injection_snr_range[0]), float(injection_snr_range[1])),
                    channel=injection_channel or f"{ifo}:SYN-INJECTION",
                ),
            )
    except ValueError as exc:  # settings that pass their types but not the detector's checks
        raise ConfigError(str(exc)) from None
    if start is None:
        start, history = resume_plan(layout, history)
    logger.info(
        "writing scenario %s from GPS %d (%d s history, then %g x real time, %s); coupled loops: %s",
        scenario,
        start,
        history,
        speed,
        "forever" if duration is None else f"{duration} s in all",
        ", ".join(detector.coupled_channels),
    )
    with stop_on_signals("detector") as stop:
        streamer = FrameStreamer(detector, layout, faults, speed=speed, stop=stop, retention=retention_seconds or None)
        report = streamer.run(start, history, duration)
    logger.info(
        "%s at GPS %d: %d strain, %d witness, %d truth frames written",
        "stopped" if report.stopped else "finished",
        report.next_gps,
        report.strain_frames,
        report.witness_frames,
        report.truth_frames,
    )
    return report
