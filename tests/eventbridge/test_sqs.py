"""SQS capture of EventBridge events on a real local endpoint (moto server on 127.0.0.1).

The reference is the simulator's calls captured live over a loopback WebSocket; the same
frames, wrapped as Genesys's EventBridge integration wraps them, shuffled, a quarter of
them delivered twice and one poisoned message among them, are captured through SQS and
converted from Firehose-style objects. All three datasets must hold the same finalized
segments.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from diarkit.capture.sqs import SOURCE_PREFIX, SqsCapture, queue_from_source, sqs_client
from diarkit.io.convert import convert
from diarkit.io.dataset import list_files, list_parts
from diarkit.io.load import load_gaps, load_quarantine

from .conftest import POISON, envelopes, hostile_stream, send_all
from .helpers import final_segments, websocket_capture


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(dataset captured over the WebSocket, its frames in receive order)."""
    out = tmp_path_factory.mktemp("websocket")
    frames = websocket_capture(out)
    assert len(frames) > 20
    return out, frames


def stored_sources(out: Path) -> Counter[str]:
    got: Counter[str] = Counter()
    for part in list_parts(out):
        got.update(pq.read_table(part, columns=["source"]).column("source").to_pylist())
    return got


def queue_depth(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def test_sqs_capture_equals_the_websocket_capture(reference, queue, tmp_path):
    ws_out, frames = reference
    url, sqs = queue
    events = envelopes(frames)
    bodies = hostile_stream(events)
    send_all(sqs, url, bodies)
    cap = SqsCapture(tmp_path, url, wait_s=0, roll_seconds=0.5)
    stats = cap.run(idle_polls=2)
    c = cap.counters
    assert cap.error is None and stats.status == "stopped"
    assert c.received == len(bodies) == c.deleted and c.delete_failures == 0
    assert c.stored == len(frames) == stats.rows == stats.frames
    assert c.duplicates == len(bodies) - len(frames) - 1 and c.poisoned == 1
    assert queue_depth(sqs, url) == 0
    # every event stored once, under its EventBridge id
    assert stored_sources(tmp_path) == Counter(SOURCE_PREFIX + eid for eid, _ in events)
    pd.testing.assert_frame_equal(final_segments(tmp_path), final_segments(ws_out))
    q = load_quarantine(tmp_path)
    assert len(q) == 1 and q["reason"][0] == "$.detail-type: required field is missing"
    assert q["raw"][0] == POISON and q["source"][0].startswith(url + "#")
    assert list_files(tmp_path, "gaps") == []


def test_firehose_objects_convert_to_the_websocket_capture(reference, tmp_path):
    ws_out, frames = reference
    events = envelopes(frames)
    bodies = hostile_stream(events)
    half = len(bodies) // 2
    root = tmp_path / "firehose"
    a = root / "2026" / "12" / "05" / "09" / "diarkit-stream-1-2026-12-05-09-00-00-aaaa.gz"
    b = root / "2026" / "12" / "05" / "10" / "diarkit-stream-1-2026-12-05-10-00-00-bbbb"
    replay = root / "replays" / "archive-replay-1.jsonl"
    a.parent.mkdir(parents=True)
    b.parent.mkdir(parents=True)
    replay.parent.mkdir(parents=True)
    # Firehose's default: envelopes concatenated with no delimiter, gzip
    a.write_bytes(gzip.compress("".join(bodies[:half]).encode()))
    # with a newline-appending processor: one per line, plain
    b.write_text("\n".join(bodies[half:]) + "\n")
    # an archive replay re-sends some events with replay-name (duplicates of stored ones)
    replayed = []
    for _, body in events[::5]:
        doc = json.loads(body)
        doc["replay-name"] = "backfill-1"
        replayed.append(json.dumps(doc, separators=(",", ":")))
    replay.write_text("\n".join(replayed) + "\n")
    out = tmp_path / "ds"
    summary = convert([root], out, progress=False, workers=1)
    assert summary.skipped == []
    pd.testing.assert_frame_equal(final_segments(out), final_segments(ws_out))
    raw = pd.concat(pq.read_table(p).to_pandas() for p in list_parts(out))
    assert len(raw) == len(frames)  # duplicates (also across objects) dropped by frame hash
    q = load_quarantine(out)
    assert len(q) == 1 and q["reason"][0] == "$.detail-type: required field is missing"
    poisoned_in = a if bodies.index(POISON) < half else b
    assert q["source"][0] == str(poisoned_in)
    if poisoned_in == b:  # one event per line: the line is the poisoned message's
        assert q["line"][0] == bodies.index(POISON) - half + 1


def test_a_crash_between_spooling_and_deleting_stores_nothing_twice(queue, tmp_path):
    """A capture killed after spooling a batch and before deleting it (deterministically)."""
    from tests.io.conftest import transcription_frame

    url, sqs = queue
    frames = [transcription_frame(cid=f"c{i % 4}", offset_ms=900 * i).decode() for i in range(40)]
    events = envelopes(frames, seed=21)
    send_all(sqs, url, [e for _, e in events])
    child = f"""
import os, signal
from diarkit.capture.sqs import SqsCapture
cap = SqsCapture({str(tmp_path)!r}, {url!r}, wait_s=0, visibility_timeout_s=1, roller="thread")
cap.open()
batch = cap.receive()
cap.store(batch)          # spooled (and fsynced) ...
print(len(batch.new), flush=True)
os.kill(os.getpid(), signal.SIGKILL)   # ... and killed before delete
"""
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    spooled = int(proc.stdout.split()[0])
    assert spooled == 10
    assert list((tmp_path / "_spool").glob("*.spool"))  # left behind by the kill
    time.sleep(1.2)  # the killed capture's messages become visible again
    cap = SqsCapture(tmp_path, url, wait_s=0, visibility_timeout_s=5)
    cap.run(idle_polls=2)
    assert cap.error is None
    assert cap.recorder.recovery.frames == spooled
    assert cap.counters.duplicates == spooled  # redelivered, recognised, only deleted
    assert cap.counters.stored == len(events) - spooled
    assert stored_sources(tmp_path) == Counter(SOURCE_PREFIX + eid for eid, _ in events)
    assert queue_depth(sqs, url) == 0


def test_kill_9_during_capture_loses_nothing_deleted_and_duplicates_nothing(queue, tmp_path):
    from tests.io.conftest import transcription_frame

    url, sqs = queue
    frames = [transcription_frame(cid=f"k{i % 7}", offset_ms=700 * i).decode() for i in range(300)]
    events = envelopes(frames, seed=33)
    bodies = [e for _, e in events] + [e for _, e in events[::10]]  # some delivered twice
    send_all(sqs, url, bodies)
    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "diarkit",
        "capture",
        "--source",
        f"sqs://{url}",
        "--out",
        str(out),
        "--visibility-timeout",
        "1",
        "--roll-seconds",
        "0.3",
        "--quiet",
    ]
    log = tmp_path / "capture.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=os.environ)
    try:
        deadline = time.monotonic() + 60
        while queue_depth(sqs, url) > len(bodies) * 0.6:  # about 40 % deleted
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "capture made no progress"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    left = queue_depth(sqs, url)
    assert 0 < left < len(bodies)
    time.sleep(1.2)
    cap = SqsCapture(out, url, wait_s=0, visibility_timeout_s=5)
    cap.run(idle_polls=2)
    assert cap.error is None
    assert queue_depth(sqs, url) == 0
    # every event exactly once: nothing deleted was lost, nothing was stored twice
    assert stored_sources(out) == Counter(SOURCE_PREFIX + eid for eid, _ in events)


