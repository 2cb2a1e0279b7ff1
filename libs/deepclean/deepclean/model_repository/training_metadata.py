"""The training metadata (``metadata.json``) as one typed schema: its parts, their JSON and their checks.

The trainer writes it into a training directory, the exporter copies it into a
model version (adding ``"version"``, ``"source"`` and ``"export"``), the cleaner
reads the scaler and the filter from it (docs/interfaces.md, "Training
directory")::

    TrainingMetadata
    ├── witness_channels, sample_rate, strain_sample_rate, band    (required)
    ├── filter: FilterSpec(kind, order, band)                       (required)
    ├── latency: LatencySpec(mode, lead, witness_resampling)        (optional: absent is zero-phase)
    ├── scaler: ScalerParameters(witness_mean, witness_std,         (required)
    │                            target_mean, target_std)
    ├── architecture: ArchitectureSpec(name, kwargs)                (required)
    ├── ifo, strain_channel, witness_sample_rates, span: TrainingSpan(start, end),
    │   ready_seconds, validation: ValidationFigures(loss, band_asd_ratio),
    │   library_version, training_seconds, created                  (optional: older files may lack them)
    └── extra: every other top-level key ("training", "version", "source", "export", ...)

Readers ignore keys they do not know, and :meth:`TrainingMetadata.to_json`
gives them back, so reading and writing a version's metadata keeps them.
Numbers are kept as read (an integer rate stays an integer), so a file read and
written again holds the same keys and values.

Every check lives in the dataclasses' ``__post_init__``: metadata built in code
is checked as a file read from disk is. A failed check raises
:class:`MetadataError` naming the key (``'scaler.witness_std'``);
:meth:`TrainingMetadata.from_json` adds the file it came from.
"""

from __future__ import annotations

import copy
import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from ..signal.resample import PHASES as RESAMPLING_PHASES


class MetadataError(ValueError):
    """A metadata.json is missing, unreadable, incomplete or does not match the configuration."""


class FilterKind(str, enum.Enum):
    """The band-passes a reader knows how to apply to the network's (un-scaled) prediction."""

    BUTTER_SOS_ZERO_PHASE = "butter-sos-zero-phase"
    """Butterworth second-order sections applied forward and backward (``scipy.signal.sosfiltfilt``)."""
    BUTTER_SOS_CAUSAL = "butter-sos-causal"
    """The same sections applied forward only (``scipy.signal.sosfilt``): no look-ahead, but a phase response."""


class LatencyMode(str, enum.Enum):
    """What a version's noise estimate waits for: the cleaner runs a version only in the mode it was trained for."""

    ZERO_PHASE = "zero-phase"
    """Zero-phase band-pass of the estimate: second ``t`` needs the next second's data."""
    CAUSAL = "causal"
    """Causal band-pass, the network trained ``lead`` samples ahead: second ``t`` needs nothing after ``t``."""


_NUMBER = (int, float)
"""The Python types of a JSON number."""

_Member = TypeVar("_Member", bound=enum.Enum)

_FILTER_OF_MODE = {
    LatencyMode.ZERO_PHASE: FilterKind.BUTTER_SOS_ZERO_PHASE,
    LatencyMode.CAUSAL: FilterKind.BUTTER_SOS_CAUSAL,
}


# --- checks shared by the parts ------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _check_positive(value: Any, key: str) -> None:
    if not _is_finite_number(value) or value <= 0:
        raise MetadataError(f"{key!r} must be a positive number, got {value!r}")


