"""The decision log and the runner: logged before the call, retried with back-off, replayed after a restart."""

from __future__ import annotations

import pytest
from fake_exporter import TOKEN, FakeExporter, ServedExporter

from deepclean.exporter_api import ExporterClient, ExporterError
from deepclean_monitor.decision_log import DecisionLog
from deepclean_monitor.decision_runner import Backoff, DecisionRunner
from deepclean_monitor.policy import Decision

WRONG_TOKEN = "wrong-token-0123456789"

PROMOTE = Decision("promote", 2, 1, 1000, "better", {"2": {"band_ratio": 0.4}})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_runner(tmp_path, url, clock, applied):
    return DecisionRunner(
        decision_log=DecisionLog(tmp_path / "decisions.jsonl"),
        exporter=ExporterClient(url, token=TOKEN, timeout=2.0),
        backoff=Backoff(initial=1.0, maximum=4.0),
        on_applied=applied.append,
        clock=clock,
    )


def test_replay_sorts_applied_from_pending(tmp_path):
    """Replaying the log returns applied decisions and those decided but never applied."""
    log = DecisionLog(tmp_path / "decisions.jsonl")
    second = Decision("rollback", 1, 2, 2000, "noisy")
    log.decided(PROMOTE)
    log.attempt_failed(PROMOTE, 1, "down")
    log.applied(PROMOTE)
    log.decided(second)
    replay = DecisionLog(tmp_path / "decisions.jsonl").replay()
    assert replay.applied == [PROMOTE]
    assert replay.pending == [second]


UNPIN = Decision(
    "unpin",
    0,
    3,
    3000,
    "production 3 not better than raw; no earlier version measured better than raw",
    {
        "3": {
            "band_ratio": 0.43,
            "worst_bin": 1.12,
            "worst_bin_frequency": 120.0,
            "failing_bins": [[120.0, 1.12]],
            "failing_bin_count": 1,
            "range_raw_mpc": 100.0,
            "range_cleaned_mpc": 99.0,
            "seconds": 64,
            "fallback_seconds": 0,
            "end_gps": 3000,
            "better_than_raw": False,
        }
    },
)


def test_replay_of_an_unpin(tmp_path):
    """An applied unpin replays as applied with its figures; the machine then expects no production model."""
    from deepclean_monitor.policy import DecisionMachine, Policy

    log = DecisionLog(tmp_path / "decisions.jsonl")
    log.decided(PROMOTE)
    log.applied(PROMOTE)
    log.decided(UNPIN)
    log.applied(UNPIN, "production 3 -> unpinned")
    replay = DecisionLog(tmp_path / "decisions.jsonl").replay()
    assert replay.applied == [PROMOTE, UNPIN] and replay.pending == []
    assert replay.applied[1].figures["3"]["failing_bins"] == [[120.0, 1.12]]
    machine = DecisionMachine(Policy(64, 120, 32, 0.05, 0.9, 60))
    for decision in replay.applied:
        machine.applied(decision)
    assert machine.settling == (0, 3000) and 3 in machine.bad and 3 not in machine.last_good


def test_unpin_is_carried_out_with_delete_once(tmp_path):
    """An unpin DELETEs production; replayed after the exporter already did it, no second call is made."""
    fake = FakeExporter(versions=[1, 2, 3], production=3, canary=3)
    served = ServedExporter(fake)
    try:
        applied = []
        runner = make_runner(tmp_path, served.url, Clock(), applied)
        runner.submit(UNPIN)
        assert applied == [UNPIN] and fake.production is None and fake.puts() == [None]
        assert ("DELETE", "/production") in fake.calls
        runner.resume([UNPIN])  # as after a crash before "applied" was logged
        runner.retry_due()
        assert applied == [UNPIN, UNPIN] and fake.puts() == [None]
        records = DecisionLog(tmp_path / "decisions.jsonl").records()
        assert [r["event"] for r in records] == ["decided", "applied", "applied"]
        assert records[0]["action"] == "unpin" and records[0]["figures"]["3"]["better_than_raw"] is False
        assert records[1]["detail"] == "production 3 -> unpinned"
        assert records[2]["detail"] == "production already unpinned"
    finally:
        served.close()


def test_client_unsets_production_with_the_token_and_a_405_is_permanent(exporter):
    """unset_production needs the token; a 405 (an exporter without the method) is not worth retrying."""
    client = ExporterClient(exporter.url, token=TOKEN)
    with pytest.raises(ExporterError, match="HTTP 401"):
        ExporterClient(exporter.url, token=WRONG_TOKEN).unset_production()
    client.unset_production()
    assert exporter.exporter.production is None
    with pytest.raises(ExporterError, match="HTTP 405") as refused:
        client._call("DELETE", "/canary")
    assert refused.value.permanent


def test_torn_last_line_is_skipped(tmp_path):
    """A line cut short by a crash does not stop the replay."""
    log = DecisionLog(tmp_path / "decisions.jsonl")
    log.decided(PROMOTE)
    with open(log.path, "a") as f:
        f.write('{"event": "applied", "id": "promote-2')
    assert log.replay().pending == [PROMOTE]


