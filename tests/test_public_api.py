"""The public surface of ``diarkit`` is pinned, and the README documents every CLI command."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

import diarkit
from diarkit.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text()

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


def _commands() -> list[str]:
    return sorted(cli.commands)


def test_every_cli_command_is_documented_in_the_readme():
    missing = [name for name in _commands() if f"diarkit {name}" not in README]
    assert not missing, f"README does not show: {missing}"


def test_every_cli_command_has_help():
    runner = CliRunner()
    for name in _commands():
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert re.search(r"Usage: .*" + name, result.output), name


def test_readme_cli_reference_lists_every_command():
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    for name in _commands():
        assert f"`diarkit {name}" in section, name
