"""``python -m deepclean_tools.suite``: start, stop and inspect the suite.

start: every service under its supervisor, one named tmux pane each in the
session ``deepclean`` (``--headless``: background processes): the exporter and the
status page in the window ``deepclean``, each detector's services (``trainer-H1``,
see :mod:`deepclean_tools.suite.services`) in a window named after the detector.
``--detectors H1`` starts only those of the configured detectors. Each service's
console (and its supervisor's restarts) goes to ``<log_dir>/<service>.console.log``
beside the service's own log; pid files are in ``<run_dir>/pids``.
stop: SIGTERM to every supervisor (which stops its service), then the tmux
session goes. status: which services run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deepclean.config import PROFILE_ENV, ConfigError, detectors_of, find_config, load_table
from deepclean.exporter_api import create_token_file

from .services import SHARED_GROUP, Service, discover, tmux_available
from .supervisor import supervise

SESSION = "deepclean"
PROJECT_ROOT = Path(__file__).resolve().parents[3]  # where .venvs/ and servers/ are


def _paths(config: Path) -> tuple[Path, Path, Path]:
    base = load_table("suite", config)
    root = config.parent
    run_dir = root / base["run_dir"]
    return run_dir, root / base["log_dir"], root / base["exporter_token_file"]


SUPERVISOR_START_TIMEOUT = 30.0
"""Seconds ``start --headless`` waits for each supervisor to write its pid file."""


def _supervisor_command(service: Service, log_dir: Path, pid_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "deepclean_tools.suite",
        "supervise",
        "--name",
        service.name,
        "--log-file",
        str(log_dir / f"{service.name}.console.log"),
        "--pid-file",
        str(pid_dir / f"{service.name}.pid"),
        "--",
        *service.command,
    ]


def _wait_for_pid_files(
    supervisors: dict[str, subprocess.Popen], pid_dir: Path, timeout: float = SUPERVISOR_START_TIMEOUT
) -> list[str]:
    """Wait until every supervisor has written its pid file, so that ``status`` and ``stop`` see it
    as soon as ``start`` returns; the names of those that exited first or did not write it in time."""
    deadline = time.monotonic() + timeout
    waiting = dict(supervisors)
    while waiting and time.monotonic() < deadline:
        for name in [n for n in waiting if (pid_dir / f"{n}.pid").exists()]:
            del waiting[name]
        if any(process.poll() is not None for process in waiting.values()):
            break
        time.sleep(0.05)
    return sorted(waiting)


def _running(pid_dir: Path) -> dict[str, int]:
    alive = {}
    for pid_file in sorted(pid_dir.glob("*.pid")):
        try:
            pid = int(pid_file.read_text())
            os.kill(pid, 0)
        except FileNotFoundError:
            continue  # its supervisor stopped and removed it since the listing
        except (ValueError, ProcessLookupError, PermissionError):
            pid_file.unlink(missing_ok=True)
            continue
        alive[pid_file.stem] = pid
    return alive


def _chosen_detectors(config: Path, asked: list[str] | None) -> list[str]:
    """The detectors to start: ``asked`` (each one configured; ``H1 L1`` or ``H1,L1``) or every configured one."""
    configured = detectors_of(config)
    if asked is None:
        return configured
    asked = [name for item in asked for name in item.split(",") if name]
    if not configured:
        raise ConfigError(f"{config}: --detectors given, but [tool.typeo.base] lists no detectors")
    unknown = [name for name in asked if name not in configured]
    if unknown:
        raise ConfigError(f"unknown detector(s) {unknown}; configured detectors: {', '.join(configured)}")
    return list(dict.fromkeys(asked))


def start(args: argparse.Namespace, config: Path) -> int:
    run_dir, log_dir, token_file = _paths(config)
    pid_dir = run_dir / "pids"
    if _running(pid_dir):
        print(f"the suite is already running ({', '.join(_running(pid_dir))}); ./run.sh stop first", file=sys.stderr)
        return 1
    try:
        detectors = _chosen_detectors(config, args.detectors)
        services = discover(PROJECT_ROOT, args.services, triton=args.triton, detectors=detectors)
    except (ConfigError, ValueError) as exc:
        print(f"run.sh: {exc}", file=sys.stderr)
        return 2
    if not services:
        print("no service is built: run ./build.sh", file=sys.stderr)
        return 1
    for directory in (run_dir, log_dir, pid_dir):
        directory.mkdir(parents=True, exist_ok=True)
    create_token_file(token_file)
    os.environ["DEEPCLEAN_CONFIG"] = str(config)
    if args.profile:
        os.environ[PROFILE_ENV] = args.profile
    else:
        os.environ.pop(PROFILE_ENV, None)
    names = ", ".join(s.name for s in services)
    profile = args.profile or "full-size"
    if args.headless or not tmux_available():
        supervisors = {
            service.name: subprocess.Popen(  # the supervisor copies the service's console to <name>.console.log
                _supervisor_command(service, log_dir, pid_dir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                cwd=config.parent,
            )
            for service in services
        }
        failed = _wait_for_pid_files(supervisors, pid_dir)
        if failed:
            print(f"run.sh: {', '.join(failed)} did not start; see their console logs in {log_dir}", file=sys.stderr)
            return 1
        print(f"started headless ({profile} profile): {names}; logs in {log_dir}; stop with ./run.sh stop")
        return 0
    _start_tmux(services, args.session, config.parent, log_dir, pid_dir)
    (run_dir / "tmux-session").write_text(args.session + "\n")
    print(f"started in tmux session '{args.session}' ({profile} profile): {names}")
    if sys.stdin.isatty() and sys.stdout.isatty() and not args.detach:
        os.execvp("tmux", ["tmux", "attach-session", "-t", args.session])
    print(f"attach with: tmux attach -t {args.session}; stop with ./run.sh stop")
    return 0


def _start_tmux(services: list[Service], name: str, root: Path, log_dir: Path, pid_dir: Path) -> None:
    import libtmux

    server = libtmux.Server()
    if server.has_session(name):
        server.kill_session(name)
    env = {k: os.environ[k] for k in ("DEEPCLEAN_CONFIG", PROFILE_ENV, "PATH") if k in os.environ}
    session = server.new_session(
        session_name=name, window_name="deepclean", start_directory=str(root), attach=False, environment=env
    )
    windows = {}  # one per group: the shared services, then each detector's
    for service in services:
        if service.group in windows:
            window = windows[service.group]
            pane = window.split(start_directory=str(root), environment=env)
            window.select_layout("tiled")
        else:
            if windows:
                window = session.new_window(service.group, start_directory=str(root), environment=env)
            else:
                window = session.active_window
                window.rename_window(service.group)
            window.set_option("pane-border-status", "top")
            window.set_option("pane-border-format", " #{pane_title} ")
            windows[service.group] = window
            pane = window.active_pane
        pane.cmd("select-pane", "-T", service.name)
        command = " ".join(_quote(part) for part in _supervisor_command(service, log_dir, pid_dir))
        pane.send_keys(f"exec {command}", enter=True)
    for window in windows.values():
        window.select_layout("tiled")
    first = windows.get(SHARED_GROUP) or next(iter(windows.values()))
    first.select()


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting to be reaped has ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop(config: Path, timeout: float = 30.0) -> int:
    run_dir, _, _ = _paths(config)
    pid_dir = run_dir / "pids"
    running = _running(pid_dir)
    for name, pid in running.items():
        print(f"stopping {name} (pid {pid})")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    # A supervisor removes its pid file before its process has ended: wait for the processes too.
    while (_running(pid_dir) or any(_alive(pid) for pid in running.values())) and time.monotonic() < deadline:
        time.sleep(0.2)
    for name, pid in _running(pid_dir).items():
        print(f"{name} did not stop within {timeout:.0f} s: killing it", file=sys.stderr)
        try:  # a supervisor leads its process group: take its service with it
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        (pid_dir / f"{name}.pid").unlink(missing_ok=True)
    session_file = run_dir / "tmux-session"
    if session_file.exists() and tmux_available():
        subprocess.run(["tmux", "kill-session", "-t", session_file.read_text().strip()], capture_output=True)
        session_file.unlink()
    if not running:
        print("nothing was running")
    return 0


def status(config: Path) -> int:
    run_dir, log_dir, _ = _paths(config)
    running = _running(run_dir / "pids")
    if not running:
        print("the suite is not running")
        return 3
    for name, pid in running.items():
        print(f"{name:12s} running (supervisor pid {pid}), console {log_dir / (name + '.console.log')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.sh", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None, help="configuration file (pyproject.toml)")
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start", help="start the suite")
    begin.add_argument("--headless", action="store_true", help="no tmux: background processes and log files")
    begin.add_argument("--detach", action="store_true", help="do not attach to the tmux session")
    begin.add_argument("--session", default=SESSION, help="name of the tmux session")
    begin.add_argument(
        "--profile", default=os.environ.get(PROFILE_ENV, ""), help="configuration profile ('' for full size)"
    )
    begin.add_argument(
        "--services", nargs="+", default=None, help="only these services (trainer: every detector's; trainer-L1)"
    )
    begin.add_argument(
        "--detectors",
        nargs="+",
        default=None,
        help="only these of the configured detectors, e.g. H1 L1 or H1,L1 (default: all)",
    )
    begin.add_argument("--triton", action="store_true", help="also start the Triton server on the model repository")
    commands.add_parser("stop", help="stop every service")
    commands.add_parser("status", help="which services run")
    watch = commands.add_parser("supervise", help=argparse.SUPPRESS)
    watch.add_argument("--name", required=True)
    watch.add_argument("--log-file", type=Path, required=True)
    watch.add_argument("--pid-file", type=Path, required=True)
    watch.add_argument("service_command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    config = args.config.resolve() if args.config else find_config(PROJECT_ROOT)
    if args.command == "start":
        return start(args, config)
    if args.command == "stop":
        return stop(config)
    if args.command == "status":
        return status(config)
    command = args.service_command[1:] if args.service_command[:1] == ["--"] else args.service_command
    return supervise(args.name, command, args.log_file, args.pid_file)
