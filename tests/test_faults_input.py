"""Input faults through the cleaner end to end: one live run, one test per fault.

``deepclean-clean`` (its own environment, embedded backend, the real exporter's
model repository) follows frames that a feeder thread writes at FEED_RATE
frames per second, injecting every input fault of the schedule below. Each test
then checks the cleaned frames of its seconds; the first checks the whole
stream: one cleaned frame for every second whose strain frame could be read,
none written twice, and the latency once the faults are over.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    STATE,
    STRAIN,
    WITNESSES,
    free_port,
    program,
    record_fault,
    start,
    stop,
    strain_path,
    synthetic_seconds,
    wait_for,
    witness_path,
    write_config,
    write_second,
    writes_per_second,
)
from deepclean.frames import read_frame, write_frame

START = 1400000000
FEED_RATE = 6.0  # frames per second of wall time
JUMP = 300  # the clock jump, in seconds
PRODUCTION = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION"
CANARY = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY"
DQ = "H1:DEEPCLEAN-DQ"
CLEANED, FALLBACK, NO_MODEL, INPUT_GAP, NOT_READY = 1, 2, 4, 8, 16

# GPS offsets of the faults (from START), 10 s apart so that cleaning resumes between two of them
# (a restarted chain needs about 6 s of input); the stream jumps by JUMP after BEFORE_JUMP and runs 16 s more
DROPPED_STRAIN = 14
DROPPED_WITNESS = 24
LATE_WITNESS = 34
TRUNCATED_STRAIN = 44
CORRUPT_WITNESS = 54
CORRUPT_STRAIN = 64
MISSING_CHANNEL = 74
NAN_WITNESS = 84
INF_WITNESS = 94
RATE_CHANGE = range(104, 107)
NOT_READY_SECONDS = range(116, 121)
BEFORE_JUMP = 132
OFFSETS = [*range(BEFORE_JUMP), *range(BEFORE_JUMP + JUMP, BEFORE_JUMP + JUMP + 16)]
UNREADABLE = {DROPPED_STRAIN, CORRUPT_STRAIN}


def _truncate_then_complete(path: Path, frame: dict, gps: int, delay: float) -> None:
    """Leave the first half of the file at its final name; write the rest ``delay`` seconds later."""
    scratch = path.with_name("scratch-" + path.name)
    write_frame(scratch, frame, t0=gps)
    content = scratch.read_bytes()
    scratch.unlink()
    path.write_bytes(content[: len(content) // 2])
    threading.Timer(delay, lambda: path.write_bytes(content)).start()


def _feed(data: Path, seconds: dict[int, dict]) -> None:
    """Write the live stream with its faults, one second every 1 / FEED_RATE s."""
    for offset in OFFSETS:
        gps = START + offset
        second = seconds[gps]
        witnesses = dict(second["witness"])
        if offset == MISSING_CHANNEL:
            del witnesses[WITNESSES[3]]
        if offset == NAN_WITNESS:
            witnesses[WITNESSES[1]] = witnesses[WITNESSES[1]].copy()
            witnesses[WITNESSES[1]][100] = np.nan
        if offset == INF_WITNESS:
            witnesses[WITNESSES[2]] = witnesses[WITNESSES[2]].copy()
            witnesses[WITNESSES[2]][5] = np.inf
        if offset in RATE_CHANGE:  # 512 Hz channel recorded at 1024 Hz for a while
            witnesses[WITNESSES[2]] = np.repeat(witnesses[WITNESSES[2]], 2)
        strain = dict(second["strain"])
        if offset in NOT_READY_SECONDS:
            strain[STATE] = np.full(16, 1, dtype=np.int32)
        second = {"strain": strain, "witness": witnesses}

        if offset == LATE_WITNESS:
            threading.Timer(5.0, write_frame, (witness_path(data, gps), witnesses), {"t0": gps}).start()
        elif offset == CORRUPT_WITNESS:
            witness_path(data, gps).write_bytes(np.random.default_rng(1).bytes(40000))
        elif offset != DROPPED_WITNESS:
            write_frame(witness_path(data, gps), witnesses, t0=gps)

        if offset == TRUNCATED_STRAIN:
            _truncate_then_complete(strain_path(data, gps), strain, gps, delay=1.0)
        elif offset == CORRUPT_STRAIN:
            strain_path(data, gps).write_bytes(np.random.default_rng(2).bytes(140000))
        elif offset != DROPPED_STRAIN:
            write_second(data, gps, second, witness=False)
        if offset >= 10:
            time.sleep(1.0 / FEED_RATE)


@pytest.fixture(scope="module")
def stream(tmp_path_factory, model_repository):
    """The cleaner run over the faulty stream: (run directory, cleaned directory, arrival time per GPS)."""
    run = tmp_path_factory.mktemp("input-faults")
    config = write_config(run, free_port(), clean={"strain_timeout": 2.0, "witness_timeout": 1.5})
    shutil.copytree(model_repository, run / "run" / "model-repo")
    data = run / "run" / "data"
    (data / "llhoft").mkdir(parents=True)
    (data / "lldetchar").mkdir(parents=True)
    seconds = synthetic_seconds(START, BEFORE_JUMP + JUMP + 16)
    for offset in range(10):  # history already on disk when the cleaner starts
        write_second(data, START + offset, seconds[START + offset])
    log = run / "cleaner.log"
    cleaner = start(
        [
            program("cleaner", "deepclean-clean"),
            "--config",
            run / "pyproject.toml",
            "--profile",
            "faults",
            "--backend",
            "embedded",
            "--safety",
            "false",
            "--log_level",
            "DEBUG",
            "--start_gps",
            START,
            "--stop_gps",
            START + OFFSETS[-1] + 1,
        ],
        log,
    )
    try:
        feeder = threading.Thread(target=_feed, args=(data, seconds))
        feeder.start()
        feeder.join()
        wait_for(lambda: cleaner.poll() is not None, 120, "the cleaner to finish the stream")
    finally:
        code = stop(cleaner)
    arrivals = {int(p.name.split("-")[2]): p.stat().st_mtime for p in (data / "llhoft").iterdir()}
    yield run, run / "run" / "cleaned", arrivals, code, log
    del config


def _frame(cleaned: Path, offset: int) -> dict:
    return read_frame(cleaned / f"H-H1_DEEPCLEAN-{START + offset}-1.gwf")


def _raw(run: Path, offset: int) -> np.ndarray:
    return read_frame(strain_path(run / "run" / "data", START + offset), [STRAIN])[STRAIN]


def _production_bits(frame: dict) -> int:
    return int(np.bitwise_or.reduce(frame[DQ])) & 0xFF


def test_every_readable_second_is_written_once_and_latency_recovers(stream):
    """One frame per readable strain second, none twice, exit 0; after the faults each is out within 1.5 s."""
    _, cleaned, arrivals, code, log = stream
    expected = [START + o for o in OFFSETS if o not in UNREADABLE]
    written = sorted(int(p.name.split("-")[2]) for p in cleaned.glob("H-H1_DEEPCLEAN-*-1.gwf"))
    counts = writes_per_second(log)
    twice = sorted(gps for gps, n in counts.items() if n > 1)
    record_fault("input: all input faults in one stream (cleaner)", code == 0, len(expected), len(written), len(twice))
    assert code == 0, log.read_text()[-3000:]
    assert written == expected
    assert twice == []
    assert sorted(counts) == expected
    # latency: the last 6 seconds, each written within 1.5 s of the next strain frame's arrival
    for offset in OFFSETS[-7:-1]:
        gps = START + offset
        latency = (cleaned / f"H-H1_DEEPCLEAN-{gps}-1.gwf").stat().st_mtime - arrivals[gps + 1]
        assert latency < 1.5, f"GPS {gps} written {latency:.2f} s after the next strain frame"


def _check_raw_with(run, cleaned, offset: int, bit: int, fault: str, log_words: tuple[str, ...]) -> None:
    frame = _frame(cleaned, offset)
    raw = _raw(run, offset)
    bits = _production_bits(frame)
    text = run.joinpath("cleaner.log").read_text()
    named = any(word in text for word in log_words)
    ok = bool(bits & bit) and np.array_equal(frame[PRODUCTION], raw) and np.array_equal(frame[CANARY], raw) and named
    record_fault(f"input: {fault}", ok, 1, 1, 0)
    assert bits & bit, f"{fault}: DQ bits {bits:#x} lack {bit:#x}"
    np.testing.assert_array_equal(frame[PRODUCTION], raw)
    np.testing.assert_array_equal(frame[CANARY], raw)
    assert named, f"{fault}: no log line with any of {log_words}"


def _cleaning_resumes(cleaned: Path, after: int, within: int = 9) -> None:
    """Some second within ``within`` s after ``after`` is cleaned again, and every output is finite."""
    frames = [_frame(cleaned, o) for o in range(after + 1, after + 1 + within)]
    assert all(np.isfinite(f[PRODUCTION]).all() and np.isfinite(f[CANARY]).all() for f in frames)
    assert any(_production_bits(f) & CLEANED for f in frames), f"not cleaned again within {within} s of +{after}"


def test_dropped_strain_frame_has_no_output(stream):
    """A strain second that never came has no cleaned frame; its neighbours do and cleaning resumes."""
    _, cleaned, *_ = stream
    present = [
        (cleaned / f"H-H1_DEEPCLEAN-{START + o}-1.gwf").exists()
        for o in (DROPPED_STRAIN - 1, DROPPED_STRAIN, DROPPED_STRAIN + 1)
    ]
    record_fault("input: dropped strain frame", present == [True, False, True], 0, int(present[1]), 0)
    assert present == [True, False, True]
    _cleaning_resumes(cleaned, DROPPED_STRAIN)


def test_dropped_witness_frame_is_raw_with_the_gap_bit(stream):
    """A witness frame that never came: raw strain in both streams, input-gap bit, a log line."""
    run, cleaned, *_ = stream
    _check_raw_with(run, cleaned, DROPPED_WITNESS, INPUT_GAP, "dropped witness frame", (f"{START + DROPPED_WITNESS}",))
    _cleaning_resumes(cleaned, DROPPED_WITNESS)


def test_witness_five_seconds_late_is_raw_and_the_stream_does_not_stall(stream):
    """A witness 5 s late (witness timeout 1.5 s) is written raw with the gap bit; later seconds are cleaned."""
    run, cleaned, *_ = stream
    _check_raw_with(run, cleaned, LATE_WITNESS, INPUT_GAP, "witness frame 5 s late", ("late",))
    _cleaning_resumes(cleaned, LATE_WITNESS)


def test_strain_frame_truncated_mid_write_then_completed_is_cleaned(stream):
    """A strain file read while half written is re-read once complete and cleaned like any other second."""
    run, cleaned, *_ = stream
    frame = _frame(cleaned, TRUNCATED_STRAIN)
    ok = bool(_production_bits(frame) & CLEANED) and not np.array_equal(frame[PRODUCTION], _raw(run, TRUNCATED_STRAIN))
    record_fault("input: strain frame truncated then completed", ok, 1, 1, 0)
    assert ok


def test_corrupt_witness_frame_is_raw_with_the_gap_bit(stream):
    """A witness file that never becomes readable: raw with the gap bit, the reader's error logged."""
    run, cleaned, *_ = stream
    _check_raw_with(run, cleaned, CORRUPT_WITNESS, INPUT_GAP, "corrupt witness frame", ("corrupt",))
    _cleaning_resumes(cleaned, CORRUPT_WITNESS)


