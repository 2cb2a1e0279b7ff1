"""How fast the joined strain+witness follower reads live-style frame directories.

    nice .venvs/library/bin/python bench/follower.py [--seconds 300] [--live-seconds 20] [--speed 10] [--compress]

Writes ``--seconds`` of 1 s frame pairs with ``deepclean.frames.write_frame``:
strain (``H1:GDS-CALIB_STRAIN``, 16384 Hz float64) + state vector (16 Hz
int32) in the strain directory, and 21 witnesses at their own rates (mains
monitor 1024 Hz, ASC loops at 256, 512 and 2048 Hz) in the witness directory.
Then prints:

- history: the real-time factor (seconds of data per second of wall time) of
  ``JoinedFollower`` reading every pair from the first GPS, and of plain
  ``read_frame`` calls on the same files for comparison;
- live: a writer thread adds pairs at ``--speed`` times real time while the
  follower follows from the live edge; the latency from the later of a
  pair's two files landing (its modification time) to the follower yielding
  the pair (median, p99, max);
- idle: the CPU the follower uses per second of wall time while it waits for
  a frame that does not come.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from deepclean.frames import FrameFollower, FrameName, FramePair, JoinedFollower, read_frame, write_frame

SITE, IFO, STRAIN_TAG, WITNESS_TAG = "H", "H1", "llhoft", "lldetchar"
STRAIN, STATE = "H1:GDS-CALIB_STRAIN", "H1:GDS-CALIB_STATE_VECTOR"
ASC = [
    f"H1:ASC-{loop}_{dof}_OUT_DQ"
    for loop in ("INP1", "MICH", "PRC1", "PRC2", "SRC1", "SRC2", "DHARD", "CHARD", "DSOFT", "CSOFT")
    for dof in "PY"
]
ASC_RATES = [256, 512, 2048, 512, 256, 512, 512, 2048, 256, 512] * 2
WITNESS_RATES = {"H1:PEM-CS_MAINSMON_EBAY_1_DQ": 1024, **dict(zip(ASC, ASC_RATES, strict=True))}
GPS0 = 1400000000


class PairWriter:
    """Writes strain and witness frame pairs of synthetic noise."""

    def __init__(self, strain_dir: Path, witness_dir: Path, compress: bool = False, seed: int = 0):
        self.strain_dir, self.witness_dir, self.compress = strain_dir, witness_dir, compress
        self.rng = np.random.default_rng(seed)

    def write(self, gps: int) -> None:
        strain = {STRAIN: 1e-21 * self.rng.normal(size=16384), STATE: np.full(16, 3, dtype=np.int32)}
        witnesses = {name: self.rng.normal(size=rate) for name, rate in WITNESS_RATES.items()}
        write_frame(FrameName(gps, SITE, IFO, STRAIN_TAG).path(self.strain_dir), strain, gps, compress=self.compress)
        write_frame(
            FrameName(gps, SITE, IFO, WITNESS_TAG).path(self.witness_dir), witnesses, gps, compress=self.compress
        )


def joined_follower(
    strain_dir: Path, witness_dir: Path, start: int | None, stop: threading.Event | None = None
) -> JoinedFollower:
    strain = FrameFollower(
        strain_dir, SITE, IFO, STRAIN_TAG, channels=[STRAIN, STATE], start=start, timeout=5.0, stop=stop
    )
    return JoinedFollower(strain, witness_dir, WITNESS_TAG, witness_channels=list(WITNESS_RATES), witness_timeout=2.0)


def bench_history(strain_dir: Path, witness_dir: Path, seconds: int) -> None:
    started = time.perf_counter()
    pairs = list(itertools.islice(joined_follower(strain_dir, witness_dir, GPS0), seconds))
    elapsed = time.perf_counter() - started
    complete = sum(isinstance(p, FramePair) and p.complete for p in pairs)
    if complete != seconds:
        raise SystemExit(f"history: only {complete} of {seconds} pairs complete")
    started = time.perf_counter()
    for gps in range(GPS0, GPS0 + seconds):
        read_frame(FrameName(gps, SITE, IFO, STRAIN_TAG).path(strain_dir))
        read_frame(FrameName(gps, SITE, IFO, WITNESS_TAG).path(witness_dir))
    raw = time.perf_counter() - started
    print(f"history: {seconds} s of strain+state and 21-witness frame pairs")
    print(
        f"  JoinedFollower     {elapsed:7.2f} s wall  real-time factor {seconds / elapsed:7.1f}x  "
        f"({1e3 * elapsed / seconds:.2f} ms per pair)"
    )
    print(
        f"  read_frame only    {raw:7.2f} s wall  real-time factor {seconds / raw:7.1f}x  "
        f"({1e3 * raw / seconds:.2f} ms per pair)"
    )


def bench_live(strain_dir: Path, witness_dir: Path, writer: PairWriter, first: int, seconds: int, speed: float) -> None:
    writer.write(first)  # the live edge the follower starts at
    stop = threading.Event()

    def write_live():
        for gps in range(first + 1, first + 1 + seconds):
            time.sleep(1.0 / speed)
            writer.write(gps)

    thread = threading.Thread(target=write_live, daemon=True)
    follower = joined_follower(strain_dir, witness_dir, None, stop)
    latencies = []
    iterator = iter(follower)
    next(iterator)
    thread.start()
    for item in itertools.islice(iterator, seconds):
        if not (isinstance(item, FramePair) and item.complete):
            raise SystemExit(f"live: unexpected {item}")
        witness_path = FrameName(item.gps, SITE, IFO, WITNESS_TAG).path(witness_dir)
        landed = max(item.strain.path.stat().st_mtime, witness_path.stat().st_mtime)
        latencies.append(time.time() - landed)
    thread.join()
    stop.set()
    latencies_ms = sorted(1e3 * x for x in latencies)
    p99 = latencies_ms[min(len(latencies_ms) - 1, int(0.99 * len(latencies_ms)))]
    print(f"live: {seconds} pairs written at {speed:g}x real time, followed from the live edge")
    print(
        f"  latency pair landed -> yielded: median {statistics.median(latencies_ms):.1f} ms, p99 {p99:.1f} "
        f"ms, max {latencies_ms[-1]:.1f} ms"
    )


def bench_idle(strain_dir: Path, witness_dir: Path, start: int, wait: float) -> None:
    stop = threading.Event()
    follower = joined_follower(strain_dir, witness_dir, start, stop)
    threading.Timer(wait, stop.set).start()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in follower:
        pass
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"idle: waiting {wall:.1f} s for a frame that does not come: {100 * cpu / wall:.2f} % of one core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=300, help="seconds of frame pairs to read from history")
    parser.add_argument("--live-seconds", type=int, default=20, help="pairs to follow live")
    parser.add_argument("--speed", type=float, default=10.0, help="live writer speed, times real time")
    parser.add_argument("--compress", action="store_true", help="write gzip-compressed frames")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="follower-bench-") as tmp:
        strain_dir, witness_dir = Path(tmp) / STRAIN_TAG, Path(tmp) / WITNESS_TAG
        writer = PairWriter(strain_dir, witness_dir, compress=args.compress)
        started = time.perf_counter()
        for gps in range(GPS0, GPS0 + args.seconds):
            writer.write(gps)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.gwf")) / args.seconds / 1e6
        print(f"wrote {args.seconds} frame pairs ({size:.2f} MB per pair) in {time.perf_counter() - started:.1f} s")
        bench_history(strain_dir, witness_dir, args.seconds)
        bench_live(strain_dir, witness_dir, writer, GPS0 + args.seconds, args.live_seconds, args.speed)
        bench_idle(strain_dir, witness_dir, GPS0 + args.seconds + args.live_seconds + 1, 3.0)


if __name__ == "__main__":
    main()
