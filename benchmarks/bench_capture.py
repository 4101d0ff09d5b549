"""Benchmark: frames/s from a loopback WebSocket through ``Capture`` into durable Parquet.

Compares, in the same run and over the same frames:

- **bare**: a bare websocket-client receive loop (``recv_data``, ``skip_utf8_validation``);
- **capture**: ``diarkit.capture.Capture`` — spool every frame, count, roll into raw and
  segments Parquet parts through ``diarkit.io`` — timed from the first frame until
  ``stop()`` returned with every frame durable in Parquet.

The frames are the simulator's (its call generator, as ``Simulator.firehose`` sends them),
served by a replay server in a separate process that speaks just enough of the Genesys
API (token, channels, subscriptions) and streams them as pre-encoded WebSocket frames
with ``sendall``, so the source costs next to nothing and never hides the client
(DESIGN.md section 5); a last run uses the live simulator's firehose as the source.
The sustained figure is a long capture (10x the frames, default 1,000,000) timed the
same way, with RSS at its start and end (memory must stay flat); the burst figures
include starting the roller processes and draining the spool backlog at ``stop()``.

    .venv/bin/python benchmarks/bench_capture.py            # full run (~1 min)
    .venv/bin/python benchmarks/bench_capture.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing as mp
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

HEARTBEAT = b'{"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}}'
CONVERSATION = "7c1e3f2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def make_frames(n: int) -> list[bytes]:
    """``n`` frames of the simulator's call generator, one heartbeat per 1,000.

    Every call's frames are aimed at ``CONVERSATION`` (new communication ids), which is
    what ``Simulator.firehose`` sends; conversation-event frames are left out, as there.
    """
    from diarkit.sim.frames import iter_scheduled

    calls = (
        f
        for f in iter_scheduled(conversations=None, seed=5, conversation_id=CONVERSATION)
        if f.kind != "conversation"
    )
    return [HEARTBEAT if i % 1000 == 999 else next(calls).text.encode() for i in range(n)]


def utterances_of(frames: list[bytes]) -> tuple[int, int]:
    """(rows a capture stores, utterance versions in them): heartbeats are not stored."""
    rows = [orjson.loads(f) for f in frames if f != HEARTBEAT]
    return len(rows), sum(len(r["eventBody"].get("transcripts") or ()) for r in rows)


def ws_encode(payload: bytes) -> bytes:
    """One unmasked server-to-client text frame."""
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 65536:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


def serve(n: int, ports: mp.Queue, repeat: mp.Value) -> None:  # type: ignore[type-arg]
    """Replay server process: REST on one port, WebSocket firehose on another."""
    frames = make_frames(n)
    mean = sum(map(len, frames)) / n
    expected = utterances_of(frames)
    blob = b"".join(ws_encode(f) for f in frames)
    del frames
    ws_sock = socket.socket()
    ws_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ws_sock.bind(("127.0.0.1", 0))
    ws_sock.listen(16)
    ws_port = ws_sock.getsockname()[1]
    counter = [0]

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def reply(self, body: object, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path == "/oauth/token":
                self.reply({"access_token": "bench", "expires_in": 86400})
            elif self.path == "/api/v2/notifications/channels":
                counter[0] += 1
                cid = f"ch-{counter[0]}"
                self.reply({"id": cid, "connectUri": f"ws://127.0.0.1:{ws_port}/channels/{cid}"})
            else:
                topics = json.loads(body or b"[]")
                self.reply({"entities": [{"id": t["id"], "state": "Permitted"} for t in topics]})

        do_PUT = do_POST

        def do_DELETE(self) -> None:  # subscriptions removed when a channel is given up
            self.send_response(204)
            self.end_headers()

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.end_headers()

    http = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=http.serve_forever, daemon=True).start()

    def stream(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        key = ""
        for line in data.decode("latin-1").split("\r\n"):
            if line.lower().startswith("sec-websocket-key:"):
                key = line.split(":", 1)[1].strip()
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        try:
            for _ in range(repeat.value):
                conn.sendall(blob)
            conn.recv(1)  # hold the socket open until the client closes it
        except OSError:
            pass
        finally:
            conn.close()

    ports.put((http.server_address[1], ws_port, mean, expected))
    while True:
        conn, _ = ws_sock.accept()
        threading.Thread(target=stream, args=(conn,), daemon=True).start()


def bare_loop(ws_port: int, n: int) -> float:
    """Frames/s of a bare websocket-client receive loop over ``n`` frames."""
    import websocket

    ws = websocket.WebSocket(skip_utf8_validation=True)
    ws.connect(f"ws://127.0.0.1:{ws_port}/channels/bare")
    ws.recv_data()
    t0 = time.perf_counter()
    for _ in range(n - 1):
        ws.recv_data()
    elapsed = time.perf_counter() - t0
    ws.close()
    return (n - 1) / elapsed


def capture_run(
    api_port: int,
    n: int,
    out: Path,
    expected: tuple[int, int],
    *,
    rss: list[float] | None = None,
) -> tuple[float, float]:
    """Frames/s of ``Capture``: (all spooled and counted, all durable in Parquet after stop).

    Both are timed from the first frame; RSS samples (MiB) are appended to ``rss``.
    ``expected`` is (rows, utterance versions) the stored parts must hold.
    """
    import psutil

    from diarkit.capture import Capture

    base = f"http://127.0.0.1:{api_port}"
    cap = Capture(
        out,
        login_base=base,
        api_base=base,
        client_id="bench",
        client_secret="bench",
        conversations=[CONVERSATION],
        recover=False,
    )
    proc = psutil.Process()
    cap.start()
    while cap.stats().frames == 0:
        time.sleep(0.0005)
    t0 = time.perf_counter()
    next_sample = 0
    while (s := cap.stats()).frames < n:
        if s.status == "error":
            raise SystemExit(f"capture failed: {s.message}")
        if rss is not None and s.frames >= next_sample:
            rss.append(proc.memory_info().rss / 2**20)
            next_sample += n // 10
        time.sleep(0.02)
    spooled = time.perf_counter() - t0
    stats = cap.stop()
    durable = time.perf_counter() - t0
    if rss is not None:
        rss.append(proc.memory_info().rss / 2**20)
    if (stats.rows, stats.utterances) != expected:
        raise SystemExit(
            f"capture stored {stats.rows} rows / {stats.utterances} utterances, "
            f"expected {expected[0]} / {expected[1]}"
        )
    return n / spooled, n / durable


def convert_only(n: int, out: Path) -> float:
    """Frames/s of the spool -> raw + segments Parquet step alone (diarkit.io writer)."""
    from diarkit.capture.recorder import spool_to_part
    from diarkit.capture.spool import SpoolWriter, spool_name

    frames = make_frames(n)
    (out / "_spool").mkdir(parents=True)
    best = 0.0
    for r in range(2):
        path = out / "_spool" / spool_name(f"conv{r}", 0)
        w = SpoolWriter(path, f"conv{r}", 0)
        for i in range(0, n, 100):  # batches, as the capture's receive loop spools them
            w.append_batch(i, 1_795_513_500_000_000 + i, "ch", frames[i : i + 100])
        index = w.seal()
        w.close()
        t0 = time.perf_counter()
        spool_to_part(out, path, index=index)  # the recorder's own path
        best = max(best, n / (time.perf_counter() - t0))
    return best


SIM_SCRIPT = """
import sys
from diarkit.sim import Simulator
with Simulator(seed=5, conversations=1, heartbeat_s=30.0, autostart=False,
               rate_limit=None) as sim:
    print(sim.login_base, sim.client_id, sim.client_secret, sim.conversation_ids[0],
          flush=True)
    for line in sys.stdin:
        r = sim.firehose(int(line), conversation_id=sim.conversation_ids[0])
        print(r.frames, r.seconds, flush=True)
