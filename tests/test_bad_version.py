"""A version that removes the 60 Hz line but adds noise next to the band is caught, and never promoted.

Two versions are exported through the real exporter (HTTP, token): a good one,
pinned as production, whose linear path maps the mains monitor onto the strain
and whose narrow band-pass (58-62 Hz, order 2) keeps the mains monitor's sensor
noise in the bins the line covers; and a bad one, the canary, which removes the
line the same way and adds a broadband witness (its own sensor noise, unrelated
to the strain) through a second difference that vanishes at 60 Hz, band-passed
to 51-69 Hz. Its estimate is noise growing with the distance from the line: the
carrier removal keeps the mean ASD ratio over the band below 1, while the bins
a few Hz from it (the band's edges and the shoulders outside it) get about
twice the raw ASD.

The real cleaner (embedded onnxruntime) and monitor run over a live feed of the
cross-service synthetic data. What must hold:

- the cleaner's safety gate falls back to raw on the canary stream (DQ bit
  SAFETY_FALLBACK, shifted to the canary's bits) for the seconds after its
  first window, and writes the raw strain there;
- the monitor never promotes the canary, and the good production stays;
- with :mod:`deepclean.figures`, the canary as written is not worse than raw,
  while the cleaning it would have written (the same run with the gate off) is.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from fault_frames import STRAIN, WITNESSES, LiveFeed, strain_path
from fault_services import (
    ROOT,
    TOKEN,
    auth,
    cleaner_command,
    layout,
    program,
    start_exporter,
    write_config,
    write_training_dir,
)

from deepclean.figures import BinPowers, judge_bins, range_lost
from deepclean.frames import read_frame
from deepclean.testing.processes import free_port, start, stop, wait_for

START = 1400000000
DURATION = 80
HISTORY = 10  # seconds before START, on disk before the services start
RATE = 6.0  # frames per wall second
BAND = (55.0, 65.0)  # [tool.typeo.base] band: what the gate and the monitor judge
CHECK_RANGE = (10.0, 2000.0)
SHOULDERS = [*range(51, 55), *range(66, 70)]  # the 4 Hz either side of BAND
GATE_WINDOW = 16
PRODUCTION = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION"
CANARY = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY"
PRODUCTION_VERSION = "H1:DEEPCLEAN-PRODUCTION_VERSION"
CANARY_VERSION = "H1:DEEPCLEAN-CANARY_VERSION"
DQ_CHANNEL = "H1:DEEPCLEAN-DQ"

_spec = importlib.util.spec_from_file_location("cleaner_dq", ROOT / "projects/cleaner/deepclean_cleaner/dq.py")
dq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dq)
NOT_MEASURABLE = dq.NO_MODEL | dq.INPUT_GAP | dq.NOT_ANALYSIS_READY

# The networks: the autoencoder's output is zeroed, the linear path (kernel KERNEL, inputs: the four
# z-scored witnesses, then the mains monitor times each other witness) holds the given taps.
KERNEL = 35
MAINS = WITNESSES.index("H1:PEM-CS_MAINSMON_EBAY_1_DQ")  # a unit 60 Hz sine plus 1 % sensor noise
BROADBAND = WITNESSES.index("H1:ASC-INP1_Y_OUT_DQ")  # white noise at 512 Hz
LINE_TAP = 10.0  # mains monitor (unit sine) x 10 x target_std 1e-22 = the 1e-21 line in the strain
NOTCH = 17  # samples at 1024 Hz: w[t - 17] - 2 w[t] + w[t + 17] has a double zero at 60.2 Hz
NOISE_GAIN = 0.7  # bins 52-53 and 67-68 Hz at about 2.3 x the raw ASD, the band's mean ratio about 0.9


def _training_dir(root: Path, name: str, taps: dict[tuple[int, int], float], band, band_pass: dict) -> Path:
    """A training directory whose network is only the linear path with ``taps`` ((input, offset) -> weight)
    and whose estimate is band-passed with ``band_pass`` (order and band of metadata["filter"])."""
    import torch

    from deepclean.architecture import DeepClean

    directory = write_training_dir(root, name)
    metadata = json.loads((directory / "metadata.json").read_text())
    kwargs = {**metadata["architecture"]["kwargs"], "linear_kernel_size": KERNEL}
    network = DeepClean(**kwargs)
    with torch.no_grad():
        network.output_conv.weight.zero_()
        network.output_conv.bias.zero_()
        for (channel, offset), weight in taps.items():
            network.linear.weight[0, channel, KERNEL // 2 + offset] = weight
    torch.save(network.state_dict(), directory / "weights.pt")
    metadata["architecture"]["kwargs"] = kwargs
    metadata["band"] = list(band)
    metadata["filter"] = {**metadata["filter"], **band_pass}
    (directory / "metadata.json").write_text(json.dumps(metadata))
    return directory


GOOD = {(MAINS, 0): LINE_TAP}
BAD = {**GOOD, (BROADBAND, -NOTCH): NOISE_GAIN, (BROADBAND, 0): -2 * NOISE_GAIN, (BROADBAND, NOTCH): NOISE_GAIN}


@dataclass
class Stream:
    """One stream of the cleaned frames, second by second from START."""

    strain: list[np.ndarray]
    versions: list[set[int]]
    dq: list[np.ndarray]  # the stream's own bits (canary shifted down)

    def measurable(self, version: int) -> list[int]:
        """Offsets of the seconds cleaned (or fallen back) by ``version`` alone."""
        return [
            i
            for i, (v, bits) in enumerate(zip(self.versions, self.dq, strict=False))
            if v == {version} and not np.any(bits & NOT_MEASURABLE)
        ]

    def fell_back(self, i: int) -> bool:
        return bool(np.any(self.dq[i] & dq.SAFETY_FALLBACK))

    def held(self, i: int) -> bool:
        """The fallback covers the whole second (every 1/16 s) and the one before."""
        return all(np.all(self.dq[j] & dq.SAFETY_FALLBACK) for j in (i - 1, i) if j >= 0)


def _read_streams(cleaned_dir: Path) -> tuple[Stream, Stream]:
    production, canary = Stream([], [], []), Stream([], [], [])
    for gps in range(START, START + DURATION):
        frame = read_frame(
            cleaned_dir / f"H-H1_DEEPCLEAN-{gps}-1.gwf",
            [PRODUCTION, CANARY, PRODUCTION_VERSION, CANARY_VERSION, DQ_CHANNEL],
        )
        bits = np.asarray(frame[DQ_CHANNEL], dtype=np.int64)
        for stream, strain, version, shift in (
            (production, PRODUCTION, PRODUCTION_VERSION, 0),
            (canary, CANARY, CANARY_VERSION, dq.CANARY_SHIFT),
        ):
            stream.strain.append(np.asarray(frame[strain]))
            stream.versions.append(set(np.unique(frame[version]).tolist()))
            stream.dq.append((bits >> shift) & 0xFF)
    return production, canary


@dataclass
class Loop:
    """What the run left: raw strain, the cleaned streams (gate on and off), decisions and pins."""

    raw: list[np.ndarray]
    production: Stream
    canary: Stream
    unsafe_canary: Stream
    decisions: list[dict]
    production_pins: set
    pins: dict
    monitor_metrics: str


def _powers(raw: list[np.ndarray], cleaned: list[np.ndarray], seconds: list[int]) -> BinPowers:
    return BinPowers.of_strain(
        np.concatenate([raw[i] for i in seconds]), np.concatenate([cleaned[i] for i in seconds]), 16384
    )


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture(scope="module")
def loop(tmp_path_factory) -> Loop:
    """Export the good (production) and bad (canary) versions, then clean and monitor a live feed."""
    run = tmp_path_factory.mktemp("bad-version")
    port = free_port()
    config = write_config(
        run,
        port,
        clean={"strain_timeout": 10.0, "witness_timeout": 5.0, "metrics_port": 0},
        monitor={
            "segment_seconds": 4,
            "window_seconds": 32,
            "min_seconds": 16,
            "sustain_seconds": 8,
            "rollback_sustain_seconds": 8,
            "settle_seconds": 8,
            "start_gps": START,
            "frame_timeout": 3.0,
            "poll_interval": 0.2,
            "report_interval": 2.0,
            "metrics_port": 0,
        },
    )
    training = run / "run" / "training"
    training.mkdir(parents=True)
    exporter = start_exporter(run, port, config)
    processes = []
    try:
        for name, taps, band, band_pass in (
            ("good", GOOD, (59.0, 61.0), {"order": 2, "band": [58.0, 62.0]}),
            ("bad", BAD, BAND, {"order": 8, "band": [51.0, 69.0]}),
        ):
            directory = _training_dir(training, name, taps, band, band_pass)
            answer = requests.post(
                f"{exporter.url}/export", json={"training_dir": str(directory)}, headers=auth(), timeout=120
            )
            assert answer.status_code == 201, answer.text
            if name == "good":
                assert requests.put(
                    f"{exporter.url}/production", json={"version": answer.json()["version"]}, headers=auth(), timeout=30
                ).ok
        pins = requests.get(f"{exporter.url}/versions", timeout=5).json()
        assert (pins["production"], pins["canary"]) == (1, 2), pins

        data, cleaned = layout(run).data, layout(run).cleaned
        # the history before START is on disk at once: the cleaner reads it first (its preroll), so every
        # second from START on is cleaned by primed stages, none by a chain still filling up
        feed = LiveFeed(data, START - HISTORY, DURATION + HISTORY, RATE, history=HISTORY)
        cleaner_log, monitor_log = run / "cleaner.log", run / "monitor.log"
        cleaner = start(cleaner_command(config, "--start_gps", START, "--stop_gps", feed.end), cleaner_log)
        monitor = start(
            [program("monitor", "deepclean-monitor"), "--config", config, "--profile", "faults"],
            monitor_log,
            env={"DEEPCLEAN_EXPORTER_TOKEN": TOKEN},
        )
        processes += [cleaner, monitor]
        production_pins = set()
        prom = layout(run).reports / "monitor.prom"

        def monitor_done() -> bool:
            production_pins.add(requests.get(f"{exporter.url}/production", timeout=5).json()["version"])
            assert monitor.poll() is None, monitor_log.read_text()[-3000:]
            last = _metric(prom.read_text(), "deepclean_monitor_last_gps") if prom.exists() else None
            return cleaner.poll() is not None and last is not None and last >= feed.end - 1

        with feed:
            wait_for(
                monitor_done,
                DURATION / RATE + 90,
                "the cleaner to finish and the monitor to read every frame",
                interval=0.5,
            )
        assert cleaner.returncode == 0, cleaner_log.read_text()[-3000:]
        stop(monitor)

        # the same input cleaned again with the gate off: what the canary would have written
        unsafe_dir = run / "run" / "cleaned-unsafe"
        unsafe_log = run / "cleaner-unsafe.log"
        unsafe = start(
            cleaner_command(
                config, "--start_gps", START, "--stop_gps", feed.end, "--safety", "false", "--cleaned_dir", unsafe_dir
            ),
            unsafe_log,
        )
        processes.append(unsafe)
        wait_for(lambda: unsafe.poll() is not None, 120, "the cleaner with the gate off to finish")
        assert unsafe.returncode == 0, unsafe_log.read_text()[-3000:]

        decisions_file = layout(run).decisions
        decisions = (
            [json.loads(line) for line in decisions_file.read_text().splitlines() if line.strip()]
            if decisions_file.exists()
            else []
        )
        production, canary = _read_streams(cleaned)
        _, unsafe_canary = _read_streams(unsafe_dir)
        raw = [read_frame(strain_path(data, gps), [STRAIN])[STRAIN] for gps in range(START, feed.end)]
        return Loop(
            raw,
            production,
            canary,
            unsafe_canary,
            decisions,
            production_pins,
            json.loads((exporter.model_dir / "pins.json").read_text()),
            prom.read_text(),
        )
    finally:
        for process in processes:
            stop(process)
        stop(exporter.process)


def test_bad_canary_is_never_promoted_and_good_production_stays(loop):
    """The monitor measured the canary for longer than a promotion needs, decided nothing, and production
    stayed the good version 1 at the exporter throughout."""
    window = _metric(loop.monitor_metrics, 'deepclean_monitor_window_seconds{version="2"}')
    assert window is not None and window >= 16, f"the monitor measured the canary for {window} s only"
    decided = [(d["action"], d["version"]) for d in loop.decisions if d["event"] == "decided"]
    assert decided == [], f"the monitor decided {decided}"
    assert loop.production_pins == {1}, f"production was {sorted(loop.production_pins, key=str)}"
    assert (loop.pins["production"], loop.pins["canary"]) == (1, 2), loop.pins
    assert 2 not in loop.pins["history"], loop.pins
    assert _metric(loop.monitor_metrics, 'deepclean_monitor_better_than_raw{version="1"}') == 1.0


def test_gate_falls_back_to_raw_on_the_bad_canary(loop):
    """After the gate's first window, at least 80 % of the canary's measurable seconds carry the fallback bit,
    and where the fallback held the whole second the canary channel is the raw strain."""
    measurable = loop.canary.measurable(2)
    assert len(measurable) >= DURATION - 16, f"only {len(measurable)} measurable canary seconds"
    judged = [i for i in measurable if i >= measurable[0] + GATE_WINDOW]
    fell_back = [i for i in judged if loop.canary.fell_back(i)]
    assert len(fell_back) >= 0.8 * len(judged), (
        f"fallback in {len(fell_back)} of {len(judged)} canary seconds after the first window"
    )
    held = [i for i in measurable if loop.canary.held(i)]
    assert held, "no canary second fell back for the whole second"
    differing = [START + i for i in held if not np.array_equal(loop.canary.strain[i], loop.raw[i])]
    assert differing == [], f"fallback seconds whose canary channel is not the raw strain: {differing}"


def test_canary_as_written_is_not_worse_than_raw_but_would_have_been(loop):
    """deepclean.figures over the canary's judged seconds: the cleaning the gate refused adds noise in the
    shoulders (ASD >= 2 x raw) while its band mean ratio stays below 1, and every window of the gate's
    length fails on its bins; what was written adds none."""
    measurable = loop.canary.measurable(2)
    judged = [i for i in measurable if i >= measurable[0] + GATE_WINDOW]
    unsafe = loop.unsafe_canary.measurable(2)
    assert set(measurable) <= set(unsafe), "seconds measurable live but not in the run with the gate off"

    would_be = _powers(loop.raw, loop.unsafe_canary.strain, judged)
    judgement = judge_bins(would_be, BAND, CHECK_RANGE)
    ratios = would_be.bin_asd_ratios()
    shoulder_worst = max(ratios[f] for f in SHOULDERS)
    assert set(judgement.failing_bins) & set(SHOULDERS), judgement.describe()
    assert shoulder_worst >= 2.0, f"worst shoulder bin only {shoulder_worst:.2f} x raw"
    assert judgement.band_ratio < 1.0, f"band ratio {judgement.band_ratio:.3f}: the band mean alone would catch it"
    windows = [unsafe[k : k + GATE_WINDOW] for k in range(len(unsafe) - GATE_WINDOW + 1)]
    passing = [
        START + w[0]
        for w in windows
        if not judge_bins(_powers(loop.raw, loop.unsafe_canary.strain, w), BAND, CHECK_RANGE).failing_bins
    ]
    assert passing == [], f"{len(passing)} of {len(windows)} {GATE_WINDOW} s windows (from GPS {passing}) add no noise"

    written = judge_bins(_powers(loop.raw, loop.canary.strain, judged), BAND, CHECK_RANGE)
    assert written.passed, f"the canary as written: {written.describe()}"
    subtracted_seconds = [i for i in measurable if not loop.canary.fell_back(i)]
    if subtracted_seconds:
        subtracted = judge_bins(_powers(loop.raw, loop.canary.strain, subtracted_seconds), BAND, CHECK_RANGE)
        assert subtracted.passed, f"the canary's seconds without fallback: {subtracted.describe()}"


def test_good_production_cleans_without_adding_noise(loop):
    """The production stream (version 1) removes the line, adds no noise in any bin and loses no BNS range."""
    measurable = loop.production.measurable(1)
    assert len(measurable) >= DURATION - 16
    fell_back = [START + i for i in measurable if loop.production.fell_back(i)]
    assert fell_back == [], f"the gate fell back on the good production at {fell_back}"
    powers = _powers(loop.raw, loop.production.strain, measurable)
    judgement = judge_bins(powers, BAND, CHECK_RANGE)
    assert judgement.passed, judgement.describe()
    assert judgement.band_ratio < 0.9, f"band ratio {judgement.band_ratio:.3f}"
    assert not range_lost(powers.bns_range_mpc("raw"), powers.bns_range_mpc("cleaned"))
