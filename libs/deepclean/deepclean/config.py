"""Configuration: one pyproject.toml, one typed function per service.

Every service entry point is a typed function. :func:`parse_config` builds its
command line from the signature (with ``jsonargparse``; ``--help`` describes
each flag with the function's numpydoc docstring), fills the defaults from the
``[tool.typeo.scripts.<script>]`` table of the configuration file
(``${base.<key>}`` refers to ``[tool.typeo.base]``), overlays the table of the
selected profile (``[tool.typeo.profiles.<profile>.<script>]``), lets any value
be overridden on the command line and validates every value against its type
(constrained types such as ``PositiveInt`` check ranges). The file, table and
profile are ``--typeo FILE[:SCRIPT[:PROFILE]]`` as in ML4GW's typeo, or
``--config`` and ``--profile`` (defaults ``$DEEPCLEAN_CONFIG`` or the nearest
pyproject.toml, and ``$DEEPCLEAN_PROFILE``). A missing, mistyped or
out-of-range value stops the program before it does anything, with a message
naming the key; :mod:`deepclean.entry_point` runs the function and says what
each exit status means.

Several detectors (:mod:`deepclean.detectors`): ``--detector NAME`` lays the
table ``[tool.typeo.detectors.NAME]`` over ``[tool.typeo.base]`` (default: the
first of ``[tool.typeo.base] detectors``); ``${detectors.<key>}`` is the list
of that key's value for every configured detector (the exporter's model names)
and ``${detectors.<key>:<other>}`` the mapping of each detector's ``<key>`` to
its ``<other>`` (each model's witness channels).
Base values may refer to other base values (``"${base.data_dir}/H1/llhoft"``).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import re
import sys
import tomllib
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser

from .detectors import (
    SHARED_SCRIPTS,
    STATUS_SCRIPT,
    DetectorError,
    check_ports,
    configured_detectors,
    detector_overlay,
    is_port_key,
)
from .parameter_docs import parameter_descriptions

CONFIG_ENV = "DEEPCLEAN_CONFIG"
PROFILE_ENV = "DEEPCLEAN_PROFILE"
_BASE = "[tool.typeo.base] (or the detector's table)"
_REFERENCE = re.compile(r"\$\{(base|detectors)\.([A-Za-z0-9_]+)(?::([A-Za-z0-9_]+))?\}")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, mistyped or out of range."""


