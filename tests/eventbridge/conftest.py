"""A real local AWS endpoint (moto's server mode on 127.0.0.1) and EventBridge helpers."""

from __future__ import annotations

import logging
import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from diarkit.genesys.eventbridge import wrap_frame

ORG = "0b6b8e2c-7c2e-4d7b-9d1e-2f1a7c1e0a11"
#: A poisoned message: an envelope without detail-type whose detail is no frame.
POISON = '{"version":"0","id":"poison-1","detail":"not an object"}'


@contextmanager
def fresh_bucket(endpoint: str) -> Iterator[tuple[str, Any]]:
    """``(name, boto3 S3 client)`` of a new bucket on ``endpoint``.

    Meanwhile ``AWS_ENDPOINT_URL`` points boto3, s3fs and child processes at it.
    """
    import boto3

    old = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    name = f"diarkit-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    try:
        yield name, client
    finally:
        if old is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = old


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>``: moto's ThreadedMotoServer, stopped after the session.

    AWS credentials and region point at it through environment variables, so child
    processes (a killed ``diarkit capture``) reach it too.
    """
    from moto.server import ThreadedMotoServer  # the dev extra installs it: never skipped

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def queue(aws_endpoint: str) -> tuple[str, object]:
    """A fresh SQS queue on the local endpoint: ``(queue_url, boto3 client)``."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=aws_endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"diarkit-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    return url, sqs


def envelopes(frames: list[str], seed: int = 5) -> list[tuple[str, str]]:
    """``(event id, EventBridge event text)`` for each frame, ids seeded."""
    rng = random.Random(seed)
    out = []
    for i, frame in enumerate(frames):
        eid = str(uuid.UUID(int=rng.getrandbits(128)))
        t = f"2026-12-05T09:{(i // 60) % 60:02d}:{i % 60:02d}Z"
        out.append((eid, wrap_frame(frame, event_id=eid, organization_id=ORG, time=t)))
    return out


def hostile_stream(events: list[tuple[str, str]], seed: int = 9) -> list[str]:
    """The events shuffled, a quarter of them twice, plus one poisoned message."""
    rng = random.Random(seed)
    bodies = [e for _, e in events]
    bodies += rng.sample(bodies, max(1, len(bodies) // 4))
    rng.shuffle(bodies)
    bodies.insert(len(bodies) // 2, POISON)
    return bodies


def send_all(sqs: object, url: str, bodies: list[str]) -> None:
    """Send messages in batches of 10."""
    for i in range(0, len(bodies), 10):
        entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])]
        reply = sqs.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[attr-defined]
        assert not reply.get("Failed"), reply["Failed"]
