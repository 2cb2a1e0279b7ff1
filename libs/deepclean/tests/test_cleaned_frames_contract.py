"""The cleaned-frame contract: one definition of the DQ bits and channel names, used by every side."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from deepclean.cleaned_frames import (
    CANARY_SHIFT,
    CLEANED,
    FLAGS,
    NOT_MEASURABLE,
    STREAM_BITS,
    cleaned_channel_names,
    configured_channel_names,
    default_channels,
)

ROOT = Path(__file__).resolve().parents[3]


def test_bits_are_distinct_and_the_canary_does_not_overlap_production():
    assert STREAM_BITS == 0b111111 and FLAGS == STREAM_BITS & ~CLEANED
    assert (STREAM_BITS << CANARY_SHIFT) & STREAM_BITS == 0
    assert NOT_MEASURABLE & CLEANED == 0


def test_channel_names_follow_the_ifo_and_can_be_renamed():
    assert default_channels("L1").dq == "L1:DEEPCLEAN-DQ"
    renamed = cleaned_channel_names("V1", production="V1:MY_CLEANED", canary=None)
    assert (renamed.production, renamed.canary) == ("V1:MY_CLEANED", "V1:GDS-CALIB_STRAIN_DEEPCLEAN_CANARY")
    with pytest.raises(TypeError, match="unknown cleaned channel"):
        cleaned_channel_names("H1", strain="H1:X")


def test_configured_names_come_from_the_channel_keys_of_a_service_configuration():
    """The cleaner and the monitor name the channels from the same keys: ``<field>_channel``, unset is the default."""
    settings = {"ifo": "L1", "site": "L", "production_channel": "L1:MY_CLEANED", "dq_channel": None}
    assert configured_channel_names(settings) == replace(default_channels("L1"), production="L1:MY_CLEANED")
    assert configured_channel_names({"ifo": "H1"}) == default_channels("H1")


def test_each_bit_and_channel_name_is_defined_in_one_module_only():
    """No service or benchmark defines a DQ bit or a cleaned channel name of its own."""
    sources = [p for p in ROOT.glob("projects/*/deepclean_*/**/*.py")] + list(ROOT.glob("bench/**/*.py"))
    sources += [p for p in ROOT.glob("libs/deepclean/deepclean/**/*.py") if p.name != "cleaned_frames.py"]
    bit = re.compile(
        r"^\s*(CLEANED|CLEANING_APPLIED|SAFETY_FALLBACK|NO_MODEL|INPUT_GAP|NOT_ANALYSIS_READY)\s*=\s*1\s*<<", re.M
    )
    name = re.compile(r"DEEPCLEAN_PRODUCTION\"|DEEPCLEAN-DQ\"|DEEPCLEAN-PRODUCTION_VERSION\"")
    offenders = [str(p.relative_to(ROOT)) for p in sources if bit.search(p.read_text()) or name.search(p.read_text())]
    assert offenders == []
    literal = [str(p.relative_to(ROOT)) for p in ROOT.glob("projects/*/deepclean_*/**/*.py") if '"H1:' in p.read_text()]
    assert literal == []
