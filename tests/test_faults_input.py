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
from conftest import record_fault, verdict
from fault_frames import (
    STATE,
    STRAIN,
    WITNESSES,
    cleaned_seconds,
    log_lines,
    strain_path,
    synthetic_seconds,
    witness_path,
    write_second,
    writes_per_second,
)
from fault_services import layout, program, write_config

from deepclean.frames import read_frame, write_frame
from deepclean.testing.processes import free_port, start, stop, wait_for

START = 1400000000
FEED_RATE = 6.0  # frames per second of wall time
JUMP = 300  # the clock jump, in seconds
PRODUCTION = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_PRODUCTION"
CANARY = "H1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY"
DQ = "H1:DEEPCLEAN-DQ"
CLEANED, FALLBACK, NO_MODEL, INPUT_GAP, NOT_READY = 1, 2, 4, 8, 16  # production's DQ bits
CANARY_SHIFT = 8  # the canary's bits are the same, shifted
GAP_BITS = INPUT_GAP | INPUT_GAP << CANARY_SHIFT
"""DQ of a raw second written for missing witness data: input gap in both streams, nothing else."""
CLEAN_BITS = CLEANED | CLEANED << CANARY_SHIFT
"""DQ of a second cleaned in both streams, nothing else."""
FOOTPRINT_BEFORE = 3
"""Seconds before a fault to the last one it cannot touch. A lost witness second also takes the look-ahead
of the seconds before it: the one before (documented) and, while the chain's delay is over 1 s (at
sample_rate 1024: 48 + 112 + 870 + upsampling samples), the one before that."""

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


