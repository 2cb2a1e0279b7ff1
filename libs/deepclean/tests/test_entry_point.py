"""The entry point every service shares: exit statuses, stop signals, logging, --typeo, flag descriptions."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import pytest
from jsonargparse.typing import NonNegativeInt

from deepclean.config import ConfigError, parse_config
from deepclean.entry_point import ServiceExit, StopRequested, configure_logging, run, stop_on_signals
from deepclean.parameter_docs import parameter_descriptions

CONFIG = """
[tool.typeo.scripts.job]
status = 0

[tool.typeo.scripts.job_small]
status = 3
failure = "none"

[tool.typeo.profiles.fast.job_small]
status = 4
"""


def job(status: NonNegativeInt = 0, failure: Literal["none", "config", "service"] = "none") -> int:
    """A service of the tests.

    Parameters
    ----------
    status
        What the service returns.
    failure
        ``config``: refuse its settings (ConfigError); ``service``: give up (:class:`ServiceExit`).
    """
    if failure == "config":
        raise ConfigError("status and failure do not fit together")
    if failure == "service":
        raise ServiceExit("another job holds the directory")
    return status


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(CONFIG)
    monkeypatch.delenv("DEEPCLEAN_CONFIG", raising=False)
    monkeypatch.delenv("DEEPCLEAN_PROFILE", raising=False)
    return path


def _exit_of(argv: list[str]) -> int:
    """The exit status of ``deepclean-job argv``: run returns for 0 and raises SystemExit otherwise."""
    try:
        run(job, "job", argv)
    except SystemExit as stopped:
        assert stopped.code != 0
        return stopped.code
    return 0


@pytest.mark.parametrize(
    ("argv", "code", "stderr"),
    [
        ([], 0, ""),
        (["--status", "5"], 5, ""),
        (["--failure", "config"], 2, "deepclean-job: configuration error: status and failure do not fit together\n"),
        (["--failure", "service"], 1, "deepclean-job: another job holds the directory\n"),
        (["--failure", "crash"], 2, "deepclean-job: configuration error: "),
        (["--profile", "none-such"], 2, "deepclean-job: configuration error: "),
    ],
)
def test_run_exits_with_the_documented_status_and_one_line_on_stderr(config, capsys, argv, code, stderr):
    """0 or the returned status when done, 1 when the service gives up, 2 for any configuration error,
    each error reported on one stderr line that starts with the program's name."""
    assert _exit_of(["--config", str(config), *argv]) == code
    err = capsys.readouterr().err
    assert err.startswith(stderr) and err.count("\n") == (1 if stderr else 0), err


def test_a_service_exit_raised_outside_run_carries_its_message():
    """Called as a function (a test, a library user), a service that gives up raises SystemExit(1) saying why."""
    with pytest.raises(SystemExit, match="another job holds the directory") as stopped:
        job(failure="service")
    assert stopped.value.code == 1


def test_typeo_selects_file_table_and_profile_like_the_environment(config, monkeypatch):
    """--typeo FILE:SCRIPT:PROFILE gives the values of $DEEPCLEAN_CONFIG and $DEEPCLEAN_PROFILE with the
    table SCRIPT; without a profile none applies, and an empty file part finds the nearest pyproject.toml."""
    by_typeo = parse_config(job, "job", ["--typeo", f"{config}:job_small:fast"])
    by_flags = parse_config(job, "job_small", ["--config", str(config), "--profile", "fast"])
    monkeypatch.setenv("DEEPCLEAN_CONFIG", str(config))
    monkeypatch.setenv("DEEPCLEAN_PROFILE", "fast")
    by_environment = parse_config(job, "job_small", [])
    assert by_typeo == by_flags == by_environment == {"status": 4, "failure": "none"}
    assert parse_config(job, "job", ["--typeo", f"{config.parent}:job_small"])["status"] == 3
    monkeypatch.delenv("DEEPCLEAN_CONFIG")
    monkeypatch.chdir(config.parent)
    assert parse_config(job, "job", ["--typeo", ":job_small:fast"])["status"] == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--typeo", "{config}:job", "--config", "{config}"], "without --config or --profile"),
        (["--typeo", "{config}:job:fast:extra"], "FILE[:SCRIPT[:PROFILE]]"),
        (["--typeo", "{config}:no_such_table"], "no [tool.typeo.scripts.no_such_table] table"),
    ],
)
def test_typeo_mistakes_are_configuration_errors(config, argv, message):
    """--typeo with --config, with too many parts or naming a missing table is refused, saying why."""
    with pytest.raises(ConfigError) as refused:
        parse_config(job, "job", [part.format(config=config) for part in argv])
    assert message in str(refused.value)


