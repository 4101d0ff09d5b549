"""``diarkit convert ... -o s3://bucket/ds``: conversion straight into a bucket.

Against the moto server on 127.0.0.1 (``aws_endpoint``): the bucket's dataset equals a
local conversion of the same input, a rerun adds nothing twice (deduplicated against
what the bucket holds), a second input adds only its own frames, ``diarkit stats``
reads the result (with ``--start/--end`` too), and an interrupted publish (a raw part
uploaded without its segments twin) is completed by the next run.
"""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from diarkit.sim.frames import write_jsonl
from tests.eventbridge.conftest import fresh_bucket


@pytest.fixture
def bucket(aws_endpoint):
    with fresh_bucket(aws_endpoint) as made:
        yield made


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two frame files of different calls (seeds), JSONL and gzip."""
    root = tmp_path_factory.mktemp("conv-in")
    a, b = root / "a.jsonl", root / "b.jsonl.gz"
    write_jsonl(a, conversations=4, seed=3, call_duration_s=(40.0, 70.0))
    write_jsonl(b, conversations=3, seed=4, call_duration_s=(40.0, 70.0))
    return a, b


def _convert(args: list[str]) -> str:
    from diarkit.cli import cli

    result = CliRunner().invoke(cli, ["convert", *args, "--quiet"])
    assert result.exit_code == 0, result.output
    return result.output


def _keys(client, bucket: str, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def test_convert_to_the_bucket_equals_a_local_conversion(bucket, inputs, tmp_path):
    from diarkit.io.load import load_raw, load_segments

    name, client = bucket
    a, b = inputs
    url = f"s3://{name}/conv/ds"
    out = _convert([str(a), "-o", url])
    assert f"to {url}" in out
    _convert([str(a), "-o", str(tmp_path / "local")])
    cols = ["conversation_id", "utterance_id", "start_s", "end_s", "text", "is_final"]

    def table(where):
        return (load_segments(where)[cols].astype({"conversation_id": str})
                .sort_values(cols[:4], ignore_index=True))

    pd.testing.assert_frame_equal(table(url), table(tmp_path / "local"))
    keys = _keys(client, name, "conv/ds/")
    assert any(k.startswith("conv/ds/raw/date=") for k in keys)
    assert "conv/ds/model/phases.parquet" in keys  # the context Dask workers need
    assert not [k for k in keys if "/." in k or "/_" in k]  # no temporaries, no spool

    # a rerun dedupes against the bucket: no new part
    _convert([str(a), "-o", url])
    assert [k for k in _keys(client, name, "conv/ds/") if "/raw/" in k] == [
        k for k in keys if "/raw/" in k]
    # another input adds its own calls only, the first file's frames are not doubled
    frames = len(load_raw(url, columns=["frame_hash"]))
    _convert([str(b), str(a), "-o", url, "--staging", str(tmp_path / "staging")])
    raw = load_raw(url, columns=["frame_hash", "conversation_id"])
    assert raw["frame_hash"].is_unique and len(raw) > frames
    local_b = tmp_path / "local_b"
    _convert([str(b), "-o", str(local_b)])
    assert len(raw) == frames + len(load_raw(local_b, columns=["frame_hash"]))
    # a kept staging copy downloads nothing the next time
    from diarkit.scale.objectstore import convert_to_url

    again = convert_to_url([b], url, staging=tmp_path / "staging", progress=False)
    assert again.mirror.downloaded == [] and again.summary.written == 0


def test_stats_reads_the_converted_bucket_with_a_window(bucket, inputs, tmp_path):
    from diarkit.cli import cli
    from diarkit.io.load import call_times

    name, _ = bucket
    a, _ = inputs
    url = f"s3://{name}/stats/ds"
    _convert([str(a), "-o", url])
    _convert([str(a), "-o", str(tmp_path / "local")])
    starts = call_times(tmp_path / "local").sort_values()
    # from the second call's start on: a window that leaves the first call out
    window = ["--start", starts.iloc[1].isoformat()]
    out = {}
    for key, where in (("s3", url), ("local", str(tmp_path / "local"))):
        result = CliRunner().invoke(cli, ["stats", where, "--out", str(tmp_path / key),
                                          "--quiet", *window])
        assert result.exit_code == 0, result.output
        out[key] = pd.read_parquet(tmp_path / key / "conversation_stats.parquet")
    calls = out["s3"]["conversation_id"].astype(str).nunique()
    assert 0 < calls < len(starts)  # the window left the first call out
    pd.testing.assert_frame_equal(out["s3"], out["local"])


def test_an_interrupted_publish_is_completed_by_the_next_run(bucket, inputs, tmp_path):
    """A raw part on the bucket without its segments twin (the upload stopped between
    them): the next convert derives the segments locally and publishes them."""
    from diarkit.io.load import load_segments
    from diarkit.scale.objectstore import filesystem

    name, client = bucket
    a, _ = inputs
    url = f"s3://{name}/cut/ds"
    _convert([str(a), "-o", url])
    before = load_segments(url)
    seg_keys = _keys(client, name, "cut/ds/segments/")
    assert seg_keys
    fs, _ = filesystem(url)
    fs.rm_file(f"{name}/{seg_keys[0]}")  # as if the publish died before this PUT
    _convert([str(a), "-o", url])  # nothing new to convert: repair + publish complete it
    assert _keys(client, name, "cut/ds/segments/") == seg_keys
    pd.testing.assert_frame_equal(load_segments(url), before)


def test_capture_publishes_its_dataset_after_a_clean_stop(bucket, tmp_path):
    """``diarkit capture --publish s3://...``: the live capture's dataset lands in the
    bucket once the capture stopped (the capture itself writes to disk)."""
    from diarkit.cli import cli
    from diarkit.io.load import load_segments
    from tests.capture.simhelp import make_sim

    name, _ = bucket
    url = f"s3://{name}/live/ds"
    secret = tmp_path / "secret"
    with make_sim(conversations=2, call_duration_s=(20.0, 30.0), speed=30.0,
                  autostart=True, start_delay_s=0.5) as sim:
        secret.write_text(sim.client_secret)
        secret.chmod(0o600)
        args = ["capture", "--login-base", sim.login_base, "--api-base", sim.api_base,
                "--client-id", sim.client_id, "--client-secret-file", str(secret),
                "--quiet", "--heartbeat", "0.25", "--out", str(tmp_path / "ds"),
                "--duration", "4", "--publish", url]
        for cid in sim.conversation_ids:
            args += ["--conversation", cid]
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"to {url}" in result.output
    local = load_segments(tmp_path / "ds")
    assert len(local) > 0
    pd.testing.assert_frame_equal(load_segments(url), local)
    bad = CliRunner().invoke(cli, [str(tmp_path / "not-a-url") if a == url else a
                                   for a in args])
    assert bad.exit_code == 2 and "not an object-store URL" in bad.output, bad.output


def test_sqs_capture_publishes_its_dataset_too(bucket, queue, tmp_path):
    """``diarkit capture --source sqs://... --publish s3://...``: the EventBridge capture's
    dataset lands in the bucket after its clean stop."""
    from diarkit.cli import cli
    from diarkit.io.load import load_raw
    from tests.eventbridge.conftest import envelopes, send_all
    from tests.io.conftest import transcription_frame

    name, _ = bucket
    url, sqs = queue
    frames = [transcription_frame(cid=f"p{i % 2}", offset_ms=700 * i).decode()
              for i in range(12)]
    send_all(sqs, url, [e for _, e in envelopes(frames, seed=4)])
    target = f"s3://{name}/sqs/ds"
    result = CliRunner().invoke(cli, ["capture", "--source", f"sqs://{url}", "--out",
                                      str(tmp_path / "ds"), "--duration", "3", "--quiet",
                                      "--roll-seconds", "0.5", "--publish", target])
    assert result.exit_code == 0, result.output
    assert f"to {target}" in result.output
    cols = ["conversation_id", "frame_hash"]
    remote = load_raw(target, columns=cols)
    assert len(remote) == 12
    pd.testing.assert_frame_equal(remote, load_raw(tmp_path / "ds", columns=cols))
