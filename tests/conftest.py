"""Fixtures of the cross-service tests, and the fault-injection summary.

The fault tests (``tests/test_faults_*.py``) run the services from their own
environments on a copy of the project's configuration in a temporary
directory (:mod:`fault_services`), feed them synthetic frames
(:mod:`fault_frames`), inject one fault each and record in :data:`LEDGER` what
was injected, whether the services survived it and how many cleaned frames
were expected, written and written twice. :func:`pytest_terminal_summary`
prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fault_services import auth, start_exporter, write_config, write_training_dir

from deepclean.testing.processes import free_port, stop


@dataclass
class FaultRecord:
    """What one fault test injected and what came of it."""

    fault: str
    survived: bool
    expected: int | None = None
    written: int | None = None
    duplicated: int | None = None


LEDGER: list[FaultRecord] = []


def record_fault(
    fault: str, survived: bool, expected: int | None = None, written: int | None = None, duplicated: int | None = None
) -> None:
    """Add one line to the summary printed at the end of the run."""
    LEDGER.append(FaultRecord(fault, survived, expected, written, duplicated))


def assert_checks(checks: dict[str, bool], detail: str) -> None:
    """Fail naming the checks that did not hold, then ``detail`` (what was seen)."""
    failed = [name for name, ok in checks.items() if not ok]
    assert not failed, f"{failed}: {detail}"


def verdict(fault: str, checks: dict[str, bool], detail: str, counts: tuple[int | None, ...] = ()) -> None:
    """Record ``fault`` in the summary (survived: every check held), then fail naming the checks that did not.

    ``counts`` are the frames expected, written and written twice, where the fault is about a stream.
    """
    record_fault(fault, all(checks.values()), *counts)
    assert_checks(checks, detail)


def pytest_terminal_summary(terminalreporter) -> None:
    """Faults injected, survived, and frames expected/written/duplicated."""
    if not LEDGER:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault injection summary")
    write(f"{'fault':58s} {'survived':>8s} {'expected':>8s} {'written':>8s} {'twice':>6s}")
    for r in LEDGER:
        cells = ["-" if v is None else str(v) for v in (r.expected, r.written, r.duplicated)]
        write(f"{r.fault[:58]:58s} {'yes' if r.survived else 'NO':>8s} {cells[0]:>8s} {cells[1]:>8s} {cells[2]:>6s}")
    frames = [r for r in LEDGER if r.expected is not None]
    write(
        f"faults injected {len(LEDGER)}, survived {sum(r.survived for r in LEDGER)}; frames expected "
        f"{sum(r.expected or 0 for r in frames)}, written {sum(r.written or 0 for r in frames)}, "
        f"duplicated {sum(r.duplicated or 0 for r in frames)}"
    )


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def exporter(tmp_path):
    """deepclean-export on a fresh configuration copy in ``tmp_path``, stopped at the end."""
    port = free_port()
    config = write_config(tmp_path, port)
    (tmp_path / "run" / "training").mkdir(parents=True)
    server = start_exporter(tmp_path, port, config)
    yield server
    stop(server.process)


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory) -> Path:
    """A model repository made by the real exporter: versions 1 (production) and 2 (canary).

    Tests copy it (``shutil.copytree``) before changing anything in it.
    """
    import requests

    run = tmp_path_factory.mktemp("exported")
    port = free_port()
    config = write_config(run, port)
    (run / "run" / "training").mkdir(parents=True)
    server = start_exporter(run, port, config)
    try:
        for seed in (1, 2):
            directory = write_training_dir(server.training_root, f"run-{seed}", seed=seed)
            response = requests.post(
                f"{server.url}/export", json={"training_dir": str(directory)}, headers=auth(), timeout=120
            )
            assert response.status_code == 201, response.text
        assert requests.put(f"{server.url}/production", json={"version": 1}, headers=auth(), timeout=30).ok
    finally:
        stop(server.process)
    return run / "run" / "model-repo"
