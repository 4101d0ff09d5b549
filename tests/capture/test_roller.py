"""The roller process and the read-ahead socket: real child processes, real loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from diarkit.capture import RawRecorder
from diarkit.capture.readahead import ReadAheadWebSocket

from .test_recorder import MALFORMED, frames, read_raw


def _wait(cond, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_killed_roller_falls_back_and_keeps_every_frame_once(tmp_path):
    sent = [*frames(10), MALFORMED]
    rec = RawRecorder(
        tmp_path, "rk", roll_frames=5, roll_seconds=60, roller_min_frames=1, rollers=1
    )
    rec.open()
    for f in sent[:5]:
        rec.append(f, "ch")
    _wait(lambda: rec.parts == 1)
    roller = rec._rollers[0]
    assert roller is not None and roller.alive
    os.kill(roller._proc.pid, signal.SIGKILL)
    _wait(lambda: not roller.alive)
    for f in sent[5:]:
        rec.append(f, "ch")
    rec.close()
    assert [r["frame"].encode() for r in read_raw(tmp_path)] == sent
    assert rec.parts == 3 and rec.rows == 11 and rec.invalid == 1
    assert rec._roller_failures == 1  # the dead child was noticed and replaced
    assert list((tmp_path / "_spool").iterdir()) == []


def test_thread_roller_gives_the_same_parts(tmp_path):
    sent = frames(7)
    out = {}
    for mode in ("thread", "process"):
        rec = RawRecorder(tmp_path / mode, "same", roll_frames=3, roller=mode, roller_min_frames=1)
        rec.open()
        for f in sent:
            rec.append(f, "ch", received_us=1_795_513_500_000_000)
        rec.close()
        rows = read_raw(tmp_path / mode)
        assert len(rec._rollers) == (2 if mode == "process" else 1)
        out[mode] = [(r["seq"], r["frame"], r["kind"], r["conversation_id"]) for r in rows]
        assert rec.parts == 3 and rec.utterances == 14
    assert out["thread"] == out["process"] and len(out["thread"]) == 7
    with pytest.raises(ValueError, match="roller"):
        RawRecorder(tmp_path, "bad", roller="fork")


def test_read_ahead_socket_returns_each_frame_split_or_batched():
    # 300 messages (some fragmented, after a ping) in odd-sized chunks: each comes back
    # whole and in order, through recv_data and through the fast path alike.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    payloads = [b"x" * (i * 37 % 70_000) + b"%d" % i for i in range(300)]

    done = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"
            )

            def frame(first: int, p: bytes) -> bytes:
                n = len(p)
                if n < 126:
                    return bytes([first, n]) + p
                if n < 65536:
                    return bytes([first, 126]) + n.to_bytes(2, "big") + p
                return bytes([first, 127]) + n.to_bytes(8, "big") + p

            blob = b""
            for i, p in enumerate(payloads):
                if i % 50 == 7:  # a ping, then the message in two fragments
                    blob += frame(0x89, b"hb") + frame(0x01, p[:5]) + frame(0x80, p[5:])
                else:
                    blob += frame(0x81, p)
            for i in range(0, len(blob), 9_973):
                conn.sendall(blob[i : i + 9_973])
            done.wait(60)  # the client's pongs may arrive: close only after the reads

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ws = ReadAheadWebSocket(skip_utf8_validation=True)
    ws.handshake = lambda *a, **k: None  # the test server speaks no real handshake
    sock = socket.create_connection(srv.getsockname(), timeout=10)
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(1)
    ws.sock = sock
    ws.connected = True
    got = [ws.recv_data()[1] for _ in payloads[:150]]
    batches = 0
    while len(got) < len(payloads):  # bounded: each batch holds at least one frame
        batch = ws.recv_batch()
        batches += 1
        assert all(op in (0x1, 0x2) for op, _ in batch)
        got += [p for _, p in batch]
    done.set()
    assert got == payloads
    assert batches < len(payloads) - 150  # whole frames came out several at a time
    sock.close()
    srv.close()
    t.join(5)


def test_roller_never_reruns_an_unguarded_script(tmp_path):
    # A user script without ``if __name__ == "__main__"``: the roller must not import it.
    script = tmp_path / "capture_script.py"
    script.write_text(
        "from diarkit.capture import RawRecorder\n"
        f"rec = RawRecorder({str(tmp_path / 'ds')!r}, 's', roll_frames=2, roller_min_frames=1)\n"
        "rec.open()\n"
        "for i in range(5):\n"
        '    rec.append(b\'{"topicName": "channel.metadata", "eventBody": {}}\', \'ch\')\n'
        "rec.close()\n"
        "print('ran', rec.frames, rec._roller_failures)\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["ran 5 0"]