def test_help_describes_each_flag_with_its_docstring(config, capsys):
    """--help gives every flag of the function the description of its parameter, markup dropped."""
    with pytest.raises(SystemExit) as stopped:
        run(job, "job", ["--config", str(config), "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert stopped.value.code == 0
    assert "--status STATUS What the service returns." in out
    assert "config: refuse its settings (ConfigError); service: give up (ServiceExit)." in out


def test_parameter_descriptions_read_groups_types_and_stop_at_the_next_section():
    """Grouped names share their description, ``name : type`` lines count, the Returns section does not."""

    def documented(a, b, port):
        """Summary.

        Parameters
        ----------
        a, b
            First line,
            second line.
        port : int
            See :mod:`deepclean.metrics_http`.

        Returns
        -------
        result
            Not a parameter.
        """

    assert parameter_descriptions(documented) == {
        "a": "First line, second line.",
        "b": "First line, second line.",
        "port": "See deepclean.metrics_http.",
    }
    assert parameter_descriptions(lambda x: x) == {}


def test_a_stop_signal_sets_the_event_and_the_previous_handler_comes_back():
    """SIGTERM in the block sets the event; after it the handler is what it was."""
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals("test") as stop:
        assert signal.getsignal(signal.SIGTERM) is not before
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_interrupting_stop_ends_the_block_quietly_once():
    """With interrupt, the first signal breaks out of a blocking wait and the block ends without an error;
    a loop that takes the interrupt as Ctrl-C and goes on sees no second one."""
    started = time.monotonic()
    with stop_on_signals("test", interrupt=True) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)
        pytest.fail("the signal did not interrupt the block")
    assert stop.is_set() and time.monotonic() - started < 5
    with stop_on_signals("test", interrupt=True) as stop:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
        except StopRequested:
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
    assert stop.is_set()


def test_logging_goes_to_the_service_file_and_a_second_set_up_replaces_the_first(tmp_path, root_logging, capsys):
    """Each line once, in <log_dir>/<service>.log and on stderr; a second set-up takes the first's place."""
    configure_logging("first", log_dir=tmp_path / "a")
    logging.getLogger("deepclean.test").info("one")
    configure_logging("second", level="WARNING", log_dir=tmp_path / "b")
    logging.getLogger("deepclean.test").info("not shown")
    logging.getLogger("deepclean.test").warning("two")
    assert (tmp_path / "a" / "first.log").read_text().count("deepclean.test INFO one") == 1
    second = (tmp_path / "b" / "second.log").read_text()
    assert "two" in second and "one" not in second and "not shown" not in second
    err = capsys.readouterr().err
    assert err.count("one") == 1 and err.count("two") == 1


def test_sigusr1_writes_every_threads_stack_and_the_service_goes_on(tmp_path):
    """``kill -USR1`` on a service that seems stuck shows where each of its threads waits; it keeps running."""
    script = (
        "import threading, time\n"
        "from deepclean.entry_point import configure_logging\n"
        "configure_logging('job')\n"
        "def waiting_in_a_helper_thread():\n"
        "    time.sleep(60)\n"
        "threading.Thread(target=waiting_in_a_helper_thread, daemon=True).start()\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        # the dump is written thread by thread: wait for the main thread's stack too, not only the helper's
        while not all(part in stderr_path.read_text() for part in ("waiting_in_a_helper_thread", "<module>")):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        dump = stderr_path.read_text()
        assert "waiting_in_a_helper_thread" in dump and "<module>" in dump  # both threads' stacks
        assert process.poll() is None
    finally:
        process.kill()
        process.wait(timeout=10)