"""


def simulator_runs(n: int, out: Path) -> None:
    """The same comparison with the simulator's firehose (its own process) as the source."""
    import subprocess

    import websocket

    from diarkit.capture import Capture, NotificationsClient, TokenSource
    from diarkit.genesys import transcription_topic

    proc = subprocess.Popen(
        [sys.executable, "-c", SIM_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    base, client_id, secret, conv = proc.stdout.readline().split()

    def fire() -> float:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{n}\n")
        proc.stdin.flush()
        sent, seconds = proc.stdout.readline().split()
        return int(sent) / float(seconds)

    tokens = TokenSource(base, client_id, secret)
    nc = NotificationsClient(base, tokens)
    channel = nc.create_channel()
    ws = websocket.WebSocket(skip_utf8_validation=True)
    ws.connect(channel.connect_uri)
    nc.replace_subscriptions(channel.id, [transcription_topic(conv)])
    result: list[float] = []
    reader_done = threading.Event()

    def read() -> None:
        ws.recv_data()
        t0 = time.perf_counter()
        for _ in range(n - 1):
            ws.recv_data()
        result.append((n - 1) / (time.perf_counter() - t0))
        reader_done.set()

    threading.Thread(target=read, daemon=True).start()
    sim_rate = fire()
    reader_done.wait(600)
    ws.close()
    bare = result[0]
    cap = Capture(
        out,
        login_base=base,
        api_base=base,
        client_id=client_id,
        client_secret=secret,
        conversations=[conv],
        recover=False,
    )
    cap.start()
    while cap.status != "live":
        time.sleep(0.01)
    t0 = time.perf_counter()
    fire()
    while cap.stats().transcription_events < n:
        time.sleep(0.02)
    spooled = n / (time.perf_counter() - t0)
    stats = cap.stop()
    durable = n / (time.perf_counter() - t0)
    proc.stdin.close()
    proc.wait(30)
    if stats.rows != n:
        raise SystemExit(f"capture stored {stats.rows} rows, expected {n}")
    print(f"simulator firehose ({n:,} frames): the simulator sent {sim_rate:,.0f} frames/s;")
    print(
        f"  bare receive loop {bare:,.0f}, capture spooled {spooled:,.0f} "
        f"({spooled / bare:.2f}), durable in Parquet {durable:,.0f} ({durable / bare:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--long", type=int, default=10, help="x frames for the RSS run")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sim", type=int, default=50_000, help="frames of the sim run (0: skip)")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.rounds, args.long = 20_000, 1, 2
    ctx = mp.get_context("fork")
    ports: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    repeat = ctx.Value("i", 1)
    server = ctx.Process(target=serve, args=(args.frames, ports, repeat), daemon=True)
    server.start()
    api_port, ws_port, size, expected = ports.get(timeout=60)
    print(f"{args.frames:,} frames of {size:.0f} B mean, best of {args.rounds} round(s), loopback")
    results: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        results.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            note("bare", bare_loop(ws_port, args.frames))
            spooled, durable = capture_run(api_port, args.frames, Path(tmp) / f"r{r}", expected)
            note("spooled", spooled)
            note("durable", durable)
        best = {k: max(v) for k, v in results.items()}
        b = best["bare"]
        print(f"bare websocket-client receive loop:           {b:>9,.0f} frames/s  (1.00)")
        for stage, label in (
            ("spooled", "received, spooled and counted"),
            ("durable", "durable in Parquet (until stop)"),
        ):
            v = best[stage]
            print(f"capture, {label:36} {v:>9,.0f} frames/s  ({v / b:.2f})")
        conv = convert_only(min(args.frames, 10_000), Path(tmp) / "convert")
        print(f"spool -> raw + segments Parquet alone (one process, 10k): {conv:,.0f} frames/s")
        repeat.value = args.long
        rss: list[float] = []
        total = args.frames * args.long
        long_expected = (expected[0] * args.long, expected[1] * args.long)
        _, rate = capture_run(api_port, total, Path(tmp) / "long", long_expected, rss=rss)
        print(
            f"sustained: capture of {total:,} frames durable in Parquet at {rate:,.0f} "
            f"frames/s ({rate / b:.2f} of the bare loop; target 0.50)"
        )
        print(
            f"  RSS {rss[0]:.0f} MiB at the first frame -> {rss[-1]:.0f} MiB at the end "
            "(every 10%: " + ", ".join(f"{x:.0f}" for x in rss) + ")"
        )
        if args.sim:
            simulator_runs(args.sim, Path(tmp) / "sim")
    server.terminate()
    sys.exit(0)


if __name__ == "__main__":
    main()
