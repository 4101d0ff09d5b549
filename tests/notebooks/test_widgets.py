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
