"""The services' log files: one per service, and one per detector for the services that run per detector."""

from __future__ import annotations

import logging

import pytest

from deepclean.entry_point import configure_logging, log_file


def test_each_detector_has_its_own_log_file(tmp_path, root_logging):
    """H1's and L1's trainers, logging to one directory, write trainer-H1.log and trainer-L1.log: never one file."""
    configure_logging("trainer", log_dir=tmp_path, detector="H1")
    logging.getLogger("deepclean.test").info("h1 line")
    configure_logging("trainer", log_dir=tmp_path, detector="L1")
    logging.getLogger("deepclean.test").info("l1 line")
    h1, l1 = (tmp_path / "trainer-H1.log").read_text(), (tmp_path / "trainer-L1.log").read_text()
    assert "h1 line" in h1 and "l1 line" not in h1
    assert "l1 line" in l1 and "h1 line" not in l1
    assert not (tmp_path / "trainer.log").exists()


def test_a_shared_service_keeps_its_plain_log_file(tmp_path, root_logging):
    """The exporter (one for every detector) logs to exporter.log, as before."""
    configure_logging("exporter", log_dir=tmp_path)
    logging.getLogger("deepclean.test").info("shared")
    assert "shared" in (tmp_path / "exporter.log").read_text()
    assert log_file("exporter", tmp_path) == tmp_path / "exporter.log"
    assert log_file("cleaner", tmp_path, "L1") == tmp_path / "cleaner-L1.log"


@pytest.mark.parametrize("detector", ["", "../H1", ".hidden"])
def test_a_detector_that_cannot_name_a_file_is_refused(tmp_path, detector):
    """A detector name that would leave log_dir or make a hidden file is a ValueError naming it."""
    with pytest.raises(ValueError, match="cannot name a log file"):
        log_file("trainer", tmp_path, detector)
