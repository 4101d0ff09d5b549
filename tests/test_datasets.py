"""The packaged sample (``diarkit.datasets.sample``) is ``data/sample``, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from diarkit.datasets import SAMPLE_FILES, sample

REPO_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_packaged_sample_is_data_sample(name):
    ours = sample(name)
    assert ours.is_file() and "sample_data" in ours.parts
    assert ours.read_bytes() == (REPO_SAMPLE / name).read_bytes(), (
        f"diarkit/sample_data/{name} differs from data/sample/{name}: after regenerating "
        "data/sample, copy it: cp data/sample/* diarkit/sample_data/")


def test_sample_is_package_data_and_errors_are_clear():
    import tomllib

    config = tomllib.loads((REPO_SAMPLE.parents[1] / "pyproject.toml").read_text())
    assert "sample_data/*" in config["tool"]["setuptools"]["package-data"]["diarkit"]
    assert sample().is_dir() and sorted(p.name for p in sample().iterdir()) == sorted(
        SAMPLE_FILES)
    with pytest.raises(ValueError, match=r"no file 'nope\.txt'"):
        sample("nope.txt")
