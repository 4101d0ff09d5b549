"""Column contracts: empty tables are typed, validate names the bad column."""

from __future__ import annotations

import pandas as pd
import pytest

from diarkit.schema import CONTRACTS, SEGMENTS, SPEAKER_BY_CHANNEL, SchemaError, validate


def test_empty_tables_validate():
    for contract in CONTRACTS.values():
        validate(contract.empty(), contract)


def test_missing_and_mistyped_columns_are_named():
    df = SEGMENTS.empty().drop(columns=["start_s"])
    with pytest.raises(SchemaError, match="missing column 'start_s'"):
        validate(df, "segments", where="turns()")
    df = SEGMENTS.empty()
    df["is_final"] = pd.Series([], dtype="float64")
    with pytest.raises(SchemaError, match="'is_final' has dtype float64, expected bool"):
        validate(df, SEGMENTS)


def test_not_null_columns():
    df = CONTRACTS["raw"].empty()
    df = pd.concat([df, pd.DataFrame({"session_id": [None], "seq": [1], "frame": ["{}"]})])
    with pytest.raises(SchemaError, match="'session_id' has nulls"):
        validate(df, "raw")


def test_default_speakers():
    assert SPEAKER_BY_CHANNEL["INTERNAL"] == "agent"
    assert SPEAKER_BY_CHANNEL["EXTERNAL"] == "customer"