def test_corrupt_strain_frame_is_a_logged_gap(stream):
    """A strain file that never becomes readable has nothing to write: no frame, a log line naming it."""
    run, cleaned, *_ = stream
    missing = not (cleaned / f"H-H1_DEEPCLEAN-{START + CORRUPT_STRAIN}-1.gwf").exists()
    named = f"H-H1_llhoft-{START + CORRUPT_STRAIN}-1.gwf" in run.joinpath("cleaner.log").read_text()
    record_fault("input: corrupt strain frame", missing and named, 0, int(not missing), 0)
    assert missing and named
    _cleaning_resumes(cleaned, CORRUPT_STRAIN)


def test_witness_frame_missing_a_channel_is_raw_with_the_gap_bit(stream):
    """A witness frame without one configured channel: raw with the gap bit, the channel named in the log."""
    run, cleaned, *_ = stream
    _check_raw_with(run, cleaned, MISSING_CHANNEL, INPUT_GAP, "witness frame missing a channel", (WITNESSES[3],))
    _cleaning_resumes(cleaned, MISSING_CHANNEL)


@pytest.mark.parametrize("offset, kind", [(NAN_WITNESS, "NaN"), (INF_WITNESS, "inf")])
def test_nonfinite_witness_is_raw_and_does_not_poison_later_seconds(stream, offset, kind):
    """A NaN or inf witness sample: that second is raw and flagged, later outputs are finite and cleaned."""
    run, cleaned, *_ = stream
    frame = _frame(cleaned, offset)
    finite = np.isfinite(frame[PRODUCTION]).all() and np.isfinite(frame[CANARY]).all()
    flagged = bool(_production_bits(frame) & INPUT_GAP)
    named = f"GPS {START + offset}: non-finite witness samples" in run.joinpath("cleaner.log").read_text()
    record_fault(f"input: {kind} in a witness", finite and flagged and named, 1, 1, 0)
    assert finite, f"{kind} reached the cleaned strain"
    assert flagged, f"a second with {kind} witnesses lacks the input-gap bit"
    assert named
    _cleaning_resumes(cleaned, offset)


