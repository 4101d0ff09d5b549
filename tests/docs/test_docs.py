"""The documentation: the README stays short, the site builds in strict mode, its code
examples run against the packaged sample, and the CLI reference matches ``diarkit --help``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from diarkit.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: A fenced python block preceded by this line is executed by the tests.
RUNNABLE = "<!-- runnable -->"


def runnable_blocks(text: str) -> list[str]:
    """The ```python blocks that directly follow a ``<!-- runnable -->`` line."""
    pattern = re.compile(r"^" + re.escape(RUNNABLE) + r"[ \t]*\n```python\n(.*?)\n```",
                         re.S | re.M)
    return pattern.findall(text)


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)\n```", text, re.S)


def pages_with_examples() -> list[Path]:
    marker = re.compile(r"^" + re.escape(RUNNABLE) + r"[ \t]*$", re.M)
    return sorted(p for p in DOCS.rglob("*.md") if marker.search(p.read_text(encoding="utf-8")))


def test_readme_is_short_and_names_the_two_commands():
    lines = README.splitlines()
    assert len(lines) <= 120, len(lines)
    quick = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.split("```bash", 1)[1]
                .split("```", 1)[0].strip().splitlines()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.strip().splitlines()[-1] == "bash scripts/test.sh"
    for needed in ("pip install", "GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET",
                   "Client Credentials", "conversation:transcription:view",
                   "routing:queue:view", "analytics:conversationDetail:view",
                   "speechAndTextAnalytics:data:view", "voice transcription"):
        assert needed in README, needed
    for link in re.findall(r"\]\(([^)#]+)\)", README):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link


def test_readme_example_runs_from_any_folder(tmp_path):
    (block,) = python_blocks(README)
    assert len(block.strip().splitlines()) <= 6
    out = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "talk_time_s" in out.stdout and "9b810e76" in out.stdout


@pytest.mark.parametrize("page", pages_with_examples(), ids=lambda p: str(p.relative_to(DOCS)))
def test_docs_examples_run(page, tmp_path, monkeypatch):
    """Each page's runnable blocks run in order, in one namespace, from a temp folder."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    blocks = runnable_blocks(page.read_text(encoding="utf-8"))
    assert blocks
    for i, block in enumerate(blocks):
        code = compile(block, f"{page.relative_to(ROOT)}[block {i}]", "exec")
        exec(code, namespace)


def test_pages_with_runnable_examples_exist():
    names = {str(p.relative_to(DOCS)) for p in pages_with_examples()}
    assert {"getting-started.md", "guide/report.md", "guide/interop.md"} <= names


def test_site_builds_in_strict_mode(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.exists(), "mkdocs is in the dev extra: bash scripts/setup.sh"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([str(mkdocs), "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "WARNING" not in out.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "build_report" in api and "to_pyannote" in api  # mkdocstrings rendered them


def test_every_docs_page_is_in_the_nav():
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace(
        "!!python", "#"))

    def walk(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [p for v in node.values() for p in walk(v)]
        if isinstance(node, list):
            return [p for v in node for p in walk(v)]
        return []

    in_nav = set(walk(config["nav"]))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    missing = sorted(pages - in_nav)
    assert missing == [], f"add these pages to the nav in mkdocs.yml: {missing}"


def _commands() -> list[str]:
    return sorted(cli.commands)


def test_cli_reference_lists_every_command():
    page = (DOCS / "guide" / "cli.md").read_text(encoding="utf-8")
    for name in _commands():
        assert f"`diarkit {name}`" in page, name
    documented = set(re.findall(r"^\| `diarkit ([a-z-]+)`", page, re.M))
    assert documented == set(_commands())


def test_cli_reference_options_match_help():
    """Every option the reference names for a command is one ``--help`` lists."""
    page = (DOCS / "guide" / "cli.md").read_text(encoding="utf-8")
    runner = CliRunner()
    for row in re.findall(r"^\| `diarkit ([a-z-]+)` \|(.*)$", page, re.M):
        name, rest = row
        help_text = runner.invoke(cli, [name, "--help"]).output
        for option in set(re.findall(r"`(--[a-z][a-z-]*)", rest)):
            assert option in help_text, (name, option)


def test_three_commands_from_the_readme_give_a_report(tmp_path):
    """A newcomer: convert, stats, report, as the README shows them, in a subprocess."""
    section = README.split("## Your own data in three commands", 1)[1].split("\n## ", 1)[0]
    shown = [line.split("#")[0].strip() for line in section.split("```bash", 1)[1]
             .split("```", 1)[0].strip().splitlines()]
    assert [c.split()[1] for c in shown] == ["convert", "stats", "report"]
    exports = tmp_path / "exports"
    exports.mkdir()
    from diarkit.datasets import sample

    shutil.copy(sample("frames.jsonl"), exports / "live.jsonl")
    shutil.copy(sample("post_call_transcript.json"), exports / "transcript.json")
    import gzip

    (tmp_path / "calls.jsonl.gz").write_bytes(gzip.compress(
        sample("frames.jsonl").read_bytes()))
    diarkit = Path(sys.executable).with_name("diarkit")
    for command in shown:
        argv = [str(diarkit), *command.split()[1:]]
        out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, (command, out.stdout, out.stderr)
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h2>Definitions</h2>" in report and "9b810e76" in report
    assert (tmp_path / "talk_stats.csv").read_text().count("\n") >= 6
    assert (tmp_path / "stats" / "conversation_stats.csv").is_file()