def _truncate_then_complete(path: Path, frame: dict, gps: int, log: Path) -> None:
    """Leave the first half of the file at its final name; write the rest once the cleaner has read it half written.

    Completing it on a timer instead would race the cleaner: one that is a second behind reads the
    complete file and the fault is never seen.
    """
    scratch = path.with_name("scratch-" + path.name)
    write_frame(scratch, frame, t0=gps)
    content = scratch.read_bytes()
    scratch.unlink()
    path.write_bytes(content[: len(content) // 2])

    def complete() -> None:
        deadline = time.monotonic() + 60.0
        while not log_lines(log, f"{path.name}: unreadable") and time.monotonic() < deadline:
            time.sleep(0.05)
        path.write_bytes(content)

    threading.Thread(target=complete, daemon=True).start()


def _feed(data: Path, seconds: dict[int, dict], log: Path) -> None:
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
            _truncate_then_complete(strain_path(data, gps), strain, gps, log)
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
    shutil.copytree(model_repository, layout(run).model_repository)
    data = layout(run).data
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
        feeder = threading.Thread(target=_feed, args=(data, seconds, log))
        feeder.start()
        feeder.join()
        wait_for(lambda: cleaner.poll() is not None, 120, "the cleaner to finish the stream")
    finally:
        code = stop(cleaner)
    arrivals = {int(p.name.split("-")[2]): p.stat().st_mtime for p in (data / "llhoft").iterdir()}
    yield run, layout(run).cleaned, arrivals, code, log
    del config


def _cleaned_path(cleaned: Path, offset: int) -> Path:
    return cleaned / f"H-H1_DEEPCLEAN-{START + offset}-1.gwf"


def _frame(cleaned: Path, offset: int) -> dict:
    return read_frame(_cleaned_path(cleaned, offset))


def _raw(run: Path, offset: int) -> np.ndarray:
    return read_frame(strain_path(layout(run).data, START + offset), [STRAIN])[STRAIN]


def _production_bits(frame: dict) -> int:
    return int(np.bitwise_or.reduce(frame[DQ])) & 0xFF


def _dq(cleaned: Path, offset: int) -> np.ndarray | None:
    """The DQ samples of GPS ``START + offset`` as gwpy reads them from its cleaned frame.

    None when there is no frame, or when it holds no DQ channel spanning exactly that second.
    """
    from gwpy.timeseries import TimeSeries

    path = _cleaned_path(cleaned, offset)
    if not path.exists():
        return None
    try:
        series = TimeSeries.read(str(path), DQ)
    except (RuntimeError, ValueError, OSError):  # LALFrame refuses a frame that does not hold that second
        return None
    if (float(series.span[0]), float(series.span[1])) != (START + offset, START + offset + 1):
        return None
    return np.asarray(series.value, dtype=np.int64)


def _dq_is(cleaned: Path, offset: int, bits: int) -> bool:
    """Every DQ sample (1/16 s) of that second is exactly ``bits``."""
    dq = _dq(cleaned, offset)
    return dq is not None and dq.size == 16 and bool((dq == bits).all())


def _dq_around(cleaned: Path, offset: int) -> str:
    """The DQ values of the seconds around ``offset``, for failure messages."""
    cells = []
    for o in range(offset - FOOTPRINT_BEFORE, offset + 3):
        dq = _dq(cleaned, o)
        cells.append(f"{START + o}: " + ("no frame" if dq is None else ",".join(f"{v:#x}" for v in np.unique(dq))))
    return "; ".join(cells)


def _is_raw(run: Path, cleaned: Path, offset: int) -> bool:
    """Both cleaned streams of that second are the raw strain, sample for sample."""
    if not _cleaned_path(cleaned, offset).exists():
        return False
    frame, raw = _frame(cleaned, offset), _raw(run, offset)
    return np.array_equal(frame[PRODUCTION], raw) and np.array_equal(frame[CANARY], raw)


def _verdict(fault: str, checks: dict[str, bool], context: str, expected: int, written: int, duplicated: int) -> None:
    """Record the input fault in the summary (survived: every check held), then fail naming the checks that did not."""
    verdict(f"input: {fault}", checks, f"{fault}\n{context}", (expected, written, duplicated))


def _witness_gap_checks(stream, offset: int, line: str) -> dict[str, bool]:
    """Checks of a second whose witnesses could not be used.

    Exactly one log line names ``GPS <gps>: `` and it contains ``line``; the second is written once, raw
    in both streams, with only the input-gap bit (gwpy); the second before it too (its look-ahead is
    gone); the last second the fault cannot reach was cleaned, so the gap bit is this fault's.
    """
    run, cleaned, _, _, log = stream
    gps = START + offset
    named = log_lines(log, f"GPS {gps}: ")
    clean_before = offset - FOOTPRINT_BEFORE
    return {
        f"one log line for GPS {gps}, with {line!r}": len(named) == 1 and line in named[0],
        f"GPS {gps} written once": writes_per_second(log)[gps] == 1,
        f"GPS {gps}: DQ exactly {GAP_BITS:#x}": _dq_is(cleaned, offset, GAP_BITS),
        f"GPS {gps}: raw strain in both streams": _is_raw(run, cleaned, offset),
        f"GPS {gps - 1}: raw, DQ exactly {GAP_BITS:#x}": _dq_is(cleaned, offset - 1, GAP_BITS)
        and _is_raw(run, cleaned, offset - 1),
        f"GPS {START + clean_before}: DQ exactly {CLEAN_BITS:#x}": _dq_is(cleaned, clean_before, CLEAN_BITS),
    }


def _record_witness_gap(stream, offset: int, fault: str, checks: dict[str, bool]) -> None:
    run, cleaned, _, _, log = stream
    gps = START + offset
    _verdict(
        fault,
        checks,
        f"DQ {_dq_around(cleaned, offset)}\nlog: {log_lines(log, f'GPS {gps}: ')}",
        1,
        int(_cleaned_path(cleaned, offset).exists()),
        int(writes_per_second(log)[gps] > 1),
    )


def _cleaning_resumes(cleaned: Path, after: int, within: int = 9) -> None:
    """Some second within ``within`` s after ``after`` is cleaned again, and every output is finite."""
    frames = [_frame(cleaned, o) for o in range(after + 1, after + 1 + within)]
    assert all(np.isfinite(f[PRODUCTION]).all() and np.isfinite(f[CANARY]).all() for f in frames)
    assert any(_production_bits(f) & CLEANED for f in frames), f"not cleaned again within {within} s of +{after}"


def _strain_gap_checks(stream, offset: int, reason: str, detail: str) -> dict[str, bool]:
    """Checks of a strain second that could not be read: no output, one gap line, the stages restarted.

    The follower logs ``GPS <gps>-<gps + 1> <reason> (<detail>...`` and no other gap over that second; no
    frame is ever written for it; the seconds either side are written once, raw with only the input-gap
    bit (the pipeline flushes and restarts at a strain gap); the last second it cannot reach was cleaned.
    """
    run, cleaned, _, _, log = stream
    gps = START + offset
    counts = writes_per_second(log)
    gaps = log_lines(log, f"GPS {gps}-")
    clean_before = offset - FOOTPRINT_BEFORE
    return {
        f"one gap line 'GPS {gps}-{gps + 1} {reason} ({detail}'": len(gaps) == 1
        and f"GPS {gps}-{gps + 1} {reason} ({detail}" in gaps[0],
        f"no cleaned frame for GPS {gps}": not _cleaned_path(cleaned, offset).exists(),
        f"GPS {gps} never written": counts[gps] == 0,
        **{
            f"GPS {START + o} written once, raw, DQ exactly {GAP_BITS:#x}": counts[START + o] == 1
            and _dq_is(cleaned, o, GAP_BITS)
            and _is_raw(run, cleaned, o)
            for o in (offset - 1, offset + 1)
        },
        f"GPS {START + clean_before}: DQ exactly {CLEAN_BITS:#x}": _dq_is(cleaned, clean_before, CLEAN_BITS),
    }


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


def test_dropped_strain_frame_has_no_output(stream):
    """A strain second that never came: one 'dropped' line for exactly that second, no frame for it ever,
    raw neighbours with the gap bit (the stages restart), and cleaning resumes."""
    _, cleaned, _, _, log = stream
    checks = _strain_gap_checks(stream, DROPPED_STRAIN, "dropped", "no file within 2 s")
    _verdict(
        "dropped strain frame",
        checks,
        f"DQ {_dq_around(cleaned, DROPPED_STRAIN)}\nlog: {log_lines(log, f'GPS {START + DROPPED_STRAIN}-')}",
        0,
        int(_cleaned_path(cleaned, DROPPED_STRAIN).exists()),
        0,
    )
    _cleaning_resumes(cleaned, DROPPED_STRAIN)


def test_dropped_witness_frame_is_raw_with_the_gap_bit(stream):
    """A witness frame that never came: logged 'late' for its own GPS and file, that second raw with only the
    input-gap bit, and cleaning resumes."""
    run, cleaned, *_ = stream
    gps = START + DROPPED_WITNESS
    checks = _witness_gap_checks(
        stream, DROPPED_WITNESS, f"witness frame late: no witness frame {witness_path(layout(run).data, gps)} "
    )
    checks[f"the witness frame of GPS {gps} never appeared"] = not witness_path(layout(run).data, gps).exists()
    _record_witness_gap(stream, DROPPED_WITNESS, "dropped witness frame", checks)
    _cleaning_resumes(cleaned, DROPPED_WITNESS)


def test_witness_five_seconds_late_is_raw_and_the_stream_does_not_stall(stream):
    """A witness 5 s late (witness timeout 1.5 s): logged 'late' for its GPS, that second raw with only the
    input-gap bit, and that second and the next cleaned one are written before the witness frame lands."""
    run, cleaned, *_ = stream
    gps = START + LATE_WITNESS
    late = witness_path(layout(run).data, gps)
    checks = _witness_gap_checks(stream, LATE_WITNESS, f"witness frame late: no witness frame {late} within 1.5 s")
    resumed = next((o for o in range(LATE_WITNESS + 1, LATE_WITNESS + 10) if _dq_is(cleaned, o, CLEAN_BITS)), None)
    landed = late.stat().st_mtime if late.exists() else None
    checks[f"the witness frame of GPS {gps} landed later"] = landed is not None
    checks[f"GPS {gps} and the first fully cleaned second after it written before the witness landed"] = (
        landed is not None
        and resumed is not None
        and _cleaned_path(cleaned, LATE_WITNESS).stat().st_mtime < landed
        and _cleaned_path(cleaned, resumed).stat().st_mtime < landed
    )
    _record_witness_gap(stream, LATE_WITNESS, "witness frame 5 s late", checks)
    _cleaning_resumes(cleaned, LATE_WITNESS)


def test_strain_frame_truncated_mid_write_then_completed_is_cleaned(stream):
    """A strain file read while half written (the cleaner logged it unreadable) is re-read once complete and
    cleaned like any other second: no gap logged, it and its neighbours carry only the cleaned bits."""
    run, cleaned, _, _, log = stream
    gps = START + TRUNCATED_STRAIN
    name = strain_path(layout(run).data, gps).name
    frame = _frame(cleaned, TRUNCATED_STRAIN) if _cleaned_path(cleaned, TRUNCATED_STRAIN).exists() else None
    raw = _raw(run, TRUNCATED_STRAIN)
    checks = {
        f"the half-written {name} was read and logged unreadable": bool(log_lines(log, f"{name}: unreadable")),
        f"no gap or witness line for GPS {gps}": not log_lines(log, f"GPS {gps}-")
        and not log_lines(log, f"GPS {gps}: "),
        f"GPS {gps} written once": writes_per_second(log)[gps] == 1,
        **{
            f"GPS {START + o}: DQ exactly {CLEAN_BITS:#x}": _dq_is(cleaned, o, CLEAN_BITS)
            for o in (TRUNCATED_STRAIN - 1, TRUNCATED_STRAIN, TRUNCATED_STRAIN + 1)
        },
        f"GPS {gps}: both streams differ from raw": frame is not None
        and not np.array_equal(frame[PRODUCTION], raw)
        and not np.array_equal(frame[CANARY], raw),
    }
    _verdict(
        "strain frame truncated then completed",
        checks,
        f"DQ {_dq_around(cleaned, TRUNCATED_STRAIN)}",
        1,
        int(frame is not None),
        int(writes_per_second(log)[gps] > 1),
    )


def test_corrupt_witness_frame_is_raw_with_the_gap_bit(stream):
    """A witness file that never becomes readable: logged 'corrupt' with the reader's error for its own GPS
    and file, that second raw with only the input-gap bit, and cleaning resumes."""
    run, cleaned, *_ = stream
    path = witness_path(layout(run).data, START + CORRUPT_WITNESS)
    checks = _witness_gap_checks(stream, CORRUPT_WITNESS, f"witness frame corrupt: cannot read frame {path}: ")
    _record_witness_gap(stream, CORRUPT_WITNESS, "corrupt witness frame", checks)
    _cleaning_resumes(cleaned, CORRUPT_WITNESS)


def test_corrupt_strain_frame_is_a_logged_gap(stream):
    """A strain file that never becomes readable: one 'corrupt' gap line for exactly that second naming the
    file, no frame for it ever, raw neighbours with the gap bit, and cleaning resumes."""
    run, cleaned, _, _, log = stream
    path = strain_path(layout(run).data, START + CORRUPT_STRAIN)
    checks = _strain_gap_checks(stream, CORRUPT_STRAIN, "corrupt", f"cannot read frame {path}: ")
    _verdict(
        "corrupt strain frame",
        checks,
        f"DQ {_dq_around(cleaned, CORRUPT_STRAIN)}\nlog: {log_lines(log, f'GPS {START + CORRUPT_STRAIN}-')}",
        0,
        int(_cleaned_path(cleaned, CORRUPT_STRAIN).exists()),
        0,
    )
    _cleaning_resumes(cleaned, CORRUPT_STRAIN)


def test_witness_frame_missing_a_channel_is_raw_with_the_gap_bit(stream):
    """A witness frame without one configured channel: the line for its GPS names that channel, that second
    is raw with only the input-gap bit, and cleaning resumes."""
    run, cleaned, *_ = stream
    path = witness_path(layout(run).data, START + MISSING_CHANNEL)
    checks = _witness_gap_checks(
        stream, MISSING_CHANNEL, f"witness frame corrupt: frame {path} has no channel(s) {[WITNESSES[3]]}"
    )
    _record_witness_gap(stream, MISSING_CHANNEL, "witness frame missing a channel", checks)
    _cleaning_resumes(cleaned, MISSING_CHANNEL)


@pytest.mark.parametrize(
    "offset, kind, channel", [(NAN_WITNESS, "NaN", WITNESSES[1]), (INF_WITNESS, "inf", WITNESSES[2])]
)
def test_nonfinite_witness_is_raw_and_does_not_poison_later_seconds(stream, offset, kind, channel):
    """A NaN or inf witness sample: the line for its GPS names that channel alone, that second is raw with
    only the input-gap bit, later outputs are finite and cleaned."""
    _, cleaned, *_ = stream
    checks = _witness_gap_checks(
        stream, offset, f"non-finite witness samples in {channel}; writing raw strain for this second"
    )
    _record_witness_gap(stream, offset, f"{kind} in a witness", checks)
    _cleaning_resumes(cleaned, offset)


def test_witness_sample_rate_change_never_writes_a_wrong_frame(stream):
    """A witness switching 512 -> 1024 Hz and back: both switches logged at their own GPS for that channel,
    every second at the changed rate raw with only the input-gap bit, and cleaning resumes."""
    run, cleaned, _, _, log = stream
    first, back = START + RATE_CHANGE[0], START + RATE_CHANGE[-1] + 1
    changes = log_lines(log, "witness sample rate changed")
    checks = {
        f"two rate-change lines, GPS {first} and {back}": len(changes) == 2
        and f"GPS {first}: witness sample rate changed ({{'{WITNESSES[2]}': '512 -> 1024 Hz'}})" in changes[0]
        and f"GPS {back}: witness sample rate changed ({{'{WITNESSES[2]}': '1024 -> 512 Hz'}})" in changes[1],
        **{
            f"GPS {START + o}: raw, DQ exactly {GAP_BITS:#x}": _dq_is(cleaned, o, GAP_BITS) and _is_raw(run, cleaned, o)
            for o in RATE_CHANGE
        },
        f"GPS {first - FOOTPRINT_BEFORE}: DQ exactly {CLEAN_BITS:#x}": _dq_is(
            cleaned, RATE_CHANGE[0] - FOOTPRINT_BEFORE, CLEAN_BITS
        ),
    }
    written = sum(_cleaned_path(cleaned, o).exists() for o in RATE_CHANGE)
    counts = writes_per_second(log)
    _verdict(
        "witness sample-rate change",
        checks,
        f"DQ {_dq_around(cleaned, RATE_CHANGE[0])}\nlog: {changes}",
        len(RATE_CHANGE),
        written,
        sum(counts[START + o] > 1 for o in RATE_CHANGE),
    )
    _cleaning_resumes(cleaned, RATE_CHANGE[-1])


def test_clock_jump_of_300_s_resumes_at_the_new_gps(stream):
    """After a 300 s jump the stream goes on at the new GPS: one dropped-span line for exactly the jumped
    seconds (not 300 timeouts), nothing written inside the span, cleaned again within a few seconds."""
    _, cleaned, _, _, log = stream
    before, first = START + BEFORE_JUMP, START + BEFORE_JUMP + JUMP
    inside = [gps for gps in cleaned_seconds(cleaned) if before <= gps < first]
    spans = [line.split("GPS ")[1].split(" ")[0] for line in log_lines(log, " dropped (")]
    checks = {
        f"one dropped line from GPS {before} on, 'GPS {before}-{first}'": [
            span for span in spans if int(span.split("-")[0]) >= before
        ]
        == [f"{before}-{first}"],
        f"nothing written in [{before}, {first})": inside == [],
        f"GPS {first} written once": writes_per_second(log)[first] == 1,
    }
    written = int(_cleaned_path(cleaned, BEFORE_JUMP + JUMP).exists())
    _verdict("300 s gap (clock jump)", checks, f"written inside: {inside}", 1, written, 0)
    _cleaning_resumes(cleaned, BEFORE_JUMP + JUMP, within=12)


def test_analysis_ready_off_and_on_sets_the_bit_only_while_off(stream):
    """Seconds whose state vector is not ready are cleaned and carry the not-ready bit in both streams (and
    nothing else); the seconds either side carry the cleaned bits only."""
    _, cleaned, _, _, log = stream
    not_ready = CLEAN_BITS | NOT_READY | NOT_READY << CANARY_SHIFT
    around = (NOT_READY_SECONDS[0] - 1, NOT_READY_SECONDS[-1] + 1, NOT_READY_SECONDS[-1] + 2)
    checks = {
        **{f"GPS {START + o}: DQ exactly {not_ready:#x}": _dq_is(cleaned, o, not_ready) for o in NOT_READY_SECONDS},
        **{f"GPS {START + o}: DQ exactly {CLEAN_BITS:#x}": _dq_is(cleaned, o, CLEAN_BITS) for o in around},
    }
    counts = writes_per_second(log)
    _verdict(
        "analysis-ready off and on",
        checks,
        f"DQ {_dq_around(cleaned, NOT_READY_SECONDS[0])}; {_dq_around(cleaned, NOT_READY_SECONDS[-1])}",
        len(NOT_READY_SECONDS),
        sum(_cleaned_path(cleaned, o).exists() for o in NOT_READY_SECONDS),
        sum(counts[START + o] > 1 for o in NOT_READY_SECONDS),
    )
    _cleaning_resumes(cleaned, NOT_READY_SECONDS[-1])
