"""A live capture ends by writing timeline/timeline.parquet (``CaptureOptions.timeline``).

Real simulator over 127.0.0.1, real capture (follow mode: call events and transcripts),
real Parquet dataset.
"""

from __future__ import annotations

import pandas as pd

from diarkit.io.timeline import TIMELINE_COLUMNS, timeline
from tests.capture.simhelp import make_capture, make_sim, wait_for, wait_live


def _capture(tmp_path, **kw):
    with make_sim(conversations=2, call_duration_s=(20.0, 30.0), speed=60.0) as sim:
        cap = make_capture(sim, tmp_path, grace_s=0.2, follow_queues=sim.queue_ids,
                           dead_after=12.0, **kw)
        cap.start()
        wait_live(cap)
        sim.start_conversations()
        assert sim.wait_for_conversations_done(40)
        wait_for(lambda: cap.stats().active_conversations == 0, timeout=30.0,
                 what="calls dropped")
        stats = cap.stop()
        ids = set(sim.conversation_ids)
    assert stats.status == "stopped", stats
    return cap, ids


def test_capture_with_timeline_writes_the_reconciled_table_at_stop(tmp_path):
    cap, ids = _capture(tmp_path, timeline=True)
    path = tmp_path / "timeline" / "timeline.parquet"
    assert path.exists() and cap.timeline_error is None
    written = pd.read_parquet(path)
    assert list(written.columns) == list(TIMELINE_COLUMNS)
    assert set(written["conversation_id"]) == ids
    # the call events were captured too: speech is attributed to participants, IVR apart
    assert {"participant"} <= set(written["attribution"])
    assert {"customer", "agent"} <= set(written["party"])
    # what the capture wrote is what the dataset gives now (nothing added later)
    again = timeline(tmp_path)
    assert len(written) == len(again)
    pd.testing.assert_series_equal(written["text"], again["text"].astype(written["text"].dtype),
                                   check_names=False)
    assert (written["start_s"].to_numpy() == again["start_s"].to_numpy()).all()


def test_capture_without_the_option_writes_no_timeline(tmp_path):
    cap, _ = _capture(tmp_path)
    assert not (tmp_path / "timeline").exists() and cap.timeline_error is None
