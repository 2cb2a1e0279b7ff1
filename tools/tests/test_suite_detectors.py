"""The suite with several detectors: one exporter and status page, per detector its named services."""

import pytest

from deepclean.testing.config_files import detector_table, write_config
from deepclean_tools.suite import launcher
from deepclean_tools.suite.services import SHARED_GROUP, discover

PROGRAMS = {
    "exporter": ["deepclean-export"],
    "library": ["deepclean-detector"],
    "trainer": ["deepclean-train"],
    "cleaner": ["deepclean-clean"],
    "monitor": ["deepclean-monitor", "python"],
}
CONFIG = (
    """
[tool.typeo.base]
detectors = ["H1", "L1"]
run_dir = "run"
log_dir = "run/logs"
exporter_token_file = "run/exporter.token"

"""
    + detector_table("H1")
    + detector_table("L1")
    + """
[tool.typeo.scripts.suite]
run_dir = "${base.run_dir}"
log_dir = "${base.log_dir}"
exporter_token_file = "${base.exporter_token_file}"
"""
)


@pytest.fixture
def root(tmp_path):
    """A checkout whose every service environment is built."""
    for env, programs in PROGRAMS.items():
        (tmp_path / ".venvs" / env / "bin").mkdir(parents=True)
        for program in programs:
            (tmp_path / ".venvs" / env / "bin" / program).touch()
    return tmp_path


def test_two_detectors_one_exporter_and_status_page(root):
    """Exporter first, per detector detector/trainer/cleaner/monitor named <service>-<detector> with --detector."""
    services = discover(root, detectors=["H1", "L1"])
    assert [s.name for s in services] == [
        "exporter",
        "detector-H1",
        "detector-L1",
        "trainer-H1",
        "trainer-L1",
        "cleaner-H1",
        "cleaner-L1",
        "monitor-H1",
        "monitor-L1",
        "status",
    ]
    by_name = {s.name: s for s in services}
    assert by_name["trainer-L1"].command == [str(root / ".venvs/trainer/bin/deepclean-train"), "--detector", "L1"]
    assert by_name["trainer-L1"].group == "L1" and by_name["exporter"].group == SHARED_GROUP
    status = [str(root / ".venvs/monitor/bin/python"), "-m", "deepclean_monitor.status_server"]
    assert by_name["status"].command == status
    assert "--detector" not in by_name["exporter"].command


def test_service_selection_by_kind_or_name(root):
    """--services trainer selects every detector's trainer; trainer-L1 only L1's; an unknown name is an error."""
    assert [s.name for s in discover(root, ["trainer"], detectors=["H1", "L1"])] == ["trainer-H1", "trainer-L1"]
    assert [s.name for s in discover(root, ["trainer-L1", "exporter"], detectors=["H1", "L1"])] == [
        "exporter",
        "trainer-L1",
    ]
    for wrong in ("trainr", "trainer-L1"):  # a misspelt kind, a detector not started
        with pytest.raises(ValueError, match=rf"unknown service\(s\) \['{wrong}'\]; the services are .*trainer-H1"):
            discover(root, [wrong], detectors=["H1"])


def test_without_detectors_the_plain_names(root):
    """A configuration without a detectors list runs each service once under its plain name, without --detector."""
    services = discover(root)
    assert [s.name for s in services] == ["exporter", "detector", "trainer", "cleaner", "monitor", "status"]
    assert all("--detector" not in s.command for s in services)


def test_a_service_not_built_is_not_launched(root):
    """A missing environment leaves its services out, for every detector."""
    (root / ".venvs/cleaner/bin/deepclean-clean").unlink()
    assert not [s for s in discover(root, detectors=["H1", "L1"]) if s.kind == "cleaner"]


def test_detectors_subset_and_unknown_detector(tmp_path, capsys):
    """--detectors narrows to configured detectors; an unknown one stops start-up naming the configured ones."""
    config = write_config(tmp_path, CONFIG)
    assert launcher._chosen_detectors(config, None) == ["H1", "L1"]
    assert launcher._chosen_detectors(config, ["L1"]) == ["L1"]
    assert launcher._chosen_detectors(config, ["L1,H1"]) == ["L1", "H1"]
    code = launcher.main(["--config", str(config), "start", "--headless", "--detectors", "V1"])
    assert code == 2
    assert "unknown detector(s) ['V1']; configured detectors: H1, L1" in capsys.readouterr().err
    assert not (tmp_path / "run").exists(), "a refused start created the run directory"