def test_receive_failures_are_recorded_as_a_gap_and_polling_resumes(queue, tmp_path):
    import socket

    url, sqs = queue
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    cap = SqsCapture(
        tmp_path, url, client=sqs_client(url, endpoint_url=f"http://127.0.0.1:{dead}"), wait_s=0
    )
    cap.open()
    assert cap.poll_once() == 0 and cap.poll_once() == 0
    assert cap.status == "reconnecting" and cap.stats().gaps == 1
    cap.client = sqs
    send_all(
        sqs,
        url,
        [
            envelopes(
                [
                    '{"topicName":"v2.conversations.x.transcription",'
                    '"eventBody":{"conversationId":"x"}}'
                ]
            )[0][1]
        ],
    )
    assert cap.poll_once() == 1 and cap.status == "live"
    stats = cap.stop()
    assert stats.gaps == 1 and cap.counters.stored == 1
    gaps = load_gaps(tmp_path)
    assert len(gaps) == 1 and gaps["channel_id"][0] == url
    assert gaps["cause"][0].startswith("sqs receive failed: EndpointConnectionError")
    assert gaps["duration_s"][0] > 0


@pytest.mark.parametrize(
    ("source", "url", "region"),
    [
        (
            "sqs://sqs.eu-west-1.amazonaws.com/123456789012/genesys",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/genesys",
            "eu-west-1",
        ),
        (
            "sqs://https://sqs.us-east-2.amazonaws.com/1/q",
            "https://sqs.us-east-2.amazonaws.com/1/q",
            "us-east-2",
        ),
        (
            "sqs://http://127.0.0.1:5000/123456789012/q",
            "http://127.0.0.1:5000/123456789012/q",
            None,
        ),
    ],
)
def test_queue_urls(source, url, region):
    assert queue_from_source(source) == (url, region)


