"""The cleaner run as the fidelity benchmark needs it: one stretch, its strain directory switched, its pins set,
and optionally a production pin changed mid-stretch while the frames are fed live.

The suite's strain directory (``<work>/frames/llhoft``) is a symbolic link this
module points at the strain frames of the pass to clean (with or without the
injections); the witness frames are the same for every pass. The cleaner is
``deepclean_method.clean`` (``deepclean-clean``, embedded backend).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
from common import log
from deepclean_method import DQ_CHANNEL, StepError, Suite, clean, read_cleaned

from deepclean.cleaned_frames import default_channels
from deepclean.frames import FrameName, read_frame
from deepclean.model_repository import ModelRepository, update_pins

VERSION_CHANNEL = default_channels("H1").production_version
QUIET_SECONDS = 3.0  # no new cleaned frame for this long: the cleaner waits for input


def point_strain_dir(suite: Suite, target: Path) -> None:
    """Make the suite's strain directory (a symbolic link) point at ``target``."""
    link = suite.strain_dir
    if link.exists() and not link.is_symlink():
        raise StepError(f"{link} is a directory, not the link this benchmark manages; remove it")
    tmp = link.with_name(".llhoft.link")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.resolve(), target_is_directory=True)
    os.replace(tmp, link)


def pin(suite: Suite, production: int) -> None:
    """Production ``production``, no canary (the cleaner then runs one model)."""
    model = ModelRepository(suite.work / "model-repo").model("deepclean")
    update_pins(model, lambda pins: pins.with_production(production).with_canary(None))


def cleaned_path(suite: Suite, gps: int) -> Path:
    return FrameName(gps, "H", "H1", "DEEPCLEAN").path(suite.work / "cleaned")


def wait_for(condition, what: str, cleaner: threading.Thread, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if not cleaner.is_alive():
            raise StepError(f"the cleaner exited while waiting for {what}; see the clean log")
        if time.monotonic() > deadline:
            raise StepError(f"timed out waiting for {what}")
        time.sleep(0.1)


def clean_with_switch(
    suite: Suite, source: Path, first: int, stop: int, switch_gps: int, new_version: int, extra: list[str]
) -> float:
    """Clean ``[first, stop)`` while feeding the frames live, changing the production pin at ``switch_gps``.

    Frames up to ``switch_gps - 1`` are there at the start; once the cleaner has
    taken them all (it has written ``switch_gps - 3`` and then nothing for
    ``QUIET_SECONDS``: it waits for the next frame) the pin changes; once the
    cleaner has loaded the new version the remaining frames appear. The swap then
    happens before ``switch_gps`` is processed, in every run alike (checked
    afterwards on the version channel).
    """
    live = suite.work / "frames" / "live"
    shutil.rmtree(live, ignore_errors=True)
    live.mkdir(parents=True)
    point_strain_dir(suite, live)
    frames = sorted(source.glob("*.gwf"), key=lambda p: FrameName.parse(p.name).gps)

    def feed(lo: int, hi: int) -> None:
        for path in frames:
            if lo <= FrameName.parse(path.name).gps < hi:
                os.link(path, live / path.name)

    feed(0, switch_gps)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["wall"] = clean(
                suite,
                first,
                stop,
                extra + ["--strain_timeout", "600", "--pins_poll_interval", "0.2", "--log_level", "INFO"],
            )
        except Exception as exc:  # re-raised on the calling thread
            outcome["error"] = exc

    cleaner = threading.Thread(target=run, name="cleaner")
    cleaner.start()
    try:
        wait_for(lambda: cleaned_path(suite, switch_gps - 3).exists(), f"cleaned GPS {switch_gps - 3}", cleaner)
        written = {"count": -1, "since": time.monotonic()}

        def quiet() -> bool:
            count = len(list((suite.work / "cleaned").glob("*.gwf")))
            if count != written["count"]:
                written.update(count=count, since=time.monotonic())
            return time.monotonic() - written["since"] >= QUIET_SECONDS

        wait_for(quiet, "the cleaner to take every frame before the switch", cleaner)
        pin(suite, new_version)
        clean_log = suite.work / "logs" / "clean.log"
        wait_for(
            lambda: f"loaded model version {new_version} " in clean_log.read_text(errors="replace"),
            f"the cleaner to load version {new_version}",
            cleaner,
        )
        feed(switch_gps, sys.maxsize)
    finally:
        cleaner.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["wall"]


def read_seconds(suite: Suite, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Per second of ``[start, stop)``: the production DQ word's bits (OR over the second) and the version."""
    bits, versions = [], []
    for gps in range(start, stop):
        frame = read_frame(cleaned_path(suite, gps), [DQ_CHANNEL, VERSION_CHANNEL])
        bits.append(int(np.bitwise_or.reduce(frame[DQ_CHANNEL].astype(np.int64))))
        versions.append(int(frame[VERSION_CHANNEL][0]))
    return np.array(bits), np.array(versions)


def run_case(suite: Suite, case: dict, dirs: dict[str, Path], first: int, stop: int) -> dict:
    """Clean the stretch with and without the injections; the cleaned strain, DQ and versions of each."""
    result = {"name": case["name"], "description": case["description"], "runs": {}}
    for variant in ("with", "without"):
        shutil.rmtree(suite.work / "cleaned", ignore_errors=True)
        pin(suite, case["version"])
        if "switch" in case:
            gps, new_version = case["switch"]
            wall = clean_with_switch(suite, dirs[variant], first, stop, gps, new_version, case["extra"])
        else:
            point_strain_dir(suite, dirs[variant])
            wall = clean(suite, first, stop, case["extra"])
        shutil.copy(suite.work / "logs" / "clean.log", suite.work / "logs" / f"clean-{case['name']}-{variant}.log")
        strain, counts = read_cleaned(suite, first, stop)
        bits, versions = read_seconds(suite, first, stop)
        result["runs"][variant] = {
            "strain": strain,
            "bits": bits,
            "versions": versions,
            "dq_seconds": counts,
            "wall_seconds": wall,
        }
        log(f"  {case['name']} ({variant} injections): cleaned in {wall:.1f} s; DQ {counts}")
    return result
