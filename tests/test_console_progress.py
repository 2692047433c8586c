"""Progress in a log (mgpe_core.console): when stderr is not a terminal the rich bar is hidden
and a plain line says every ``MGPE_PROGRESS_SECONDS`` how far long work is, so a
``nohup mgpe ... > log`` is never empty for long while a short command's log stays clean."""

from __future__ import annotations

import pytest

from mgpe_cli.main import main
from mgpe_core import console
from mgpe_core.console import _Heartbeat, duration_text, heartbeat_seconds, progress_bar


def test_durations():
    assert [duration_text(s) for s in (5, 65, 3 * 3600 + 120, 2 * 86400 + 7200)] == \
        ["5 s", "1 min 05 s", "3 h 02 min", "2 d 2 h"]


def test_heartbeat_lines_are_due_by_time_and_say_rate_and_eta(capsys):
    t = [100.0]
    beat = _Heartbeat("rendering faces", 600, every=30, now=lambda: t[0])
    for _ in range(600):
        t[0] += 0.5  # 2 items a second
        beat.advance(1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10  # 300 s of work, a line every 30 s, none at the start
    assert lines[0] == "rendering faces: 60/600 (10%), 2.0/s, ETA 4 min 30 s, 30 s so far"
    assert lines[-1] == "rendering faces: 600/600 (100%), 2.0/s, 5 min 00 s so far"


def test_heartbeat_without_a_total():
    beat = _Heartbeat("preparing faces", None, every=1, now=lambda: 0.0)
    beat.done = 12
    assert beat.line(4.0) == "preparing faces: 12, 3.0/s, 4 s so far"


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("2.5", 2.5), ("soon", 60.0),
                                                 ("-1", 60.0)])
def test_heartbeat_seconds_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("MGPE_PROGRESS_SECONDS", value)
    assert heartbeat_seconds() == expected


def test_set_total_reaches_the_line(monkeypatch, capsys):
    monkeypatch.setenv("MGPE_PROGRESS_SECONDS", "0")
    with progress_bar("aligning photos", None) as advance:
        advance.set_total(4)
        advance(2)
    assert capsys.readouterr().err.strip().startswith("aligning photos: 2/4 (50%)")


def test_a_short_command_logs_nothing_by_default(tmp_path, capsys):
    assert console.HEARTBEAT_SECONDS >= 10
    assert main(["data", "synth", str(tmp_path / "s"), "--count", "3", "--size", "64",
                 "--no-preview"]) == 0
    assert "rendering faces:" not in capsys.readouterr().err


def test_a_command_logs_progress_lines_into_a_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MGPE_PROGRESS_SECONDS", "0")
    assert main(["data", "synth", str(tmp_path / "s"), "--count", "3", "--size", "64",
                 "--no-preview", "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert [ln.split(",")[0] for ln in err.splitlines() if ln.startswith("rendering faces:")] \
        == ["rendering faces: 1/3 (33%)", "rendering faces: 2/3 (67%)",
            "rendering faces: 3/3 (100%)"], err
