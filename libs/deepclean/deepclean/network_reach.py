"""How far the DeepClean network sees: its receptive field, without torch.

One definition for the trainer's network (:attr:`deepclean.architecture.DeepClean.receptive_field`)
and the cleaner that streams it (which runs the exported model and has no torch), computed from the
keyword arguments a version's metadata records (``architecture.kwargs``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_KERNEL_SIZE = 7
DEFAULT_WIDTHS = (8, 16, 32, 64)


def receptive_field(
    kernel_size: int = DEFAULT_KERNEL_SIZE,
    levels: int = len(DEFAULT_WIDTHS),
    linear_kernel_size: int | None = None,
    linear_dilation: int = 1,
) -> int:
    """Samples each side of an output sample that can affect it.

    The autoencoder's reach (input conv, ``levels`` stride-2 convs and their transposes, output conv)
    or the linear path's (``linear_kernel_size // 2`` taps ``linear_dilation`` samples apart), whichever
    is longer.
    """
    half = kernel_size // 2
    reach = half + sum(half * 2**level for level in range(levels))
    reach += sum((half + 1) * 2**level for level in range(levels))
    reach += half
    if linear_kernel_size is not None:
        reach = max(reach, (linear_kernel_size // 2) * linear_dilation)
    return reach


def streaming_context(
    kernel_size: int = DEFAULT_KERNEL_SIZE, levels: int = len(DEFAULT_WIDTHS), *linear_path: Any, **linear_options: Any
) -> int:
    """The receptive field rounded up to a multiple of the network's stride (``2**levels``).

    Parameters
    ----------
    kernel_size, levels
        As in :func:`receptive_field`.
    *linear_path, **linear_options
        ``linear_kernel_size`` and ``linear_dilation`` of :func:`receptive_field`.
    """
    stride = 2**levels
    return math.ceil(receptive_field(kernel_size, levels, *linear_path, **linear_options) / stride) * stride


def architecture_context(kwargs: Mapping[str, Any]) -> int:
    """:func:`streaming_context` of a network built from a version's ``architecture.kwargs``."""
    widths: Sequence[int] = kwargs.get("widths", DEFAULT_WIDTHS)
    return streaming_context(
        int(kwargs.get("kernel_size", DEFAULT_KERNEL_SIZE)),
        len(widths),
        kwargs.get("linear_kernel_size"),
        int(kwargs.get("linear_dilation", 1)),
    )