def test_record_after_a_torn_line_is_kept(tmp_path):
    """Regression: a monitor killed mid-write left a line without its newline; the restarted monitor's next record
    (the decision applied at last) was appended to it and lost with it, so the next restart found the decision
    pending and applied it again, over any decision taken since."""
    log = DecisionLog(tmp_path / "decisions.jsonl")
    log.decided(PROMOTE)
    with open(log.path, "a") as f:
        f.write('{"event": "applied", "id": "promote-2')
    restarted = DecisionLog(tmp_path / "decisions.jsonl")
    restarted.applied(PROMOTE, "production already 2")
    assert restarted.replay().applied == [PROMOTE] and restarted.replay().pending == []


def test_decision_logged_before_the_exporter_is_called(tmp_path):
    """The decided record is on disk even when the exporter cannot be reached at all."""
    clock, applied = Clock(), []
    runner = make_runner(tmp_path, "http://127.0.0.1:9", clock, applied)  # nothing listens on port 9
    runner.submit(PROMOTE)
    records = DecisionLog(tmp_path / "decisions.jsonl").records()
    assert [r["event"] for r in records] == ["decided", "attempt_failed"]
    assert records[0]["figures"] == {"2": {"band_ratio": 0.4}}
    assert "127.0.0.1:9" in records[1]["error"]
    assert runner.busy and applied == []


def test_retries_back_off_then_apply(tmp_path):
    """Failed calls are retried after 1, 2, 4, 4 s; the decision is applied once the exporter answers."""
    fake = FakeExporter(versions=[1, 2], production=1, canary=2, down=True)
    served = ServedExporter(fake)
    try:
        clock, applied = Clock(), []
        runner = make_runner(tmp_path, served.url, clock, applied)
        runner.submit(PROMOTE)
        delays = []
        for _ in range(4):
            next_attempt = runner.pending[0].next_attempt
            delays.append(next_attempt - clock.now)
            clock.now = next_attempt - 0.01
            runner.retry_due()  # too early: no call
            clock.now = next_attempt
            calls = len(fake.calls)
            runner.retry_due()
            assert len(fake.calls) == calls + 1
        assert delays == [1.0, 2.0, 4.0, 4.0]
        fake.down = False
        clock.now = runner.pending[0].next_attempt
        runner.retry_due()
        assert applied == [PROMOTE] and not runner.busy
        assert fake.production == 2 and fake.puts() == [2]
    finally:
        served.close()


def test_already_applied_call_is_not_repeated(tmp_path):
    """If the exporter already has the target (the monitor stopped before logging it), no PUT is made."""
    fake = FakeExporter(versions=[1, 2], production=2, canary=2)
    served = ServedExporter(fake)
    try:
        applied = []
        runner = make_runner(tmp_path, served.url, Clock(), applied)
        runner.resume([PROMOTE])
        runner.retry_due()
        assert applied == [PROMOTE] and fake.puts() == []
        events = [record["event"] for record in DecisionLog(tmp_path / "decisions.jsonl").records()]
        assert events == ["applied"]  # resume() does not log the decision a second time
    finally:
        served.close()


def test_client_errors_name_the_call(exporter, monkeypatch):
    """A rejected call (wrong token, unknown version) raises ExporterError with the status and message."""
    client = ExporterClient(exporter.url, token=WRONG_TOKEN)
    with pytest.raises(ExporterError, match="PUT .*/production: HTTP 401"):
        client.set_production(2)
    client = ExporterClient(exporter.url, token=TOKEN)
    with pytest.raises(ExporterError, match="HTTP 404: unknown version 9"):
        client.set_production(9)
    assert client.set_canary(3) == 3
    assert client.versions()["canary"] == 3
    monkeypatch.delenv("DEEPCLEAN_EXPORTER_TOKEN", raising=False)
    with pytest.raises(ExporterError, match="no exporter token"):
        ExporterClient(exporter.url).set_production(1)


def test_refused_decision_is_rejected_not_retried(tmp_path):
    """A decision the exporter refuses for good (unknown version) is logged as rejected and dropped."""
    fake = FakeExporter(versions=[1], production=1)
    served = ServedExporter(fake)
    try:
        rejected, applied = [], []
        runner = make_runner(tmp_path, served.url, Clock(), applied)
        runner.on_rejected = rejected.append
        runner.submit(PROMOTE)  # version 2 is unknown to this exporter: 404
        assert rejected == [PROMOTE] and applied == [] and not runner.busy
        replay = DecisionLog(tmp_path / "decisions.jsonl").replay()
        assert replay.rejected == [PROMOTE] and replay.pending == [] and replay.applied == []
    finally:
        served.close()


def test_token_file_is_read_at_each_call(tmp_path, exporter, monkeypatch):
    """A token file written (or fixed) after start-up is used by the next call."""
    monkeypatch.delenv("DEEPCLEAN_EXPORTER_TOKEN", raising=False)
    token_file = tmp_path / "exporter.token"
    client = ExporterClient(exporter.url, token_file=token_file)
    with pytest.raises(ExporterError, match="no exporter token"):
        client.set_production(2)
    token_file.write_text(WRONG_TOKEN + "\n")
    with pytest.raises(ExporterError, match="HTTP 401") as refused:
        client.set_production(2)
    assert not refused.value.permanent  # an operator can fix the token: keep retrying
    token_file.write_text(TOKEN + "\n")
    assert client.set_production(2) == 2