@pytest.mark.parametrize("bad", ["https://x/1/q", "sqs://", "sqs://host/only", "sqs://h/a/b/c"])
def test_bad_queue_urls_are_clear_errors(bad):
    with pytest.raises(ValueError, match="sqs://"):
        queue_from_source(bad)


def test_limits_are_checked(tmp_path):
    with pytest.raises(ValueError, match="batch_size must be 1-10"):
        SqsCapture(tmp_path, "http://127.0.0.1:1/1/q", client=object(), batch_size=11)
    with pytest.raises(ValueError, match="wait_s must be 0-20"):
        SqsCapture(tmp_path, "http://127.0.0.1:1/1/q", client=object(), wait_s=21)


def test_diarkit_convert_reads_firehose_objects_straight_from_s3(
    reference, aws_endpoint, tmp_path, monkeypatch
):
    import boto3
    from click.testing import CliRunner

    from diarkit.cli import cli

    ws_out, frames = reference
    bodies = hostile_stream(envelopes(frames))
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    bucket = f"raw-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    third = len(bodies) // 3
    for hour, chunk in (
        ("09", bodies[:third]),
        ("10", bodies[third : 2 * third]),
        ("11", bodies[2 * third :]),
    ):
        key = f"genesys/transcription/2026/12/05/{hour}/stream-1-2026-12-05-{hour}-00-00-x.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress("".join(chunk).encode()))
    out = tmp_path / "ds"
    url = f"s3://{bucket}/genesys/transcription/"
    result = CliRunner().invoke(cli, ["convert", url, "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output  # not --strict: quarantine is no failure
    pd.testing.assert_frame_equal(final_segments(out), final_segments(ws_out))
    q = load_quarantine(out)
    assert len(q) == 1 and f"s3/{bucket}/genesys/transcription/2026/12/05/" in q["source"][0]


def test_a_batch_held_past_half_the_visibility_timeout_is_extended_then_deleted(queue, tmp_path):
    url, sqs = queue
    now = [1_000.0]
    cap = SqsCapture(
        tmp_path, url, client=sqs, wait_s=0, visibility_timeout_s=4, clock=lambda: now[0]
    )
    frame = '{"topicName":"v2.conversations.v.transcription","eventBody":{"conversationId":"v"}}'
    send_all(sqs, url, [b for _, b in envelopes([frame, frame.replace('"v"', '"w"')])])
    cap.open()
    batch = cap.receive()
    assert batch is not None and len(batch.new) == 2
    cap.store(batch)
    now[0] += 2.5  # the disk was slow: more than half of the 4 s visibility timeout went by
    cap.delete(batch)
    assert cap.counters.visibility_extensions == 1
    assert cap.counters.deleted == 2 and cap.counters.delete_failures == 0
    cap.stop()
    assert queue_depth(sqs, url) == 0


def test_the_dedupe_window_forgets_old_keys():
    from diarkit.capture.sqs import RecentKeys, key_of

    seen = RecentKeys(window_s=120)
    seen.add(key_of("a"), 0.0)
    seen.add(key_of("b"), 100.0)
    assert key_of("a") in seen and key_of("b") in seen and len(seen) == 2
    seen.expire(150.0)  # "a" is older than 120 s (whole one-minute buckets)
    assert key_of("a") in seen
    seen.expire(190.0)
    assert key_of("a") not in seen and key_of("b") in seen


def test_websocket_options_are_refused_with_an_sqs_source(tmp_path):
    from click.testing import CliRunner

    from diarkit.cli import cli

    args = ["capture", "--source", "sqs://sqs.eu-west-1.amazonaws.com/1/q", "--out", str(tmp_path)]
    r = CliRunner().invoke(cli, [*args, "--follow-queue", "q1", "--client-id", "x"])
    assert r.exit_code == 2
    assert "--follow-queue, --client-id: WebSocket options, not for --source sqs://" in r.output
    r = CliRunner().invoke(cli, ["capture", "--source", "https://x/1/q", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "expected sqs://QUEUE_URL" in r.output


def test_events_routed_by_eventbridge_itself_capture_and_convert_the_same(
    reference, aws_endpoint, queue, tmp_path
):
    """moto's EventBridge (PutEvents, a rule on the detail-type, an SQS target) makes the
    envelopes: its member order and spacing, its ids and times."""
    import boto3

    ws_out, frames = reference
    url, sqs = queue
    events = boto3.client("events", endpoint_url=aws_endpoint, region_name="us-east-1")
    bus = f"genesys-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    pattern = {
        "source": [{"prefix": "aws.partner/genesys.com"}],
        "detail-type": ["v2.conversations.{id}.transcription"],
    }
    events.put_rule(Name="transcription", EventBusName=bus, EventPattern=json.dumps(pattern))
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url2 = sqs.create_queue(QueueName=f"firehose-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn2 = sqs.get_queue_attributes(QueueUrl=url2, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    targets = [{"Id": "sqs", "Arn": arn}, {"Id": "as-firehose", "Arn": arn2}]
    events.put_targets(Rule="transcription", EventBusName=bus, Targets=targets)
    source = "aws.partner/genesys.com/cloud/0b6b8e2c/transcription"
    entries = [
        {
            "Source": source,
            "DetailType": "v2.conversations.{id}.transcription",
            "Detail": json.dumps({**json.loads(f), "timestamp": "2026-12-05T09:00:00.000Z"}),
            "EventBusName": bus,
        }
        for f in frames
    ]
    for i in range(0, len(entries), 10):
        assert events.put_events(Entries=entries[i : i + 10])["FailedEntryCount"] == 0
    cap = SqsCapture(tmp_path / "sqs", url, wait_s=0)
    cap.run(idle_polls=2)
    assert cap.error is None and cap.counters.stored == len(frames) and cap.counters.poisoned == 0
    pd.testing.assert_frame_equal(final_segments(tmp_path / "sqs"), final_segments(ws_out))
    # the same envelopes (second target), as Firehose writes them: concatenated, gzip
    bodies: list[str] = []
    while got := sqs.receive_message(QueueUrl=url2, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in got]
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        sqs.delete_message_batch(QueueUrl=url2, Entries=entries)
    assert len(bodies) == len(frames) and not bodies[0].startswith('{"version"')
    obj = tmp_path / "firehose" / "2026" / "12" / "05" / "10" / "stream-1-x.gz"
    obj.parent.mkdir(parents=True)
    obj.write_bytes(gzip.compress("".join(bodies).encode()))
    convert([tmp_path / "firehose"], tmp_path / "fh", progress=False, workers=1)
    pd.testing.assert_frame_equal(final_segments(tmp_path / "fh"), final_segments(ws_out))


def test_diarkit_capture_source_sqs_runs_for_its_duration_and_prints_the_summary(queue, tmp_path):
    from click.testing import CliRunner

    from diarkit.cli import cli
    from tests.io.conftest import transcription_frame

    url, sqs = queue
    frames = [transcription_frame(cid=f"d{i % 3}", offset_ms=800 * i).decode() for i in range(30)]
    send_all(sqs, url, hostile_stream(envelopes(frames, seed=2)))
    args = ["capture", "--source", f"sqs://{url}", "--out", str(tmp_path), "--duration", "3"]
    t0 = time.monotonic()
    r = CliRunner().invoke(cli, [*args, "--quiet", "--roll-seconds", "0.5"])
    assert r.exit_code == 0, r.output
    assert time.monotonic() - t0 < 15  # the long poll is shortened to fit the duration
    assert "stored rows 30 in" in r.output
    assert "stored 30, duplicates 7, poisoned 1 (quarantined), deleted 38" in r.output
    assert queue_depth(sqs, url) == 0
    # like the WebSocket capture, it leaves the reconciled timeline table SQL tools read
    from diarkit.io.timeline import TIMELINE_COLUMNS, timeline

    written = pd.read_parquet(tmp_path / "timeline" / "timeline.parquet")
    again = timeline(tmp_path)
    assert list(written.columns) == list(TIMELINE_COLUMNS) and len(written) == len(again) > 0
    assert set(written["conversation_id"].astype(str)) == {"d0", "d1", "d2"}
    assert written["text"].tolist() == again["text"].astype(str).tolist()
    assert (written["start_s"].to_numpy() == again["start_s"].to_numpy()).all()
