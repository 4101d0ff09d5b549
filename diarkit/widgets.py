"""ipywidgets panel over a capture session: settings, Start/Stop, status, counters, timeline.

The panel holds no capture logic: Start builds a ``diarkit.capture.Capture`` (optionally
against a local ``diarkit.sim.Simulator``) and calls ``start()``, which runs in background
threads, so the kernel stays responsive; Stop calls ``stop()``, which flushes every frame
to Parquet. A refresher thread copies ``Capture.stats()`` into the panel every
``refresh_s`` seconds and redraws the timeline of the most recently active conversation
from the segments written so far. Failures are shown in the panel with their message.
"""

from __future__ import annotations

import html
import io
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from diarkit.report import table_html

#: Environment variables the panel reads, like ``diarkit capture``.
ENV_CLIENT_ID = "GENESYS_CLIENT_ID"
ENV_CLIENT_SECRET = "GENESYS_CLIENT_SECRET"

#: Badge colour per capture status.
STATUS_COLOURS = {
    "idle": "#7F7F7F",
    "starting simulator": "#7F7F7F",
    "connecting": "#B58900",
    "live": "#2E8B57",
    "reconnecting": "#D55E00",
    "stopping": "#B58900",
    "stopped": "#14324D",
    "error": "#C0392B",
}

#: Counters shown in the panel: label -> CaptureStats attribute.
COUNTERS = {
    "frames": "frames",
    "transcription events": "transcription_events",
    "utterances": "utterances",
    "final": "finals",
    "active conversations": "active_conversations",
    "reconnects": "reconnects",
    "gaps": "gaps",
    "Parquet parts": "parts",
    "rows written": "rows",
}

MODES = ("Local simulator", "Genesys Cloud")

#: Seconds of recent segments read to find the conversation that spoke last.
RECENT_S = 60.0


def _split_ids(text: str) -> list[str]:
    return [t for t in (p.strip() for p in text.replace(",", "\n").splitlines()) if t]


@dataclass
class CaptureSummary:
    """What a capture did: final status, counters and gaps; renders as HTML in notebooks."""

    status: str
    message: str
    counters: dict[str, int]
    dataset: Path | None
    gaps: pd.DataFrame = field(default_factory=pd.DataFrame)

    def _repr_html_(self) -> str:
        colour = STATUS_COLOURS.get(self.status, "#7F7F7F")
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(k)}</td>"
            f"<td style='text-align:right'>{v:,}</td></tr>"
            for k, v in self.counters.items()
        )
        msg = f" — {html.escape(self.message)}" if self.message else ""
        gaps = (
            "<p>No gaps: the socket never dropped.</p>"
            if self.gaps.empty
            else "<p><b>Gaps</b> (events lost while disconnected)</p>" + table_html(self.gaps)
        )
        return (
            f"<div><p><b style='color:{colour}'>{html.escape(self.status)}</b>{msg}"
            f"<br>dataset: <code>{html.escape(str(self.dataset))}</code></p>"
            f"<table>{rows}</table>{gaps}</div>"
        )


