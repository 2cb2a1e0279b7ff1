"""The input source: strain and witness frames read once; replaced frames warned about and counted.

Regression: a strain or witness frame rewritten after the cleaner had read it, or
a second file for a second already read, was ignored without a word.
"""

import threading

import numpy as np
import pytest
from conftest import STATE, STRAIN, WITNESSES, write_input

from deepclean.frames import write_frame
from deepclean_cleaner.metrics import CleanerMetrics
from deepclean_cleaner.source import InputSource

START = 1400000000

pytestmark = pytest.mark.timeout(60)


def source(tmp_path, metrics):
    return InputSource(
        tmp_path / "llhoft",
        tmp_path / "lldetchar",
        "H",
        "H1",
        "llhoft",
        "lldetchar",
        STRAIN,
        STATE,
        list(WITNESSES),
        strain_timeout=0.5,
        witness_timeout=0.2,
        metrics=metrics,
    )


def replaced(metrics, stream):
    return metrics.registry.get_sample_value("deepclean_cleaner_input_frames_replaced_total", {"stream": stream})


def test_frames_replaced_after_they_were_read_are_warned_about_once_and_counted(tmp_path, caplog):
    """A strain frame rewritten and a witness duplicate of seconds already read: the seconds keep their
    first content, one warning each naming stream, GPS and file, and the counter says 1 per stream."""
    write_input(tmp_path, START, 6)
    metrics = CleanerMetrics()
    inputs = source(tmp_path, metrics)
    strain_file = tmp_path / "llhoft" / f"H-H1_llhoft-{START + 2}-1.gwf"
    duplicate = tmp_path / "lldetchar" / f"H-H1_lldetchar-0{START + 1}-1.gwf"
    first = {}
    for second in inputs.follow(START, threading.Event(), end=START + 6):
        first[second.gps] = second.strain
        if second.gps == START + 3:
            write_frame(
                strain_file,
                {STRAIN: np.ones(16384), STATE: np.zeros(16, np.int32)},
                START + 2,
            )
            duplicate.write_bytes((tmp_path / "lldetchar" / f"H-H1_lldetchar-{START + 1}-1.gwf").read_bytes())
    assert sorted(first) == list(range(START, START + 6))
    assert not np.any(first[START + 2] == 1.0)  # the first content, not the rewrite
    # Following on (as after a stream-dead restart) checks again: nothing new to say.
    assert list(inputs.follow(START + 6, threading.Event(), end=START + 6)) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    strain_warning = next(w for w in warnings if "strain frame" in w)
    witness_warning = next(w for w in warnings if "witness frame" in w)
    assert strain_warning.startswith(f"GPS {START + 2}: strain frame {strain_file}")
    assert "rewritten" in strain_warning
    assert witness_warning.startswith(f"GPS {START + 1}: witness frame {duplicate}")
    assert replaced(metrics, "strain") == 1.0 and replaced(metrics, "witness") == 1.0


def test_without_replaced_frames_nothing_is_warned_or_counted(tmp_path, caplog):
    """A clean stream: no warning and no count."""
    write_input(tmp_path, START, 3)
    metrics = CleanerMetrics()
    seconds = list(source(tmp_path, metrics).follow(START, threading.Event(), end=START + 3))
    assert [s.gps for s in seconds] == [START, START + 1, START + 2]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert replaced(metrics, "strain") is None and replaced(metrics, "witness") is None
