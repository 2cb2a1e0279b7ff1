"""The trainer's configuration checked across keys and gathered into the settings of a training cycle."""

from __future__ import annotations

import math
from typing import Any

import torch

from deepclean.architecture import SECOND_ORDER_KERNEL_SIZE, DeepClean
from deepclean.config import ConfigError, from_keys

from .cycle import CAUSAL_LINEAR_DILATION, CycleSettings, causal_estimate_band, causal_guard
from .dataset import FrameSource
from .fitting import FitSettings

MAINS_MONITOR = "PEM-CS_MAINSMON_EBAY_1_DQ"
"""The mains voltage monitor's channel (after ``<ifo>:``): ``mains_channel = "auto"``."""


def cycle_settings(**values: Any) -> CycleSettings:
    """A cycle's settings from the trainer's configuration ``values`` (:func:`deepclean_trainer.main.main`).

    Raises
    ------
    deepclean.config.ConfigError
        Values that do not fit together, naming the keys.
    """
    if values["mode"] == "one-shot" and (values["start"] is None) != (values["end"] is None):
        raise ConfigError("give both start and end, or neither")
    band = tuple(float(f) for f in values["band"])
    if not 0 < band[0] < band[1] < values["sample_rate"] / 2:
        raise ConfigError(f"band {list(band)} must satisfy 0 < low < high < sample_rate/2")
    filter_band = (band[0] - values["filter_margin"], band[1] + values["filter_margin"])
    if not 0 < filter_band[0] < filter_band[1] < values["sample_rate"] / 2:
        raise ConfigError(
            f"filter_margin {values['filter_margin']} puts the filter band {list(filter_band)} outside (0, "
            f"sample_rate/2)"
        )
    widest = (filter_band[0] - values.get("band_widening", 0.0), filter_band[1] + values.get("band_widening", 0.0))
    if values.get("latency_mode") != "causal" and not 0 < widest[0] < widest[1] < values["sample_rate"] / 2:
        raise ConfigError(
            f"band_widening {values['band_widening']} puts the widest filter band {list(widest)} outside (0, "
            f"sample_rate/2)"
        )
    if values.get("latency_mode") == "causal":
        nyquist = values["sample_rate"] / 2
        causal_ranges = {"causal band-pass": causal_estimate_band(band), "causal loss guard": causal_guard(band)}
        for name, edges in causal_ranges.items():
            if not 0 < edges[0] < edges[1] < nyquist:
                raise ConfigError(
                    f"latency_mode 'causal': band {list(band)} puts the {name} {list(edges)} outside "
                    f"(0, sample_rate/2 = {nyquist:g})"
                )
    channels = list(values["witness_channels"])
    if not channels or len(set(channels)) != len(channels):
        raise ConfigError(f"witness_channels must be non-empty and unique, got {channels}")
    mains = values["mains_channel"]
    if mains == "auto":
        mains = f"{values['ifo']}:{MAINS_MONITOR}"
    if mains is not None and mains not in channels:
        raise ConfigError(f"mains_channel {mains!r} is not one of witness_channels")
    if values["window_seconds"] < 2 * values["fftlength"]:
        raise ConfigError(
            f"window_seconds ({values['window_seconds']}) must be at least twice fftlength ({values['fftlength']})"
        )
    architecture = {"num_witnesses": len(channels), "kernel_size": values["kernel_size"]}
    if mains is not None:
        architecture["mains_index"] = channels.index(mains)
    if values["linear_kernel_size"] is not None:
        if values["linear_kernel_size"] % 2 != 1:
            raise ConfigError(f"linear_kernel_size must be odd, got {values['linear_kernel_size']}")
        architecture["linear_kernel_size"] = values["linear_kernel_size"]
        architecture["linear_dilation"] = values["linear_dilation"]
        spectral_start = values.get("latency_mode") != "causal" and values["linear_init"] == "spectral"
        long_enough = values["linear_kernel_size"] >= SECOND_ORDER_KERNEL_SIZE  # their path sits inside its reach
        if values.get("second_order") and mains is not None and spectral_start and long_enough:
            architecture["second_order"] = True  # only the spectral start fits (and chooses) them
        if values.get("latency_mode") == "causal":
            # the target lies ahead of the output: the linear path reaches the newest witnesses the
            # network sees (cycle.py: CAUSAL_LINEAR_FIT), its taps CAUSAL_LINEAR_DILATION samples apart
            dilation = CAUSAL_LINEAR_DILATION
            reach_taps = math.ceil(DeepClean(1, values["kernel_size"]).receptive_field / dilation)
            architecture["linear_dilation"] = dilation
            architecture["linear_kernel_size"] = 2 * reach_taps + 1
    device = values["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return from_keys(
        CycleSettings,
        values,
        source=from_keys(FrameSource, values, witness_channels=tuple(channels)),
        band=band,
        filter_band=filter_band,
        architecture=architecture,
        fit=from_keys(FitSettings, values),
        device=torch.device(device),
        linear_recency=tuple(values["linear_recency"] or ()),
    )