class CaptureControl:
    """A notebook panel that starts, watches and stops a capture (no logic of its own).

    Args:
        out: dataset directory the capture writes (``raw/``, ``segments/``, ``gaps/``).
        simulator: True to start a local ``diarkit.sim.Simulator`` (on the first Start)
            instead of connecting to Genesys Cloud, or a running ``Simulator`` to capture
            from (it is not stopped by ``close()``); False starts in Genesys Cloud mode.
            In simulator mode the panel follows the simulator's queues unless ids are
            given, and starts its calls (``start_conversations``) once the capture is live.
        environment: Genesys Cloud environment domain or region name (``mypurecloud.de``,
            ``eu-central-1``), for Genesys Cloud mode.
        client_id: OAuth client id (client credentials), for Genesys Cloud mode; default
            ``$GENESYS_CLIENT_ID``.
        client_secret: its secret, kept only in this Python object (a
            ``diarkit.capture.Secret``), **never in a widget**: ipywidgets saves every
            widget's value into the notebook with the widget state, so the panel has no
            secret field. Default: ``client_secret_file`` (also settable in the panel),
            else ``$GENESYS_CLIENT_SECRET``, as ``diarkit capture`` reads them.
        client_secret_file: a file whose first line is the secret (the panel shows and
            saves only its path).
        conversations: conversation ids to capture.
        follow_queues: queue ids whose new conversations are followed.
        simulator_options: keyword arguments for ``Simulator`` (``seed``, ``conversations``,
            ``speed``, ...).
        capture_options: extra keyword arguments for ``diarkit.capture.Capture``.
        refresh_s: seconds between panel refreshes.
        timeline_every_s: seconds between timeline redraws (reads the written segments).
    """

    def __init__(
        self,
        out: str | Path = "capture-data",
        *,
        simulator: bool | Any = True,
        environment: str = "",
        client_id: str = "",
        client_secret: str = "",
        client_secret_file: str | Path = "",
        conversations: Iterable[str] = (),
        follow_queues: Iterable[str] = (),
        simulator_options: dict[str, Any] | None = None,
        capture_options: dict[str, Any] | None = None,
        refresh_s: float = 0.5,
        timeline_every_s: float = 2.0,
    ) -> None:
        self.simulator_options = dict(simulator_options or {})
        self.capture_options = dict(capture_options or {})
        self.refresh_s = refresh_s
        self.timeline_every_s = timeline_every_s
        self.capture: Any = None
        given = simulator if not isinstance(simulator, bool) else None
        self.simulator: Any = given
        self._owns_simulator = given is None
        self.error: BaseException | None = None
        self._refresher: threading.Thread | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._timeline_conversation: str | None = None
        self._last_timeline = 0.0
        self._secret: Any = None
        if client_secret:
            from diarkit.capture import Secret

            self._secret = Secret(client_secret)

        style = {"description_width": "140px"}
        layout = w.Layout(width="520px")
        mode = MODES[0] if simulator is not False else MODES[1]
        self.mode = w.ToggleButtons(options=MODES, value=mode, description="Connect to",
                                    style=style)
        self.environment = w.Text(value=environment, description="Environment / region",
                                  placeholder="mypurecloud.de or eu-central-1", style=style,
                                  layout=layout)
        self.client_id = w.Text(value=client_id or os.environ.get(ENV_CLIENT_ID, ""),
                                description="OAuth client id", style=style, layout=layout)
        self.client_secret_file = w.Text(
            value=str(client_secret_file), description="Client secret file",
            placeholder=f"path (else ${ENV_CLIENT_SECRET}); the secret itself is never "
            "typed here", style=style, layout=layout)
        self.secret_source = w.HTML()
        self.conversations = w.Textarea(value="\n".join(conversations),
                                        description="Conversation ids",
                                        placeholder="one per line (or leave empty and follow "
                                        "queues)", style=style, layout=layout)
        self.follow_queues = w.Text(value=", ".join(follow_queues), description="Follow queues",
                                    placeholder="queue ids, comma separated; simulator: all",
                                    style=style, layout=layout)
        self.out = w.Text(value=str(out), description="Dataset directory", style=style,
                          layout=layout)
        self.start_button = w.Button(description="Start", button_style="success", icon="play",
                                     tooltip="Start capturing in the background")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop",
                                    disabled=True, tooltip="Stop and flush everything to Parquet")
        self.status = w.HTML()
        self.counters = w.HTML()
        self.timeline = w.Image(format="png", layout=w.Layout(width="100%", max_width="980px"))
        self.timeline_note = w.HTML("<i>The timeline of the most recent conversation appears "
                                    "here once segments are written.</i>")
        self._cloud_box = w.VBox([self.environment, self.client_id, self.client_secret_file,
                                  self.secret_source])
        self.panel = w.VBox(
            [
                w.HTML("<h3 style='margin:4px 0'>diarkit live capture</h3>"),
                self.mode,
                self._cloud_box,
                self.conversations,
                self.follow_queues,
                self.out,
                w.HBox([self.start_button, self.stop_button]),
                self.status,
                self.counters,
                self.timeline_note,
                self.timeline,
            ]
        )
        self.mode.observe(self._mode_changed, names="value")
        self.client_secret_file.observe(lambda _c: self._show_secret_source(), names="value")
        self._show_secret_source()
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop(wait=False))
        self._mode_changed()
        self._show_status("idle")
        self._show_counters(None)

    # ----------------------------------------------------------------- display

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.panel)  # type: ignore[no-untyped-call]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.panel._repr_mimebundle_(**kwargs)

    # ----------------------------------------------------------------- public API

    @property
    def dataset(self) -> Path | None:
        """The dataset directory being written (None before Start)."""
        return None if self.capture is None else Path(self.capture.dataset)

    @property
    def state(self) -> str:
        """The status shown in the panel (``idle``, ``connecting``, ``live``, ... ``error``)."""
        return self._state

    def segments(self, **kwargs: Any) -> pd.DataFrame:
        """The segments captured so far (``diarkit.io.load_segments`` on the dataset)."""
        if self.dataset is None:
            raise RuntimeError("nothing captured yet: press Start (or call .start()) first")
        from diarkit.io.load import load_segments

        return load_segments(self.dataset, **kwargs)

    def summary(self) -> CaptureSummary:
        """Final or current status, counters and gaps (renders as an HTML table)."""
        snap = self.capture.stats() if self.capture is not None else None
        counters = {k: int(getattr(snap, a)) for k, a in COUNTERS.items()} if snap else {}
        gaps = pd.DataFrame()
        if self.dataset is not None and (self.dataset / "gaps").exists():
            try:
                from diarkit.io.load import load_gaps

                gaps = load_gaps(self.dataset)
            except Exception:  # the summary is display only; a missing reader shows no gaps
                gaps = pd.DataFrame()
        return CaptureSummary(self._state, self._message, counters, self.dataset, gaps)

    def start(self) -> None:
        """Start a capture from the panel's settings (background threads; returns at once)."""
        with self._lock:
            if self.capture is not None and self._state not in ("stopped", "error"):
                return
            self.error = None
            self.capture = None
            self.start_button.disabled = True
            self.stop_button.disabled = False
        try:
            self.capture = self._build_capture()
            self.capture.start()
        except Exception as exc:
            self._fail(exc)
            return
        self._halt.clear()
        self._refresher = threading.Thread(target=self._refresh_loop, name="diarkit-widget",
                                           daemon=True)
        self._refresher.start()

    def stop(self, wait: bool = True, timeout: float = 60.0) -> None:
        """Stop the capture: flush to Parquet, show the final counters and timeline.

        Args:
            wait: block until the flush is done (the Stop button does not block the kernel).
            timeout: seconds to wait for the capture threads.
        """
        if self.capture is None:
            return
        self.stop_button.disabled = True
        self._show_status("stopping")
        thread = threading.Thread(target=self._stop, args=(timeout,), daemon=True)
        thread.start()
        if wait:
            thread.join(timeout + 5)

    def close(self) -> None:
        """Stop the capture and the local simulator, if any."""
        self.stop(wait=True)
        if self.simulator is not None and self._owns_simulator:
            self.simulator.stop()
            self.simulator = None

    # ----------------------------------------------------------------- internals

    def _secret_origin(self) -> str:
        """Where the secret will come from, in words (never the secret itself)."""
        if self._secret is not None:
            return "given in code (kept in Python only, never saved in the notebook)"
        if self.client_secret_file.value.strip():
            return f"file {self.client_secret_file.value.strip()}"
        if os.environ.get(ENV_CLIENT_SECRET):
            return f"environment variable {ENV_CLIENT_SECRET}"
        return f"missing: set {ENV_CLIENT_SECRET} or give a secret file"

    def _show_secret_source(self) -> None:
        self.secret_source.value = (
            "<span style='font-size:12px;color:#555'>Client secret: "
            f"{html.escape(self._secret_origin())}</span>")

    def _resolve_secret(self) -> Any:
        """The secret (a ``Secret``) from code, the secret file or the environment."""
        from diarkit.capture import Secret, read_secret_file

        if self._secret is not None:
            return self._secret
        path = self.client_secret_file.value.strip()
        if path:
            return read_secret_file(Path(path).expanduser())
        value = os.environ.get(ENV_CLIENT_SECRET, "")
        return Secret(value) if value else None

    def _mode_changed(self, _change: Any = None) -> None:
        cloud = self.mode.value == MODES[1]
        self._cloud_box.layout.display = None if cloud else "none"

    def _build_capture(self) -> Any:
        from diarkit.capture import Capture

        convs = _split_ids(self.conversations.value)
        queues = _split_ids(self.follow_queues.value)
        opts: dict[str, Any] = {"roll_seconds": 1.0, **self.capture_options}
        if self.mode.value == MODES[0]:
            if self.simulator is None:
                self._show_status("starting simulator")
                from diarkit.sim import Simulator

                self.simulator = Simulator(**{"autostart": False, **self.simulator_options})
                self.simulator.start()
            sim = self.simulator
            if not convs and not queues:
                queues = list(sim.queue_ids)
            return Capture(
                self.out.value, login_base=sim.login_base, api_base=sim.api_base,
                client_id=sim.client_id, client_secret=sim.client_secret,
                conversations=convs, follow_queues=queues, **opts,
            )
        return Capture(
            self.out.value, environment=self.environment.value.strip() or None,
            client_id=self.client_id.value.strip(), client_secret=self._resolve_secret(),
            conversations=convs, follow_queues=queues, **opts,
        )

    def _refresh_loop(self) -> None:
        cap = self.capture
        calls_started = self.mode.value != MODES[0]
        while not self._halt.wait(self.refresh_s):
            try:
                snap = cap.stats()
                if not calls_started and snap.status == "live":
                    # simulator mode: its calls begin once the capture is subscribed
                    calls_started = True
                    start_calls = getattr(self.simulator, "start_conversations", None)
                    if start_calls is not None:
                        start_calls()
                self._show_status(snap.status, snap.message)
                self._show_counters(snap)
                if time.monotonic() - self._last_timeline >= self.timeline_every_s:
                    self._draw_timeline()
                if snap.status == "error":
                    self._finish()
                    return
            except Exception as exc:  # never a silent dead panel
                self._fail(exc)
                return

    def _stop(self, timeout: float) -> None:
        try:
            self._halt.set()
            if self._refresher is not None:
                self._refresher.join(timeout)
            snap = self.capture.stop(timeout=timeout)
            self._show_counters(snap)
            self._draw_timeline(final=True)
            if snap.status == "error":
                self._show_status("error", snap.message)
            else:
                self._show_status("stopped", f"{snap.rows:,} frames in Parquet at "
                                  f"{self.capture.dataset}")
        except Exception as exc:
            self._fail(exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        self.start_button.disabled = False
        self.stop_button.disabled = True

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self._show_status("error", f"{type(exc).__name__}: {exc}")
        self._finish()

    def _show_status(self, status: str, message: str = "") -> None:
        self._state = status
        self._message = message
        colour = STATUS_COLOURS.get(status, "#7F7F7F")
        msg = f" <span style='color:#444'>{html.escape(message)}</span>" if message else ""
        self.status.value = (
            f"<div class='diarkit-status' data-status='{html.escape(status)}'>Status: "
            f"<span style='background:{colour};color:white;padding:2px 8px;border-radius:4px'>"
            f"{html.escape(status)}</span>{msg}</div>"
        )

    def _show_counters(self, snap: Any) -> None:
        cells = "".join(
            f"<div style='display:inline-block;min-width:110px;margin:2px 10px 2px 0'>"
            f"<div class='diarkit-counter' data-name='{html.escape(attr)}' "
            f"style='font-size:20px;font-weight:600;color:#0072B2'>"
            f"{(getattr(snap, attr) if snap is not None else 0):,}</div>"
            f"<div style='font-size:11px;color:#666'>{html.escape(label)}</div></div>"
            for label, attr in COUNTERS.items()
        )
        self.counters.value = f"<div>{cells}</div>"

    def _draw_timeline(self, final: bool = False) -> None:
        self._last_timeline = time.monotonic()
        if self.dataset is None or not (self.dataset / "segments").exists():
            return
        try:
            # which conversation spoke last: only recent rows are read (pushed-down filter)
            since = pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=RECENT_S)
            recent = self.segments(start=since)
            if recent.empty and (self._timeline_conversation is None or final):
                recent = self.segments()
            if recent.empty:
                return  # nothing new since the last drawing
            latest = str(recent.sort_values("received_at")["conversation_id"].iloc[-1])
            one = self.segments(conversations=[latest])
        except Exception as exc:  # a part being written is skipped; show why on the last try
            if final:
                self.timeline_note.value = f"<i>timeline unavailable: {html.escape(str(exc))}</i>"
            return
        from diarkit.analysis import finalize

        one = finalize(one, keep_partial=True).segments
        self._timeline_conversation = latest
        self.timeline.value = render_timeline_png(one, latest)
        self.timeline_note.value = (
            f"<span class='diarkit-timeline-note'>Most recent conversation "
            f"<code>{html.escape(str(latest))}</code>: {len(one):,} utterances"
            f"{' (final)' if final else ' (live)'}</span>"
        )


def render_timeline_png(segments: pd.DataFrame, conversation_id: str, dpi: int = 80) -> bytes:
    """Render ``diarkit.plot.plot_timeline`` of one conversation to PNG bytes (thread-safe)."""
    from matplotlib.figure import Figure

    from diarkit.plot import plot_timeline

    fig = Figure(figsize=(11, 2.8), layout="constrained")
    ax = fig.add_subplot()
    plot_timeline(segments, conversation_id, ax=ax)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()
