"""CaptureControl outside a browser: errors show in the panel, a capture runs and flushes."""

from __future__ import annotations

import time

import pytest

from diarkit.widgets import CaptureControl


def _wait(pred, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_missing_credentials_show_as_error_in_panel(tmp_path):
    control = CaptureControl(tmp_path / "ds", simulator=False, environment="mypurecloud.de",
                             conversations=["c1"])
    assert control.state == "idle" and control.dataset is None
    assert "data-status='idle'" in control.status.value
    control.start_button.click()
    assert control.state == "error"
    assert "client credentials" in control.status.value
    assert not control.start_button.disabled and control.stop_button.disabled
    with pytest.raises(RuntimeError, match="press Start"):
        control.segments()


def test_unknown_environment_and_nothing_to_capture_are_named(tmp_path):
    control = CaptureControl(tmp_path / "ds", simulator=False, environment="nowhere.example",
                             client_id="id", client_secret="secret", conversations=["c1"])
    control.start()
    assert control.state == "error" and "nowhere.example" in control.status.value
    control2 = CaptureControl(tmp_path / "ds2", simulator=False, environment="mypurecloud.de",
                              client_id="id", client_secret="secret")
    control2.start()
    assert control2.state == "error" and "nothing to capture" in control2.status.value
    html = control2.summary()._repr_html_()
    assert "error" in html and "nothing to capture" in html


def test_cloud_settings_hidden_in_simulator_mode(tmp_path):
    control = CaptureControl(tmp_path / "ds")
    assert control.mode.value == "Local simulator"
    assert control._cloud_box.layout.display == "none"
    control.mode.value = "Genesys Cloud"
    assert control._cloud_box.layout.display is None
    bundle = control._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_rejected_subscription_is_an_error_in_the_panel(tmp_path):
    from diarkit.sim import Simulator

    with Simulator(seed=1, conversations=1, permissions=(), autostart=False) as sim:
        control = CaptureControl(tmp_path / "ds", simulator=sim, refresh_s=0.1)
        control.start()
        assert _wait(lambda: control.state == "error", 20), control.state
        assert "routing:queue:view" in control.status.value  # the missing permission
        assert _wait(lambda: not control.start_button.disabled, 5)
        assert control.stop_button.disabled


def test_simulator_mode_captures_reconnects_stops_and_flushes(tmp_path):
    import pyarrow.parquet as pq

    from diarkit.sim import PlannedFault

    control = CaptureControl(
        tmp_path / "ds", simulator=True, refresh_s=0.1, timeline_every_s=0.3,
        simulator_options={"seed": 2, "conversations": 2, "speed": 50.0, "heartbeat_s": 5.0,
                           "call_duration_s": (40.0, 60.0), "stagger_s": 1.0,
                           "fault_plan": [PlannedFault(0.4, "drop")]},
    )
    try:
        control.start()
        assert _wait(lambda: control.state == "live", 20), control.state
        assert _wait(lambda: control.simulator.wait_for_conversations_done(0.1), 30)
        time.sleep(0.5)
        control.stop()
        assert control.state == "stopped", control.status.value
        summary = control.summary()
        rows = sum(pq.read_metadata(p).num_rows
                   for p in (control.dataset / "raw").rglob("*.parquet"))
        assert summary.counters["rows written"] == rows > 0
        assert f"{summary.counters['frames']:,}</div>" in control.counters.value
        segs = control.segments()
        assert set(segs["conversation_id"].astype(str)) == set(control.simulator.conversation_ids)
        assert bytes(control.timeline.value[:4]) == b"\x89PNG"
        assert "(final)" in control.timeline_note.value
        # the dropped socket shows as a reconnect and a gap, in the panel and the summary
        assert summary.counters["reconnects"] >= 1 and summary.counters["gaps"] >= 1
        html = summary._repr_html_()
        assert "stopped" in html and "events lost while disconnected" in html
    finally:
        sim = control.simulator
        control.close()
    assert control.simulator is None and sim is not None
