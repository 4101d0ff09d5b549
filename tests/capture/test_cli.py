"""`diarkit capture` / `diarkit recover` argument handling and the runner's helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from click.testing import CliRunner

from diarkit.capture.runner import credentials
from diarkit.capture.spool import SpoolWriter, spool_name
from diarkit.cli import cli
from diarkit.io.dataset import list_parts

FRAME = (
    Path(__file__).resolve().parents[1] / "data" / "frames" / "transcription.json"
).read_bytes()
SECRET = "cli-secret-Value-123"


def test_recover_command_turns_spools_into_parts(tmp_path):
    (tmp_path / "_spool").mkdir()
    w = SpoolWriter(tmp_path / "_spool" / spool_name("killed", 0), "killed", 0)
    for i in range(3):
        w.append(
            i, 1_795_513_500_000_000 + i, "ch", FRAME.strip().replace(b"c0ffee00", b"%08d" % i)
        )
    w.close()
    result = CliRunner().invoke(cli, ["recover", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "recovered 1 spool(s): 3 frame(s) into 1 part(s)" in result.output
    assert len(list_parts(tmp_path)) == 1
    again = CliRunner().invoke(cli, ["recover", str(tmp_path)])
    assert "recovered 0 spool(s)" in again.output
    missing = CliRunner().invoke(cli, ["recover", str(tmp_path / "nope")])
    assert missing.exit_code != 0


def test_credentials_from_env_or_file_and_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("GENESYS_CLIENT_ID", raising=False)
    monkeypatch.delenv("GENESYS_CLIENT_SECRET", raising=False)
    try:
        credentials()
    except Exception as exc:
        assert "GENESYS_CLIENT_ID" in str(exc)
    else:
        raise AssertionError("missing client id accepted")
    monkeypatch.setenv("GENESYS_CLIENT_ID", "cid")
    try:
        credentials()
    except Exception as exc:
        assert "GENESYS_CLIENT_SECRET" in str(exc) and "--client-secret-file" in str(exc)
    else:
        raise AssertionError("missing secret accepted")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", SECRET)
    cid, secret = credentials()
    assert cid == "cid" and secret.reveal() == SECRET and SECRET not in repr(secret)
    f = tmp_path / "s.txt"
    f.write_text("from-file\n")
    assert credentials(secret_file=f)[1].reveal() == "from-file"


def test_capture_has_no_secret_argument_and_reports_auth_failure_without_it(tmp_path):
    help_text = CliRunner().invoke(cli, ["capture", "--help"]).output
    assert "--client-secret-file" in help_text and "--client-secret " not in help_text
    env = {**os.environ, "GENESYS_CLIENT_ID": "cid", "GENESYS_CLIENT_SECRET": SECRET}
    seen: list[str] = []

    class Refuse(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = b'{"error": "invalid_client", "error_description": "bad credentials"}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "diarkit",
                "capture",
                "--login-base",
                base,
                "--api-base",
                base,
                "--conversation",
                "c1",
                "--out",
                str(tmp_path / "ds"),
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    finally:
        server.shutdown()
        server.server_close()
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert seen and seen[0].startswith("Basic ")
    assert "error:" in text and "wrong client id or secret" in text and "invalid_client" in text
    assert SECRET not in text


def test_capture_rejects_bad_region_and_ids_before_connecting(tmp_path, monkeypatch):
    monkeypatch.setenv("GENESYS_CLIENT_ID", "cid")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", SECRET)
    out = str(tmp_path / "ds")
    bad_region = CliRunner().invoke(
        cli, ["capture", "--region", "mars-north-1", "--conversation", "c1", "--out", out]
    )
    assert bad_region.exit_code == 1
    assert "unknown Genesys Cloud environment 'mars-north-1'" in bad_region.output
    bad_id = CliRunner().invoke(
        cli, ["capture", "--region", "eu-central-1", "--conversation", "a.b*", "--out", out]
    )
    assert bad_id.exit_code == 1 and "malformed conversation id 'a.b*'" in bad_id.output
    nothing = CliRunner().invoke(cli, ["capture", "--region", "eu-central-1", "--out", out])
    assert nothing.exit_code == 1 and "nothing to capture" in nothing.output
    assert SECRET not in bad_region.output + bad_id.output + nothing.output