def find_config(start: Path | None = None) -> Path:
    """The configuration file: ``$DEEPCLEAN_CONFIG`` or the nearest pyproject.toml
    above ``start`` (the current directory) that has a ``[tool.typeo]`` table."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).resolve()
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and "typeo" in _load_toml(candidate).get("tool", {}):
            return candidate
    raise ConfigError(f"no pyproject.toml with a [tool.typeo] table above {here}; pass --config or set {CONFIG_ENV}")


def _load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from exc


def _substitute(value: Any, lookup: Callable[[str, str, str | None], Any]) -> Any:
    """``value`` with every ``${scope.name}`` (or ``${scope.name:value}``) replaced by
    ``lookup(scope, name, value)``; a reference that is the whole string keeps the referenced value's
    type (a list, a number, a mapping)."""
    if isinstance(value, list):
        return [_substitute(v, lookup) for v in value]
    if not isinstance(value, str):
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return lookup(*whole.groups())
    return _REFERENCE.sub(lambda m: str(lookup(*m.groups())), value)


def _resolved_base(typeo: dict, detector: str | None, path: Path) -> tuple[dict[str, Any], dict[str, dict]]:
    """Base with ``detector``'s table laid over it and its references to base resolved, and that detector's
    script overlays (:func:`deepclean.detectors.detector_overlay`)."""
    try:
        base, overlays = detector_overlay(typeo, detector, path)
    except DetectorError as exc:
        raise ConfigError(str(exc)) from None
    resolved: dict[str, Any] = {}

    def value_of(name: str, chain: tuple[str, ...]) -> Any:
        if name in resolved:
            return resolved[name]
        if name not in base:
            raise ConfigError(f"{path}: key {chain[-1]!r} refers to ${{base.{name}}}, which is not in {_BASE}")
        if name in chain:
            raise ConfigError(f"{path}: base keys refer to each other in a circle: {' -> '.join((*chain, name))}")

        def lookup(scope: str, reference: str, mapped: str | None) -> Any:
            if scope != "base" or mapped:
                raise ConfigError(
                    f"{path}: base key {name!r} refers to ${{{scope}.{reference}}}; only script tables may "
                    "refer to every detector's values"
                )
            return value_of(reference, (*chain, name))

        resolved[name] = _substitute(base[name], lookup)
        return resolved[name]

    for name in base:
        value_of(name, ())
    return resolved, overlays


def load_table(script: str, config: Path, profile: str | None = None, detector: str | None = None) -> dict[str, Any]:
    """The resolved table of ``script`` for ``detector`` (with ``profile`` overlaid) from ``config``.

    The table is ``[tool.typeo.scripts.<script>]``, then the detector's sub-table of that script, then
    the profile's. ``detector`` None is the first configured detector, or base as it is when the
    configuration lists no detectors.
    """
    typeo = _load_toml(config).get("tool", {}).get("typeo", {})
    base, overlays = _resolved_base(typeo, detector, config)
    scripts = typeo.get("scripts", {})
    if script not in scripts:
        raise ConfigError(f"{config}: no [tool.typeo.scripts.{script}] table")
    table = dict(scripts[script])
    table.update(overlays.get(script, {}))
    if profile:
        profiles = typeo.get("profiles", {})
        if profile not in profiles:
            raise ConfigError(f"{config}: unknown profile {profile!r} (known: {sorted(profiles)})")
        table.update(profiles[profile].get(script, {}))
    _check_ports(typeo, config)

    def every_detector(key: str, *names: str) -> list[list[Any]]:
        bases = [_resolved_base(typeo, d, config)[0] for d in configured_detectors(typeo, config) or [None]]
        for name in names:
            if any(name not in b for b in bases):
                raise ConfigError(f"{config}: key {key!r} refers to {name!r} of every detector, which not all have")
        return [[b[name] for name in names] for b in bases]

    def resolver(key: str) -> Callable[[str, str, str | None], Any]:
        def lookup(scope: str, name: str, mapped: str | None) -> Any:
            if scope == "detectors" and mapped:
                return {str(k): v for k, v in every_detector(key, name, mapped)}
            if scope == "detectors":
                return [value for (value,) in every_detector(key, name)]
            if mapped:
                raise ConfigError(
                    f"{config}: key {key!r}: ${{base.{name}:{mapped}}} is not a reference; "
                    f"did you mean ${{detectors.{name}:{mapped}}}?"
                )
            if name not in base:
                raise ConfigError(f"{config}: key {key!r} refers to ${{base.{name}}}, which is not in {_BASE}")
            return base[name]

        return lookup

    return {key: _substitute(value, resolver(key)) for key, value in table.items()}


def _check_ports(typeo: dict, config: Path) -> None:
    """Refuse a configuration whose detectors would bind one port (:func:`deepclean.detectors.check_ports`).

    Each detector's ports are the ``*_port`` keys of its per-detector script tables (every table but
    :data:`~deepclean.detectors.SHARED_SCRIPTS`): the script table with the detector's sub-table laid
    over it. Profiles are not checked: a profile's port is every detector's on purpose (a test that runs
    one detector and scrapes it). A single-detector configuration is not checked.
    """
    names = configured_detectors(typeo, config)  # already checked by _resolved_base
    if not names:
        return
    scripts = typeo.get("scripts", {})

    def ports_of(script: str, base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, int]:
        found = {}
        for key, value in {**scripts.get(script, {}), **overlay}.items():
            reference = _REFERENCE.fullmatch(value) if isinstance(value, str) else None
            if reference and reference.group(1) == "base" and not reference.group(3):
                value = base.get(reference.group(2), value)  # a port kept in base; anything else is no port
            if is_port_key(key, value):
                found[f"[tool.typeo.scripts.{script}] {key}"] = value
        return found

    ports = {}
    for name in names:
        base, overlays = _resolved_base(typeo, name, config)
        ports[name] = {
            key: port
            for script in scripts
            if script not in SHARED_SCRIPTS
            for key, port in ports_of(script, base, overlays.get(script, {})).items()
        }
    status_port = None
    if STATUS_SCRIPT in scripts:
        status = ports_of(STATUS_SCRIPT, _resolved_base(typeo, None, config)[0], {})
        status_port = status.get(f"[tool.typeo.scripts.{STATUS_SCRIPT}] status_port")
    try:
        check_ports(ports, status_port, config)
    except DetectorError as exc:
        raise ConfigError(str(exc)) from None


def detectors_of(config: Path) -> list[str]:
    """The detectors ``config`` configures (empty: a single-detector configuration without a list)."""
    typeo = _load_toml(config).get("tool", {}).get("typeo", {})
    try:
        return configured_detectors(typeo, config)
    except DetectorError as exc:
        raise ConfigError(str(exc)) from None


def _is_path(annotation: Any) -> bool:
    if annotation is Path:
        return True
    return any(arg is Path for arg in typing.get_args(annotation))


def _anchor_paths(func: Callable, table: dict, root: Path) -> dict:
    """Relative paths in the file are relative to the file's directory."""
    hints = typing.get_type_hints(func)
    anchored = dict(table)
    for key, value in table.items():
        if not _is_path(hints.get(key)):
            continue
        if isinstance(value, str) and not os.path.isabs(value):
            anchored[key] = str(root / value)
        elif isinstance(value, list):  # list[Path]
            anchored[key] = [str(root / v) if isinstance(v, str) and not os.path.isabs(v) else v for v in value]
    return anchored


