"""`diarkit der` and `diarkit export` from the shell: clear errors with CLI flags, one line
each and a non-zero exit; per-conversation DER as text, CSV and JSON."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from diarkit.cli import cli
from diarkit.datasets import sample


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


RTTM_REF = (
    "SPEAKER c1 1 0.000 10.000 <NA> <NA> A <NA> <NA>\n"
    "SPEAKER c1 1 10.000 10.000 <NA> <NA> B <NA> <NA>\n"
    "SPEAKER c2 1 0.000 4.000 <NA> <NA> A <NA> <NA>\n"
)
RTTM_HYP = (
    "SPEAKER c1 1 0.000 12.000 <NA> <NA> x <NA> <NA>\n"
    "SPEAKER c1 1 12.000 8.000 <NA> <NA> y <NA> <NA>\n"
    "SPEAKER c2 1 0.000 4.000 <NA> <NA> x <NA> <NA>\n"
)


@pytest.fixture
def rttms(tmp_path):
    ref, hyp = tmp_path / "ref.rttm", tmp_path / "hyp.rttm"
    ref.write_text(RTTM_REF)
    hyp.write_text(RTTM_HYP)
    return hyp, ref


def test_der_per_conversation_text(rttms):
    res = run("der", *rttms)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("DER 8.33%") and "2 conversations" in lines[0]  # 2 s of 24 s
    assert lines[1].split()[:3] == ["c1", "DER", "10.00%"]
    assert lines[2].split()[:3] == ["c2", "DER", "0.00%"]


def test_der_csv_and_json(rttms, tmp_path):
    res = run("der", *rttms, "--format", "csv")
    assert res.exit_code == 0, res.output
    table = pd.read_csv(io.StringIO(res.output))
    assert table["conversation_id"].tolist() == ["c1", "c2", "TOTAL"]
    assert table["der"].tolist() == pytest.approx([0.1, 0.0, 2 / 24])
    assert table["reference_s"].tolist() == pytest.approx([20.0, 4.0, 24.0])
    res = run("der", *rttms, "--format", "json", "--out", tmp_path / "der.json")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "der.json").read_text())
    assert doc["total"]["der"] == pytest.approx(2 / 24) and doc["collar_s"] == 0.0
    assert [c["conversation_id"] for c in doc["conversations"]] == ["c1", "c2"]


def test_der_refuses_a_file_that_is_not_rttm(rttms):
    hyp, ref = rttms
    frames = sample("post_call_transcript.json")
    res = run("der", frames, ref)
    assert res.exit_code == 1
    assert "DER" not in res.output and "100" not in res.output
    assert f"{frames}:1: the hypothesis is not an RTTM file" in res.output
    assert res.output.count("\n") == 1  # one clear line
    res = run("der", hyp, sample("frames.jsonl"))
    assert res.exit_code == 1 and "the reference is not an RTTM file" in res.output


@pytest.mark.parametrize("content", ["", ";; nothing here\n",
                                     "SPEAKER c1 1 1.000 0.000 <NA> <NA> A <NA> <NA>\n"])
def test_der_refuses_an_empty_reference(rttms, tmp_path, content):
    hyp, _ = rttms
    empty = tmp_path / "empty.rttm"
    empty.write_text(content)
    res = run("der", hyp, empty)
    assert res.exit_code == 1
    assert "nan%" not in res.output.lower() and not re.search(r"DER +[\d.]+%", res.output)
    assert "no reference speech" in res.output and str(empty) in res.output


def test_der_empty_hypothesis_is_all_missed(rttms, tmp_path):
    _, ref = rttms
    empty = tmp_path / "none.rttm"
    empty.write_text("")
    res = run("der", empty, ref)
    assert res.exit_code == 0 and res.output.startswith("DER 100.00%  missed 24.000 s")


def test_export_errors_name_cli_flags(tmp_path):
    frames = sample("frames.jsonl")
    res = run("export", frames, "--format", "vtt")
    assert res.exit_code == 1
    assert "pass --conversation ID" in res.output and "table[" not in res.output
    res = run("export", frames, "--format", "vtt", "--conversation", "ffffffff")
    assert res.exit_code == 1 and "--conversation: " in res.output
    assert "'ffffffff' is not there" in res.output
    res = run("export", frames, "--format", "ctm", "--turns")
    assert res.exit_code == 2 and "--turns does not apply to --format ctm" in res.output


def test_export_takes_the_short_id(tmp_path):
    res = run("export", sample("frames.jsonl"), "--format", "vtt", "--conversation",
              "9b810e76", "--out", tmp_path / "c.vtt")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.vtt").read_text().startswith("WEBVTT")
