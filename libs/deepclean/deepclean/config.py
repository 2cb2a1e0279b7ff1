"""Configuration: one pyproject.toml, one typed function per service.

Every service entry point is a typed function. :func:`run_cli` builds its
command line from the signature (with ``jsonargparse``), fills the defaults
from the ``[tool.typeo.scripts.<script>]`` table of the configuration file
(``${base.<key>}`` refers to ``[tool.typeo.base]``), overlays the table of the
selected profile (``[tool.typeo.profiles.<profile>.<script>]``), lets any value
be overridden on the command line, validates every value against its type
(constrained types such as ``PositiveInt`` check ranges) and calls the
function. A missing, mistyped or out-of-range value stops the program before
it does anything, with a message naming the key.
"""

from __future__ import annotations

import argparse
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

CONFIG_ENV = "DEEPCLEAN_CONFIG"
PROFILE_ENV = "DEEPCLEAN_PROFILE"
_REFERENCE = re.compile(r"\$\{base\.([A-Za-z0-9_]+)\}")


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


def _resolve(value: Any, base: dict, key: str, path: Path) -> Any:
    if isinstance(value, list):
        return [_resolve(v, base, key, path) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(name: str) -> Any:
        if name not in base:
            raise ConfigError(f"{path}: key {key!r} refers to ${{base.{name}}}, which is not in [tool.typeo.base]")
        return base[name]

    whole = _REFERENCE.fullmatch(value)
    if whole:  # keep the referenced value's type (a list, a number)
        return lookup(whole.group(1))
    return _REFERENCE.sub(lambda m: str(lookup(m.group(1))), value)


def load_table(script: str, config: Path, profile: str | None = None) -> dict[str, Any]:
    """The resolved table of ``script`` (with ``profile`` overlaid) from ``config``."""
    typeo = _load_toml(config).get("tool", {}).get("typeo", {})
    base = typeo.get("base", {})
    scripts = typeo.get("scripts", {})
    if script not in scripts:
        raise ConfigError(f"{config}: no [tool.typeo.scripts.{script}] table")
    table = dict(scripts[script])
    if profile:
        profiles = typeo.get("profiles", {})
        if profile not in profiles:
            raise ConfigError(f"{config}: unknown profile {profile!r} (known: {sorted(profiles)})")
        table.update(profiles[profile].get(script, {}))
    return {key: _resolve(value, base, key, config) for key, value in table.items()}


def _is_path(annotation: Any) -> bool:
    if annotation is Path:
        return True
    return any(arg is Path for arg in typing.get_args(annotation))


def _anchor_paths(func: Callable, table: dict, root: Path) -> dict:
    """Relative paths in the file are relative to the file's directory."""
    hints = typing.get_type_hints(func)
    anchored = dict(table)
    for key, value in table.items():
        if isinstance(value, str) and _is_path(hints.get(key)) and not os.path.isabs(value):
            anchored[key] = str(root / value)
    return anchored


def parse_config(func: Callable, script: str, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse the arguments of ``func`` from the configuration file and ``argv``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", type=Path, default=None)
    pre.add_argument("--profile", default=os.environ.get(PROFILE_ENV) or None)
    known, rest = pre.parse_known_args(argv)

    config = known.config.resolve() if known.config else find_config()
    table = load_table(script, config, known.profile)
    parameters = inspect.signature(func).parameters
    unknown = sorted(set(table) - set(parameters))
    if unknown:
        raise ConfigError(
            f"{config}: [tool.typeo.scripts.{script}] has unknown key(s) {unknown}; "
            f"{func.__module__}.{func.__name__} takes {sorted(parameters)}"
        )
    table = _anchor_paths(func, table, config.parent)

    parser = ArgumentParser(
        prog=f"deepclean-{script}",
        description=(inspect.getdoc(func) or "").split("\n\n")[0],
        epilog=f"Defaults come from [tool.typeo.scripts.{script}] in {config}"
        + (f" with profile {known.profile!r}" if known.profile else ""),
    )
    parser.add_argument("--config", help="configuration file (pyproject.toml)")
    parser.add_argument("--profile", help="profile overlaid on the script table")
    parser.add_function_arguments(func, as_group=False)
    parser.set_defaults(**table)
    parsed = parser.parse_args(rest)
    values = {name: getattr(parsed, name) for name in parameters}
    hints = typing.get_type_hints(func)
    for name, value in values.items():
        if value is not None and _is_path(hints.get(name)):
            values[name] = Path(value)
    return values


def run_cli(func: Callable, script: str, argv: Sequence[str] | None = None) -> Any:
    """Parse the configuration of ``func`` and call it; exit 2 on a configuration error."""
    try:
        values = parse_config(func, script, argv)
    except ConfigError as exc:
        print(f"deepclean-{script}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return func(**values)


DEPLOYMENT_KEYS = frozenset(
    {
        "band",
        "exporter_token_file",
        "exporter_url",
        "log_dir",
        "metrics_port",
        "retention_seconds",
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
