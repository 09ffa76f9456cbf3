"""The upgrade check: one transcript replayed against an app under two real sets of versions.

Environments are made with uv (from PyPI, cached) in a folder of the test session; the pair is
uvicorn 0.54.0 / 0.55.0, where websockets-sansio stopped logging "ASGI callable returned without
completing handshake." after a denial response (notebook 28 teaches it).
"""

from __future__ import annotations

import sys
import textwrap

import pytest

import wsbench
from wsbench import UpgradeError
from wsbench.upgrade import _READY, _clean, _log_after_ready, _pins, upgrade_check

APP = """
from fastapi import FastAPI, WebSocket
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.websocket("/members")
async def members(websocket: WebSocket, token: str = ""):
    if token != "sesame":
        await websocket.send_denial_response(PlainTextResponse("members only", status_code=401))
        return
    await websocket.accept()
    async for name in websocket.iter_text():
        await websocket.send_text(f"welcome, {name}")
"""

needs_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="uvicorn 0.55 needs Python 3.11 or later")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The app's folder, and a transcript of a refused and an accepted connection recorded on a Bench."""
    folder = tmp_path_factory.mktemp("app")
    (folder / "members_app.py").write_text(textwrap.dedent(APP))
    sys.path.insert(0, str(folder))
    try:
        from members_app import app
    finally:
        sys.path.remove(str(folder))
    with wsbench.Bench(app, name="upgrade-recording") as bench:
        with pytest.raises(wsbench.HandshakeRejected):
            bench.connect("/members")
        conn = bench.connect("/members", params={"token": "sesame"})
        conn.send_text("ann")
        assert conn.receive_text(timeout=5) == "welcome, ann"
        conn.close()
        bench.wait_idle(timeout=5)
        transcript = wsbench.Transcript(list(bench.transcript))
    return folder, transcript


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


@needs_311
def test_finds_the_uvicorn_055_denial_log_change(recorded, envs):
    folder, transcript = recorded
    report = upgrade_check(
        transcript,
        "members_app:app",
        {"uvicorn": "0.55.0"},
        baseline={"uvicorn": "0.54.0"},
        app_dir=folder,
        cache_dir=envs,
    )
    assert not report.ok
    text = str(report)
    assert text.startswith("upgrade uvicorn==0.54.0 -> uvicorn==0.55.0: behaviour changed")
    assert "-uvicorn log: ERROR: ASGI callable returned without completing handshake." in text.splitlines()
    assert not any(line.startswith("+") and "ASGI callable" in line for line in text.splitlines())
    # the wire is the same on both: each replay answers as recorded
    assert all(result.ok for side in (report.baseline, report.upgraded) for result in side.results)
    assert len(report.baseline.results) == 2
    assert "sesame" not in text and "127.0.0.1" not in text  # secrets and addresses masked


@needs_311
def test_same_versions_on_both_sides_report_no_change(recorded, envs):
    folder, transcript = recorded
    report = upgrade_check(
        transcript,
        "members_app:app",
        ["uvicorn==0.55.0"],
        baseline=["uvicorn==0.55.0"],
        app_dir=folder,
        cache_dir=envs,
    )
    assert report.ok, str(report)
    assert "same answers and log (2 connections replayed)" in str(report)


def test_an_app_that_does_not_import_names_the_cause(recorded, envs, tmp_path):
    _, transcript = recorded
    (tmp_path / "broken_app.py").write_text("raise RuntimeError('settings missing')\n")
    with pytest.raises(UpgradeError, match="settings missing"):
        upgrade_check(transcript, "broken_app:app", {}, app_dir=tmp_path, cache_dir=envs)


def test_a_version_that_does_not_exist_names_it(recorded, envs):
    folder, transcript = recorded
    with pytest.raises(UpgradeError, match=r"uvicorn==0\.0\.999"):
        upgrade_check(transcript, "members_app:app", {"uvicorn": "0.0.999"}, app_dir=folder, cache_dir=envs)


@pytest.mark.parametrize("bad", ["uvicorn>=0.55", "uvicorn", "uvicorn==0.55; rm -rf", "==1.0"])
def test_pins_must_be_exact(bad):
    with pytest.raises(ValueError, match="pin"):
        _pins([bad])


def test_log_lines_lose_addresses_pids_and_query_secrets():
    line = 'INFO: 127.0.0.1:51234 - "WebSocket /members?token=sesame&room=1" 401\n'
    assert _clean(line) == 'INFO: <address> - "WebSocket /members?token=***&room=1" 401'
    assert _clean("INFO: Started server process [4242]") == "INFO: Started server process [pid]"


@needs_311
def test_command_line_prints_the_change_and_exits_1(recorded, envs, tmp_path, capsys, monkeypatch):
    from wsbench.cli import main

    folder, transcript = recorded
    saved = tmp_path / "members.jsonl"
    transcript.save(saved, unmasked=True)  # the token is needed to replay the accepted connection
    monkeypatch.setenv("HOME", str(tmp_path))  # the default cache lands in this test's folder
    status = main(
        [
            "upgrade-check",
            str(saved),
            "--app",
            "members_app:app",
            "--app-dir",
            str(folder),
            "--baseline",
            "uvicorn==0.54.0",
            "--to",
            "uvicorn==0.55.0",
        ]
    )
    out = capsys.readouterr().out
    assert status == 1, out
    assert "-uvicorn log: ERROR: ASGI callable returned without completing handshake." in out.splitlines()


def test_command_line_refuses_a_loose_pin(recorded, tmp_path, capsys):
    from wsbench.cli import main

    _, transcript = recorded
    saved = tmp_path / "t.jsonl"
    transcript.save(saved)
    assert main(["upgrade-check", str(saved), "--app", "x:app", "--to", "uvicorn>=0.55"]) == 2
    assert "is not a pin" in capsys.readouterr().err


def test_the_log_compared_is_what_came_after_the_server_was_ready():
    """uvicorn's start-up lines come before the server says it is ready, but the thread reading its
    stderr may take them after: the lines compared are those after the server's mark on stderr,
    read once the server has stopped, not those after as many lines as the reader had when ready
    came (all four start-up lines in one run of a same-versions check, none in the other, which
    then reported a change)."""
    stderr = [
        "INFO: Started server process [41]\n",
        "INFO: Waiting for application startup.\n",
        "INFO: Application startup complete.\n",
        "INFO: Uvicorn running on http://127.0.0.1:5000 (Press CTRL+C to quit)\n",
        _READY + "\n",
        'INFO: 127.0.0.1:5001 - "WebSocket /members?token=abc" 401\n',
        "INFO: Shutting down\n",
        "INFO: Finished server process [41]\n",
    ]
    assert _log_after_ready(stderr) == ['INFO: <address> - "WebSocket /members?token=***" 401']
    assert _log_after_ready(stderr[:3]) == []  # no mark (start-up failed): nothing to compare