def select_table(
    script: str, typeo: str | None = None, config: Path | None = None, profile: str | None = None
) -> tuple[Path, str, str | None]:
    """The configuration file, script table and profile a command line asks for.

    ``typeo`` is ML4GW's ``FILE[:SCRIPT[:PROFILE]]`` (a directory stands for its
    pyproject.toml, an empty part for the default); it selects all three and
    cannot be combined with ``config`` or ``profile``. Otherwise the file is
    ``config`` (default: :func:`find_config`), the table ``script`` and the
    profile ``profile`` (default: ``$DEEPCLEAN_PROFILE``).
    """
    if typeo is None:
        return (config.resolve() if config else find_config()), script, profile or os.environ.get(PROFILE_ENV) or None
    if config is not None or profile is not None:
        raise ConfigError("--typeo names the file, table and profile: give it without --config or --profile")
    parts = typeo.split(":")
    if len(parts) > 3:
        raise ConfigError(f"--typeo {typeo!r}: expected FILE[:SCRIPT[:PROFILE]]")
    path, table, chosen = [*parts, "", ""][:3]
    if not path:
        file = find_config()
    else:
        file = Path(path).resolve()
        file = file / "pyproject.toml" if file.is_dir() else file
    return file, table or script, chosen or None


def parse_config(func: Callable, script: str, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse the arguments of ``func`` from the configuration file and ``argv`` (``deepclean-<script>``).

    ``--typeo``, ``--config`` and ``--profile`` select the file, table and
    profile (:func:`select_table`), ``--detector`` the detector (:func:`load_table`);
    every other flag is a parameter of ``func``, described in ``--help`` by the function's docstring.
    A file or table that cannot be used raises :class:`ConfigError`; a value that is mistyped or out
    of range, or a flag ``func`` does not take, ends the program with
    ``deepclean-<script>: configuration error: ...`` on stderr and exit status 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = f"deepclean-{script}"
    pre = argparse.ArgumentParser(prog=prog, add_help=False)
    pre.add_argument("--typeo", default=None)
    pre.add_argument("--config", type=Path, default=None)
    pre.add_argument("--profile", default=None)
    pre.add_argument("--detector", default=None)
    known, rest = pre.parse_known_args(argv)
    config, table_name, profile = select_table(script, known.typeo, known.config, known.profile)

    table = load_table(table_name, config, profile, known.detector)
    parameters = inspect.signature(func).parameters
    unknown = sorted(set(table) - set(parameters))
    if unknown:
        raise ConfigError(
            f"{config}: [tool.typeo.scripts.{table_name}] has unknown key(s) {unknown}; "
            f"{func.__module__}.{func.__name__} takes {sorted(parameters)}"
        )
    table = _anchor_paths(func, table, config.parent)

    parser = ArgumentParser(
        prog=prog,
        description=(inspect.getdoc(func) or "").split("\n\n")[0],
        epilog=f"Defaults come from [tool.typeo.scripts.{table_name}] in {config}"
        + (f" for detector {known.detector}" if known.detector else "")
        + (f" with profile {profile!r}" if profile else ""),
        exit_on_error=False,
    )
    parser.add_argument("--typeo", help="FILE[:SCRIPT[:PROFILE]]: configuration file, script table and profile")
    parser.add_argument("--config", help=f"configuration file (pyproject.toml; default ${CONFIG_ENV} or the nearest)")
    parser.add_argument("--profile", help=f"profile overlaid on the script table (default ${PROFILE_ENV})")
    parser.add_argument(
        "--detector", help="the detector to run for: its [tool.typeo.detectors.<name>] table (default: the first)"
    )
    parser.add_function_arguments(func, as_group=False)
    _describe_flags(parser, parameter_descriptions(func))
    parser.set_defaults(**table)
    try:
        parsed = parser.parse_args(rest)
    except argparse.ArgumentError as exc:
        message = " ".join(str(exc).split())
        print(f"{prog}: configuration error: {message} (see {prog} --help)", file=sys.stderr)
        raise SystemExit(2) from None
    values = {name: getattr(parsed, name) for name in parameters}
    hints = typing.get_type_hints(func)
    for name, value in values.items():
        if value is not None and _is_path(hints.get(name)):
            values[name] = [Path(v) for v in value] if isinstance(value, list) else Path(value)
    return values


def from_keys(cls: type, values: dict[str, Any], **derived: Any) -> Any:
    """The dataclass ``cls`` with each field set to the configuration key of its name in ``values``
    (absent: the field's default), or to its value in ``derived``."""
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values} | derived)


