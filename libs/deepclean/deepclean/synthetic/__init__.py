"""The synthetic detector: the embedded default data feed.

It produces what a detector's low-latency frames hold: strain
(``H1:GDS-CALIB_STRAIN``, 16384 Hz) whose floor follows a published Advanced
LIGO sensitivity curve, plus 60 Hz mains noise; the 21 witnesses at their
native rates (the mains monitor at 1024 Hz, angular-control loops at 256, 512
or 2048 Hz); and the state vector (16 Hz, analysis ready except for rare
not-ready segments). The mains noise is a line with slow frequency jitter and
amplitude wander coupled through a slowly drifting gain and phase, plus
sidebands from the mains multiplied by a few of the angular loops (a bilinear
coupling a linear filter cannot remove; by default 45 % of the injected
power). The injected noise alone is available as truth.

Every GPS second has the same content however it is produced (in a long
span, second by second, after a restart), given the seed.

That is the baseline world; :mod:`deepclean.synthetic.scenarios` names others
(coupling steps, fast drifts, sideband lines, broad skirts, other witness
rates, mains harmonics, nonlinear couplings, ...), each with its truth::

    from deepclean.synthetic import SCENARIOS, scenario_config

    detector = SyntheticDetector(scenario_config("coupling-step", seed=3))

Python API (no files)::

    from deepclean.synthetic import DetectorConfig, SyntheticDetector

    detector = SyntheticDetector(DetectorConfig(seed=1))
    span = detector.generate(1400000000, 64)     # a SyntheticSpan
    span.strain, span.state                      # 16384 Hz float64, 16 Hz int32
    span.witnesses["H1:ASC-DHARD_P_OUT_DQ"]      # at span.witness_sample_rates[...]
    span.truth                                   # injected noise; span.floor = strain - truth
    detector.coupled_channels                    # the loops that modulate the mains coupling

Frames::

    from deepclean.synthetic import FrameLayout, write_span

    layout = FrameLayout(strain_dir, witness_dir, truth_dir)   # names as in docs/interfaces.md
    write_span(span, layout)                                   # every second, atomically

    FrameStreamer(detector, layout, faults, speed=10).run(start, history=600)  # paced, with faults

The service that writes these frames live, ``deepclean-detector`` (table
``[tool.typeo.scripts.detector]``), is :mod:`deepclean_tools.detector` (``tools/``).

Modules: ``random_streams`` (seeded noise by block), ``colouring`` (design
curve, FIR colouring), ``drifts`` (slow drifts and steps of GPS time),
``mains`` (line, harmonics and couplings), ``couplings`` (forms of the
modulation, coupling steps), ``witnesses`` (angular loops, sample rates,
response delays), ``state_vector``, ``span`` (the data of a stretch),
``detector_config`` (what to produce), ``scenarios`` (named worlds),
``detector`` (generation in blocks), ``injections`` (astrophysical signals in
the strain only: inspirals and sine-Gaussians, on a schedule from the seed),
``faults`` (dropped and late frames), ``frame_writer``,
``streaming`` (history and paced live writing).
"""

from .detector import BLOCK_SECONDS, H1_WITNESSES, DetectorConfig, SyntheticDetector
from .faults import FaultInjection
from .frame_writer import FrameLayout, write_span
from .injections import InjectedDetector, InjectionConfig, InjectionSchedule
from .scenarios import SCENARIOS, scenario_config
from .span import SyntheticSpan
from .state_vector import ANALYSIS_READY, STATE_RATE
from .streaming import FrameStreamer, StreamReport

__all__ = [
    "ANALYSIS_READY",
    "BLOCK_SECONDS",
    "H1_WITNESSES",
    "SCENARIOS",
    "STATE_RATE",
    "DetectorConfig",
    "FaultInjection",
    "FrameLayout",
    "FrameStreamer",
    "InjectedDetector",
    "InjectionConfig",
    "InjectionSchedule",
    "StreamReport",
    "SyntheticDetector",
    "SyntheticSpan",
    "scenario_config",
    "write_span",
]
