"""The public surface of ``diarkit`` is pinned; every command has help.

The CLI reference lives in ``docs/guide/cli.md``; ``tests/docs`` checks it against
``diarkit --help``."""

from __future__ import annotations

import re

from click.testing import CliRunner

import diarkit
from diarkit.cli import cli

EXPECTED = {
    "__version__",
    "load_raw",
    "load_segments",
    "load_gaps",
    "convert",
    "finalize",
    "filter_confidence",
    "turns",
    "talk_stats",
    "fleet_stats",
    "to_rttm",
    "to_webvtt",
    "to_srt",
    "to_textgrid",
    "to_ctm",
    "to_json",
    "parse_rttm",
    "diarization_error",
    "export_segments",
    "Capture",
    "TokenSource",
    "NotificationsClient",
    "recover_spools",
    "Simulator",
}


def test_exported_members():
    assert set(diarkit.__all__) == EXPECTED
    for name in EXPECTED - {"__version__"}:
        member = getattr(diarkit, name)
        assert callable(member), name
        assert member.__doc__, f"{name} has no docstring"


def test_unknown_attribute_is_an_attribute_error():
    try:
        diarkit.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_every_cli_command_has_help():
    runner = CliRunner()
    for name in sorted(cli.commands):
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert re.search(r"Usage: .*" + name, result.output), name
