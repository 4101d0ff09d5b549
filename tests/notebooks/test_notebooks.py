"""The example notebooks run end to end in a kernel of this venv (nbclient) and are stored clean."""

from __future__ import annotations

import ast
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01_quickstart", "02_live_capture", "03_fleet_analysis"]


def execute(name: str, out: Path, monkeypatch, timeout: int = 120) -> nbformat.NotebookNode:
    """Run a notebook with kernel ``python3`` from a folder outside the repository.

    The kernel's working directory is a fresh temporary folder (nothing above it holds a
    ``pyproject.toml`` of this repository), so a notebook that looks for the repository or
    for ``data/sample`` fails here; data goes under ``out``.
    """
    monkeypatch.setenv("DIARKIT_NOTEBOOK_OUT", str(out))
    monkeypatch.delenv("DIARKIT_INTERACTIVE", raising=False)
    cwd = Path(tempfile.mkdtemp(prefix="diarkit-nb-cwd-"))
    assert not cwd.resolve().is_relative_to(ROOT)
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        client.execute()
    finally:
        assert not list(cwd.iterdir()), f"{name} wrote into its working folder"
        cwd.rmdir()
    return nb


def outputs(nb: nbformat.NotebookNode, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if kind in o.get("data", {}) or o.get("name") == kind]


def summary(nb: nbformat.NotebookNode) -> dict:
    """The dict the notebook's last code cell shows (each notebook ends with one)."""
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    text = next(o["data"]["text/plain"] for o in last.outputs if "data" in o)
    return ast.literal_eval(text)


def assert_clean_run(nb: nbformat.NotebookNode) -> None:
    for o in outputs(nb, "stderr"):
        assert "Warning" not in o["text"], f"notebook printed a warning: {o['text'][:300]}"
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


def test_kernel_python3_is_this_venv():
    """``python3`` is the venv's own kernelspec (installed by ipykernel into .venv/share)."""
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.resource_dir).is_relative_to(Path(sys.prefix))
    # jupyter_client substitutes a bare "python" with the launching interpreter
    assert spec.argv[0] in ("python", "python3", sys.executable)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; sys.executable")])
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    ran = ast.literal_eval(nb.cells[0].outputs[0]["data"]["text/plain"])
    assert Path(ran).resolve() == Path(sys.executable).resolve()


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_01_quickstart(tmp_path, monkeypatch):
    t0 = time.monotonic()
    nb = execute("01_quickstart", tmp_path, monkeypatch)
    assert_clean_run(nb)
    s = summary(nb)
    assert s["conversations"] >= 1 and s["turns"] > 0
    assert s["segments_kept"] + s["segments_dropped"] == s["segments_final"]
    assert 0.99 <= s["share_sum"] <= 1.01  # talk shares of speech sum to one per call
    assert len(outputs(nb, "image/png")) >= 2  # timeline and talk share
    assert time.monotonic() - t0 < 60


def test_02_live_capture(tmp_path, monkeypatch):
    nb = execute("02_live_capture", tmp_path, monkeypatch)
    assert_clean_run(nb)
    s = summary(nb)
    assert s["widget_status"] == "stopped"
    assert s["widget_frames"] > 0 and s["thread_frames"] > 0
    assert s["widget_rows"] > 0 and s["thread_rows"] > 0
    assert s["conversations"] >= 1 and s["turns"] > 0
    assert (tmp_path / "widget" / "raw").is_dir() and (tmp_path / "thread" / "raw").is_dir()
    assert len(outputs(nb, "image/png")) >= 1
    assert any("diarkit-status" in o["data"]["text/html"] or "frames" in o["data"]["text/html"]
               for o in outputs(nb, "text/html"))


def test_notebooks_do_not_look_for_the_repository():
    for name in NAMES:
        text = (NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8")
        assert "pyproject.toml" not in text and "data/sample" not in text, name


def test_03_fleet_analysis(tmp_path, monkeypatch):
    nb = execute("03_fleet_analysis", tmp_path, monkeypatch)
    assert_clean_run(nb)
    s = summary(nb)
    assert s["conversations"] >= 20
    assert s["agents"] >= 2
    for path in s["exports"]:
        assert Path(path).is_file() and Path(path).stat().st_size > 0, path
    assert len(outputs(nb, "image/png")) >= 3  # distributions, talk share, per-agent
    # one analysis profile everywhere: the notebook's talk_stats.csv, `diarkit stats`,
    # `diarkit report` and the library give the same rows on the notebook's dataset
    from click.testing import CliRunner

    from diarkit.cli import cli
    from diarkit.io.load import conversation_stats

    dataset = tmp_path / "fleet-dataset"
    keys = ["conversation_id", "speaker", "user_id"]

    def rows(frame):
        return frame.sort_values(keys, kind="stable").reset_index(drop=True)

    notebook = rows(pd.read_csv(tmp_path / "exports" / "talk_stats.csv"))
    res = CliRunner().invoke(cli, ["stats", str(dataset), "--out", str(tmp_path / "st"),
                                   "--format", "csv", "--quiet"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["report", str(dataset), "-o", str(tmp_path / "r.html"),
                                   "--timelines", "0"])
    assert res.exit_code == 0, res.output
    conversation_stats(dataset).to_csv(tmp_path / "lib.csv", index=False)
    for other in (tmp_path / "st" / "conversation_stats.csv", tmp_path / "talk_stats.csv",
                  tmp_path / "lib.csv"):
        pd.testing.assert_frame_equal(notebook, rows(pd.read_csv(other)), obj=str(other))


def test_notebooks_do_not_leave_files_in_the_repo():
    assert not list(NOTEBOOKS.glob("*.parquet")) and not (NOTEBOOKS / "capture-data").exists()
    assert os.environ.get("DIARKIT_NOTEBOOK_OUT") is None