def _check_band(value: Any, key: str) -> tuple[float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise MetadataError(f"{key!r} must be [low, high] in Hz, got {value!r}")
    low, high = value
    if not (_is_finite_number(low) and _is_finite_number(high) and 0 <= low < high):
        raise MetadataError(f"{key!r} must be [low, high] with 0 <= low < high, got {list(value)!r}")
    return (low, high)


def _check_numbers(value: Any, key: str) -> tuple[float, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise MetadataError(f"{key!r} must be a list of numbers")
    if not all(_is_finite_number(v) for v in value):
        raise MetadataError(f"{key!r} holds a non-finite or non-numeric value")
    return tuple(value)


def _check_optional(value: Any, kind: type | tuple[type, ...], key: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
        raise MetadataError(f"key {key!r} has the wrong type ({type(value).__name__})")


def _field(content: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """``content[key]``, which must be there and of JSON type ``kind``."""
    name = f"{where}.{key}" if where else key
    if key not in content:
        raise MetadataError(f"missing key {name!r}")
    value = content[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise MetadataError(f"key {name!r} has the wrong type ({type(value).__name__})")
    return value


def _object(content: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(content, Mapping):
        raise MetadataError(f"key {key!r} has the wrong type ({type(content).__name__}), expected an object")
    return content


def _fields(content: Any, where: str, **kinds: type | tuple[type, ...]) -> dict[str, Any]:
    """The keys of ``kinds`` in the object ``content`` found at key ``where``, each checked by :func:`_field`."""
    content = _object(content, where)
    return {key: _field(content, key, kind, where) for key, kind in kinds.items()}


def _member(kind: type[_Member], value: Any, key: str) -> _Member:
    """The member of the enum ``kind`` whose value is ``value``."""
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise MetadataError(f"{key!r} {value!r} is not supported (known: {known})") from None


def _check_integer(value: Any, key: str, *, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise MetadataError(f"{key!r} must be a {'non-negative' if allow_zero else 'positive'} integer, got {value!r}")


# --- the parts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterSpec:
    """``"filter"``: the band-pass applied to the un-scaled prediction before it is subtracted."""

    kind: FilterKind
    order: int
    band: tuple[float, float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _member(FilterKind, self.kind, "filter.kind"))
        _check_integer(self.order, "filter.order", allow_zero=False)
        object.__setattr__(self, "band", _check_band(self.band, "filter.band"))

    @classmethod
    def from_json(cls, content: Any) -> FilterSpec:
        return cls(**_fields(content, "filter", kind=str, order=int, band=list))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "order": self.order, "band": list(self.band)}


@dataclass(frozen=True)
class LatencySpec:
    """``"latency"``: the mode a version was trained for, its lead and its witnesses' resampling.

    The network's output sample ``n`` (working rate) estimates the noise at sample
    ``n + lead``: the look-ahead of the cleaner's chain a causal version is trained
    to predict across (:func:`deepclean.signal.causal_lead`); 0 in zero-phase mode.
    ``witness_resampling`` is the phase of the filter its witnesses were resampled
    with (:data:`deepclean.signal.resample.PHASES`; ``"linear"`` when the file
    has none, as files written before the minimum-phase one existed): the network
    learned that filter's phase response, so the cleaner must resample the same way.
    """

    mode: LatencyMode
    lead: int
    witness_resampling: str = "linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", _member(LatencyMode, self.mode, "latency.mode"))
        _check_integer(self.lead, "latency.lead", allow_zero=True)
        if self.mode is LatencyMode.ZERO_PHASE and self.lead:
            raise MetadataError(f"'latency.lead' must be 0 in zero-phase mode, got {self.lead!r}")
        if self.witness_resampling not in RESAMPLING_PHASES:
            raise MetadataError(
                f"'latency.witness_resampling' {self.witness_resampling!r} is not supported "
                f"(known: {', '.join(RESAMPLING_PHASES)})"
            )

    @classmethod
    def from_json(cls, content: Any) -> LatencySpec:
        fields = _fields(content, "latency", mode=str, lead=int)
        if "witness_resampling" in content:
            fields["witness_resampling"] = _field(content, "witness_resampling", str, "latency")
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        content: dict[str, Any] = {"mode": self.mode.value, "lead": self.lead}
        if self.witness_resampling != "linear":  # a file without the key reads back as it was
            content["witness_resampling"] = self.witness_resampling
        return content


@dataclass(frozen=True)
class ScalerParameters:
    """``"scaler"``: witnesses are z-scored with these; a prediction ``p`` is ``p * target_std + target_mean``."""

    witness_mean: tuple[float, ...]
    witness_std: tuple[float, ...]
    target_mean: float
    target_std: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "witness_mean", _check_numbers(self.witness_mean, "scaler.witness_mean"))
        object.__setattr__(self, "witness_std", _check_numbers(self.witness_std, "scaler.witness_std"))
        if any(v <= 0 for v in self.witness_std):
            raise MetadataError("'scaler.witness_std' must be positive")
        if not _is_finite_number(self.target_mean):
            raise MetadataError("'scaler.target_mean' must be a finite number")
        if not _is_finite_number(self.target_std):
            raise MetadataError("'scaler.target_std' must be a finite number")
        if self.target_std <= 0:
            raise MetadataError("'scaler.target_std' must be positive")

    @classmethod
    def from_json(cls, content: Any) -> ScalerParameters:
        return cls(
            **_fields(content, "scaler", witness_mean=list, witness_std=list, target_mean=_NUMBER, target_std=_NUMBER)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "witness_mean": list(self.witness_mean),
            "witness_std": list(self.witness_std),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }


@dataclass(frozen=True)
class ArchitectureSpec:
    """``"architecture"``: the network's class name and its keyword arguments."""

    name: str
    kwargs: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not isinstance(self.kwargs, Mapping):
            raise MetadataError("'architecture' needs a 'name' and a 'kwargs' object")
        object.__setattr__(self, "kwargs", copy.deepcopy(dict(self.kwargs)))

    @classmethod
    def from_json(cls, content: Any) -> ArchitectureSpec:
        content = _object(content, "architecture")
        return cls(name=content.get("name"), kwargs=content.get("kwargs"))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": copy.deepcopy(dict(self.kwargs))}


@dataclass(frozen=True)
class TrainingSpan:
    """``"span"``: the GPS seconds ``[start, end)`` the network was trained on."""

    start: int
    end: int

    def __post_init__(self) -> None:
        for key in ("start", "end"):
            value = getattr(self, key)
            if not _is_finite_number(value):
                raise MetadataError(f"'span.{key}' must be a GPS time, got {value!r}")
        if self.end <= self.start:
            raise MetadataError(f"'span' must end after it starts, got {self.start}-{self.end}")

    @classmethod
    def from_json(cls, content: Any) -> TrainingSpan:
        return cls(**_fields(content, "span", start=_NUMBER, end=_NUMBER))

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True)
class ValidationFigures:
    """``"validation"``: the loss and in-band ASD ratio (cleaned / raw) on the held-out data, the 1 Hz
    bins outside the band where cleaning it added noise (:func:`deepclean.figures.judge_bins`), and the
    BNS range of the raw and the cleaned held-out strain (:meth:`deepclean.figures.BinPowers.bns_range_mpc`;
    ``None``: not recorded, as in metadata written before they were)."""

    loss: float
    band_asd_ratio: float
    noise_added_bins: tuple[float, ...] | None = None
    range_raw_mpc: float | None = None
    range_cleaned_mpc: float | None = None

    def __post_init__(self) -> None:
        for key in ("loss", "band_asd_ratio"):
            if not _is_number(getattr(self, key)):  # not necessarily finite: a figure is reported as it came
                raise MetadataError(f"'validation.{key}' must be a number, got {getattr(self, key)!r}")
        if self.noise_added_bins is not None and not all(_is_number(f) for f in self.noise_added_bins):
            raise MetadataError(f"'validation.noise_added_bins' must be numbers, got {list(self.noise_added_bins)!r}")
        if (self.range_raw_mpc is None) != (self.range_cleaned_mpc is None):
            raise MetadataError("'validation.range_raw_mpc' and 'validation.range_cleaned_mpc' come together")
        for key in ("range_raw_mpc", "range_cleaned_mpc"):
            value = getattr(self, key)
            if value is not None and not _is_number(value):
                raise MetadataError(f"'validation.{key}' must be a number, got {value!r}")

    @property
    def range_lost(self) -> bool:
        """The cleaned held-out strain's BNS range is below the raw one's (:func:`deepclean.figures.range_lost`;
        a non-finite figure counts as lost); False when not recorded."""
        if self.range_raw_mpc is None or self.range_cleaned_mpc is None:
            return False
        from ..figures import range_lost

        if not (math.isfinite(self.range_raw_mpc) and math.isfinite(self.range_cleaned_mpc)):
            return True
        return range_lost(self.range_raw_mpc, self.range_cleaned_mpc)

    @classmethod
    def from_json(cls, content: Any) -> ValidationFigures:
        figures = _fields(content, "validation", loss=_NUMBER, band_asd_ratio=_NUMBER)
        ranges = {key: _field(content, key, _NUMBER, "validation") for key in _RANGE_KEYS if key in content}
        return cls(**figures, noise_added_bins=_optional_list(content, "noise_added_bins"), **ranges)

    def to_json(self) -> dict[str, Any]:
        figures = {"loss": self.loss, "band_asd_ratio": self.band_asd_ratio}
        if self.noise_added_bins is not None:
            figures["noise_added_bins"] = list(self.noise_added_bins)
        if self.range_raw_mpc is not None:
            figures["range_raw_mpc"] = self.range_raw_mpc
            figures["range_cleaned_mpc"] = self.range_cleaned_mpc
        return figures


_RANGE_KEYS = ("range_raw_mpc", "range_cleaned_mpc")


def _optional_list(content: Mapping[str, Any], key: str) -> tuple[Any, ...] | None:
    if key not in content:
        return None
    value = content[key]
    if not isinstance(value, list):
        raise MetadataError(f"'validation.{key}' must be a list, got {value!r}")
    return tuple(value)


# --- the whole -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TrainingMetadata:
    """The metadata of one training run (and, with ``extra``, of the model version exported from it).

    Parameters
    ----------
    witness_channels
        The network's input channels, in input order.
    sample_rate
        Rate (Hz) the network runs at.
    strain_sample_rate
        Rate (Hz) of the strain the noise estimate is subtracted from.
    band
        Where the cleaning is judged (validation, monitor, safety gate).
    filter, scaler, architecture
        How a prediction becomes strain, and which network makes it.
    latency
        The latency mode the version was trained for (``None``: zero-phase, as files written before
        the causal mode existed); see :attr:`latency_mode`.
    ifo, strain_channel, witness_sample_rates, span, ready_seconds, validation, library_version,
    training_seconds, created
        What the trainer records about the run; ``None`` when a file lacks the key.
    extra
        Every other top-level key, kept as read (the trainer's ``"training"``, the
        exporter's ``"version"``, ``"source"`` and ``"export"``).
    """

    witness_channels: tuple[str, ...]
    sample_rate: float
    strain_sample_rate: float
    band: tuple[float, float]
    filter: FilterSpec
    scaler: ScalerParameters
    architecture: ArchitectureSpec
    ifo: str | None = None
    strain_channel: str | None = None
    witness_sample_rates: Mapping[str, float] | None = None
    span: TrainingSpan | None = None
    ready_seconds: float | None = None
    validation: ValidationFigures | None = None
    library_version: str | None = None
    training_seconds: float | None = None
    created: str | None = None
    latency: LatencySpec | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        channels = self.witness_channels
        if isinstance(channels, str) or not isinstance(channels, Sequence):
            raise MetadataError(f"key 'witness_channels' has the wrong type ({type(channels).__name__})")
        if not channels or not all(isinstance(c, str) and c for c in channels):
            raise MetadataError("'witness_channels' must be a non-empty list of channel names")
        object.__setattr__(self, "witness_channels", tuple(channels))
        for key in ("sample_rate", "strain_sample_rate"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise MetadataError(f"key {key!r} has the wrong type ({type(value).__name__})")
            _check_positive(value, key)
        object.__setattr__(self, "band", _check_band(self.band, "band"))
        for key, kind in (("filter", FilterSpec), ("scaler", ScalerParameters), ("architecture", ArchitectureSpec)):
            if not isinstance(getattr(self, key), kind):
                raise MetadataError(f"key {key!r} must be a {kind.__name__}")
        for key in ("witness_mean", "witness_std"):
            if len(getattr(self.scaler, key)) != len(channels):
                raise MetadataError(f"'scaler.{key}' must list one value per witness channel ({len(channels)})")
        num_witnesses = self.architecture.kwargs.get("num_witnesses", len(channels))
        if num_witnesses != len(channels):
            raise MetadataError(
                f"'architecture.kwargs.num_witnesses' is {num_witnesses!r}, "
                f"but there are {len(channels)} witness channels"
            )
        for key in ("ifo", "strain_channel", "library_version", "created"):
            _check_optional(getattr(self, key), str, key)
        for key in ("ready_seconds", "training_seconds"):
            _check_optional(getattr(self, key), (int, float), key)
        _check_optional(self.span, TrainingSpan, "span")
        _check_optional(self.validation, ValidationFigures, "validation")
        _check_optional(self.latency, LatencySpec, "latency")
        if self.filter.kind is not _FILTER_OF_MODE[self.latency_mode]:
            raise MetadataError(
                f"'filter.kind' {self.filter.kind.value!r} does not fit 'latency.mode' {self.latency_mode.value!r}"
            )
        if self.witness_sample_rates is not None:
            rates = _object(self.witness_sample_rates, "witness_sample_rates")
            for channel, rate in rates.items():
                _check_positive(rate, f"witness_sample_rates.{channel}")
            object.__setattr__(self, "witness_sample_rates", dict(rates))
        shadowed = sorted(set(self.extra) & _KNOWN_KEYS)
        if shadowed:
            raise MetadataError(f"'extra' holds the schema's own key(s) {shadowed}")
        object.__setattr__(self, "extra", copy.deepcopy(dict(self.extra)))

    @property
    def latency_mode(self) -> LatencyMode:
        """The mode the version was trained for (zero-phase when the file has no ``"latency"``)."""
        return self.latency.mode if self.latency is not None else LatencyMode.ZERO_PHASE

    @property
    def lead(self) -> int:
        """Samples (working rate) after an output sample whose noise it estimates (``latency.lead``, else 0)."""
        return self.latency.lead if self.latency is not None else 0

    @property
    def witness_resampling(self) -> str:
        """Phase of the witnesses' resampling filter (``latency.witness_resampling``, else ``"linear"``)."""
        return self.latency.witness_resampling if self.latency is not None else "linear"

    @classmethod
    def from_json(cls, content: Any, source: Path | str = "metadata") -> TrainingMetadata:
        """The metadata in the JSON object ``content`` (parsed ``metadata.json``), checked.

        Raises :class:`MetadataError` naming ``source`` (a file, a model version) and the key at fault.
        """
        try:
            if not isinstance(content, Mapping):
                raise MetadataError("metadata must be a JSON object")
            known = {
                "witness_channels": _field(content, "witness_channels", list),
                "sample_rate": _field(content, "sample_rate", (int, float)),
                "strain_sample_rate": _field(content, "strain_sample_rate", (int, float)),
                "band": _field(content, "band", list),
                "filter": FilterSpec.from_json(_field(content, "filter", dict)),
                "scaler": ScalerParameters.from_json(_field(content, "scaler", dict)),
                "architecture": ArchitectureSpec.from_json(_field(content, "architecture", dict)),
            }
            parts = {"span": TrainingSpan, "validation": ValidationFigures, "latency": LatencySpec}
            for key in _OPTIONAL_KEYS:
                value = content.get(key)
                known[key] = parts[key].from_json(value) if key in parts and value is not None else value
            extra = {key: value for key, value in content.items() if key not in _KNOWN_KEYS}
            return cls(**known, extra=extra)
        except MetadataError as exc:
            raise MetadataError(f"{source}: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``metadata.json``: the schema's keys in order (absent ones left out), then ``extra``."""
        content: dict[str, Any] = {}
        for key in _KEY_ORDER:
            value = getattr(self, key)
            if value is None:
                continue
            if hasattr(value, "to_json"):
                value = value.to_json()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            content[key] = value
        content.update(copy.deepcopy(dict(self.extra)))
        return content


_KEY_ORDER = (
    "ifo",
    "strain_channel",
    "witness_channels",
    "witness_sample_rates",
    "sample_rate",
    "strain_sample_rate",
    "band",
    "filter",
    "latency",
    "scaler",
    "architecture",
    "span",
    "ready_seconds",
    "validation",
    "library_version",
    "training_seconds",
    "created",
)
_KNOWN_KEYS = frozenset(f.name for f in fields(TrainingMetadata)) - {"extra"}
_REQUIRED_KEYS = ("witness_channels", "sample_rate", "strain_sample_rate", "band", "filter", "scaler", "architecture")
_OPTIONAL_KEYS = tuple(key for key in _KEY_ORDER if key not in _REQUIRED_KEYS)