def test_witness_sample_rate_change_never_writes_a_wrong_frame(stream):
    """A witness switching 512 -> 1024 Hz and back: every second is written, finite, and cleaning resumes."""
    run, cleaned, *_ = stream
    frames = [_frame(cleaned, o) for o in RATE_CHANGE]
    finite = all(np.isfinite(f[PRODUCTION]).all() for f in frames)
    named = f"GPS {START + RATE_CHANGE[0]}: witness sample rate changed" in run.joinpath("cleaner.log").read_text()
    record_fault("input: witness sample-rate change", finite and named, len(frames), len(frames), 0)
    assert finite
    assert named, "no log line names the rate change"
    _cleaning_resumes(cleaned, RATE_CHANGE[-1])


def test_clock_jump_of_300_s_resumes_at_the_new_gps(stream):
    """After a 300 s jump the stream goes on at the new GPS (one dropped-span log line, not 300 timeouts),
    cleaned again within a few seconds."""
    run, cleaned, *_ = stream
    first = BEFORE_JUMP + JUMP
    written = (cleaned / f"H-H1_DEEPCLEAN-{START + first}-1.gwf").exists()
    one_line = run.joinpath("cleaner.log").read_text().count(f"GPS {START + BEFORE_JUMP}-{START + first} dropped") == 1
    record_fault("input: 300 s gap (clock jump)", written and one_line, 1, int(written), 0)
    assert written
    assert one_line, "the jump is not reported as one dropped span"
    _cleaning_resumes(cleaned, first, within=12)


def test_analysis_ready_off_and_on_sets_the_bit_only_while_off(stream):
    """Seconds whose state vector is not ready carry the not-ready bit; the bit clears when ready returns."""
    _, cleaned, *_ = stream
    off = [_production_bits(_frame(cleaned, o)) & NOT_READY for o in NOT_READY_SECONDS]
    after = [
        _production_bits(_frame(cleaned, o)) & NOT_READY for o in (NOT_READY_SECONDS[-1] + 1, NOT_READY_SECONDS[-1] + 2)
    ]
    ok = all(off) and not any(after)
    record_fault("input: analysis-ready off and on", ok, len(off), len(off), 0)
    assert ok, (off, after)
    _cleaning_resumes(cleaned, NOT_READY_SECONDS[-1])
