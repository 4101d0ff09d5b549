"""Helpers of the back-fill and reconciliation tests: a simulator with analytics, a capture
with injected faults, and SDK-model conformance checks."""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import PureCloudPlatformClientV2 as _sdk  # the conformance oracle (dev extra)

from diarkit.capture.analytics import AnalyticsClient
from diarkit.capture.token import TokenSource
from diarkit.sim import Simulator
from diarkit.sim.analytics import PERMISSIONS, AnalyticsSim
from diarkit.sim.server import DEFAULT_PERMISSIONS

sys.path.insert(0, str(Path(__file__).parent.parent / "capture"))
from simhelp import (
    ledger_entries,
    make_capture,
    make_sim,
    stored_rows,
    wait_for,
    wait_live,
)

ALL_PERMISSIONS = DEFAULT_PERMISSIONS | PERMISSIONS


def analytics_sim(asim: AnalyticsSim, **kw: Any) -> Simulator:
    """A simulator (autostart off) with the analytics routes and a client allowed to use them."""
    opts: dict[str, Any] = {"routes": [asim.install], "permissions": ALL_PERMISSIONS}
    opts.update(kw)
    return make_sim(**opts)


def client_of(sim: Simulator, **kw: Any) -> AnalyticsClient:
    opts: dict[str, Any] = {"poll_s": 0.05, "close_tokens": True}
    opts.update(kw)
    return AnalyticsClient(sim.api_base, TokenSource(sim.login_base, sim.client_id,
                                                     sim.client_secret), **opts)


# --------------------------------------------------------------------------- SDK conformance

_API = _sdk.ApiClient()
_LIST = re.compile(r"list\[(.+)\]")
_DICT = re.compile(r"dict\(([^,]*), (.*)\)")


def conform(data: Any, klass: str) -> Any:
    """Deserialize ``data`` with the official SDK model ``klass`` and check it fits.

    Every key must be an attribute of the model (the SDK drops unknown keys silently),
    every enum value must be allowed (the SDK maps unknown ones to
    ``outdated_sdk_version``), recursively. Returns the SDK object.
    """
    _check_keys(data, klass, "$")
    obj = _API._ApiClient__deserialize(data, klass)
    assert "outdated_sdk_version" not in repr(obj.to_dict()), f"{klass}: enum value not allowed"
    return obj


def _check_keys(data: Any, klass: str, path: str) -> None:
    m = _LIST.fullmatch(klass)
    if m:
        assert isinstance(data, list), f"{path}: expected a list for {klass}"
        for i, item in enumerate(data):
            _check_keys(item, m.group(1), f"{path}[{i}]")
        return
    m = _DICT.fullmatch(klass)
    if m:
        for k, v in data.items():
            _check_keys(v, m.group(2), f"{path}.{k}")
        return
    model = getattr(_sdk.models, klass, None) if hasattr(_sdk, "models") else None
    model = model or getattr(_sdk, klass, None)
    if model is None or not isinstance(data, dict):
        return
    inst = model()
    by_json = {v: k for k, v in inst.attribute_map.items()}
    unknown = [k for k in data if k not in by_json]
    assert not unknown, f"{path}: {klass} has no attribute(s) {unknown}"
    for k, v in data.items():
        _check_keys(v, inst.swagger_types[by_json[k]], f"{path}.{k}")


# --------------------------------------------------------------------------- a faulty capture


@dataclass
class Captured:
    """A capture of a simulated org with faults, kept for several tests."""

    dataset: Path
    sim: Simulator
    asim: AnalyticsSim
    never: str
    late: str
    stored: list[dict[str, Any]]
    sent: list[Any]
    gaps: int

    @property
    def lost_texts(self) -> Counter[str]:
        """Transcription frames the simulator emitted that the dataset does not hold."""
        return Counter(e.text for e in self.sent) - Counter(r["frame"] for r in self.stored)


def capture_with_faults(out: Path, *, conversations: int = 6, seed: int = 11,
                        late_s: float = 1.0) -> Captured:
    """Capture simulated calls while the socket drops, the capture joins late and the token
    is revoked (with a 429 slowing the recovery, so frames are surely lost).

    The first call (joined late) never gets a transcript; the second gets it ``late_s``
    wall seconds after it ended. The simulator is left running (stop it when done).
    """
    probe = make_sim(conversations=conversations, seed=seed, stagger_s=6.0,
                     call_duration_s=(40.0, 60.0))
    ids = probe.conversation_ids
    asim = AnalyticsSim(never=frozenset({ids[0]}), late={ids[1]: late_s})
    sim = analytics_sim(asim, conversations=conversations, seed=seed, stagger_s=6.0,
                        call_duration_s=(40.0, 60.0))
    sim.start()
    sim.start_conversations()
    time.sleep(0.25)  # the first calls are under way when the capture joins: late join
    cap = make_capture(sim, out)
    cap.start()
    wait_live(cap)
    time.sleep(0.3)
    sim.faults.trigger("drop")
    time.sleep(0.4)
    sim.faults.rate_limit_next(2, retry_after_s=1)
    sim.faults.trigger("revoke")
    assert sim.wait_for_conversations_done(60)
    wait_for(lambda: cap.status in ("live", "error"), what="capture live again")
    time.sleep(0.4)
    stats = cap.stop()
    assert stats.status == "stopped", stats.message
    # what the service emitted (the schedule), whether or not a socket was there to take it
    sent = [f for f in sim.frames if f.topic.endswith(".transcription")]
    assert {e.text for e in ledger_entries(sim)} <= {f.text for f in sent} | {
        e.text for e in ledger_entries(sim) if not e.topic.endswith(".transcription")}
    return Captured(out, sim, asim, ids[0], ids[1], stored_rows(out), sent, stats.gaps)


def copy_dataset(cap: Captured, dest: Path) -> Path:
    """A private copy of the captured dataset."""
    shutil.copytree(cap.dataset, dest)
    return dest


def utterance_finals(texts: list[str]) -> set[tuple[str, str]]:
    """(conversation, utterance id) of every final version in these frame texts."""
    out = set()
    for t in texts:
        try:
            body = orjson.loads(t).get("eventBody") or {}
        except (orjson.JSONDecodeError, AttributeError):
            continue
        for tr in body.get("transcripts") or []:
            if tr.get("isFinal") and tr.get("utteranceId"):
                out.add((body.get("conversationId"), tr["utteranceId"]))
    return out