def _describe_flags(parser: ArgumentParser, descriptions: dict[str, str]) -> None:
    """Give each flag of a parameter the description of that parameter (``--help``)."""
    for action in parser._actions:
        if action.dest in descriptions:
            action.help = descriptions[action.dest]


def run_cli(func: Callable, script: str, argv: Sequence[str] | None = None) -> None:
    """Run ``func`` as the program ``deepclean-<script>``: :func:`deepclean.entry_point.run`."""
    from .entry_point import run  # the entry point builds on this module

    run(func, script, argv)


DEPLOYMENT_KEYS = frozenset(
    {
        "band",
        "exporter_token_file",
        "exporter_url",
        "log_dir",
        "metrics_port",
        "retention_seconds",
        "status_port",
        "strain_channel",
        "triton_url",
        "witness_channels",
    }
)
"""Keys whose value is a fact of one deployment (where things are, what is measured): the configuration
sets them whatever the function's default, which only serves a bare call (tests, a library user)."""


def drifted_defaults(
    func: Callable, script: str, config: Path, deployment_keys: frozenset[str] = DEPLOYMENT_KEYS
) -> dict[str, tuple[Any, Any]]:
    """Keys of ``[tool.typeo.scripts.<script>]`` whose value differs from ``func``'s default.

    The rule of this project: a function's default is the shipped default, and the
    configuration restates or overrides only deployment facts (``deployment_keys``,
    paths, interpolated ``${base.*}`` values) and profiles. Anything else in the
    table that disagrees with the signature is a default kept in two places that
    drifted: returned as ``{key: (signature default, configuration value)}``.
    """
    raw = _load_toml(config)["tool"]["typeo"]["scripts"][script]
    table = load_table(script, config)
    hints = typing.get_type_hints(func)
    drifted = {}
    for name, parameter in inspect.signature(func).parameters.items():
        default = parameter.default
        if name not in table or default is inspect.Parameter.empty or name in deployment_keys:
            continue
        if _is_path(hints.get(name)) or (isinstance(raw.get(name), str) and _REFERENCE.search(raw[name])):
            continue
        value = table[name]
        if isinstance(default, tuple):
            default = list(default)
        if value != default:
            drifted[name] = (parameter.default, value)
    return drifted
