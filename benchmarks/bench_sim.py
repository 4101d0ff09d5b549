"""Benchmark the simulator: offline generator frames/s and server->client socket frames/s.

Run by hand (not a timed test)::

    .venv/bin/python benchmarks/bench_sim.py              # 200k generated, 100k streamed
    .venv/bin/python benchmarks/bench_sim.py --generate 1000000 --stream 300000

Each rate is printed next to a baseline measured in the same run on the same frames:
the generator against ``orjson.loads`` of its output (parsing is the cheapest thing a
consumer does with a frame), the simulator's firehose against a bare aiohttp server that
only calls ``send_str`` in a loop (no dispatch, no ledger). The receiver is the same bare
websocket-client loop (``skip_utf8_validation=True``, ``recv_data``) in both cases.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

import httpx
import orjson
import websocket
from aiohttp import web

from diarkit.genesys import transcription_topic
from diarkit.sim import Simulator, iter_frames, iter_scheduled


def bench_generator(n: int) -> None:
    t = time.perf_counter()
    frames = list(iter_frames(n_frames=n, seed=1))
    gen_s = time.perf_counter() - t
    size = sum(map(len, frames)) / len(frames)
    t = time.perf_counter()
    for f in frames:
        orjson.loads(f)
    parse_s = time.perf_counter() - t
    print(f"generator: {n:,} frames (mean {size:,.0f} B) in {gen_s:.2f} s = "
          f"{n / gen_s:,.0f} frames/s")
    print(f"  baseline orjson.loads of the same frames: {n / parse_s:,.0f} frames/s; "
          f"generator/parse = {parse_s / gen_s:.2f}x")


def _receive(url: str, n: int, out: dict[str, float]) -> threading.Thread:
    ws = websocket.create_connection(url, skip_utf8_validation=True, timeout=30)

    def loop() -> None:
        got = 0
        t = 0.0
        while got < n:
            opcode, _ = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_TEXT:
                if got == 0:
                    t = time.perf_counter()
                got += 1
        out["seconds"] = time.perf_counter() - t
        out["frames"] = got
        ws.close()

    thread = threading.Thread(target=loop)
    thread.start()
    return thread


def bench_bare_server(frames: list[str]) -> float:
    """Frames/s from a bare aiohttp send_str loop to the bare client loop."""
    ready = threading.Event()
    box: dict[str, object] = {}

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        for text in frames:
            await ws.send_str(text)
        await ws.receive()  # until the client closes
        return ws

    def serve() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/ws", handler)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        box["loop"] = loop
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    ready.wait(10)
    out: dict[str, float] = {}
    _receive(f"ws://127.0.0.1:{box['port']}/ws", len(frames), out).join()
    loop = box["loop"]
    loop.call_soon_threadsafe(loop.stop)  # type: ignore[attr-defined]
    server.join(10)
    return out["frames"] / out["seconds"]


def bench_simulator(frames: list[str], cid: str) -> float:
    """Frames/s from ``Simulator.start_replay`` (dispatch + ledger) to the bare client loop."""
    with Simulator(seed=1, conversations=1, autostart=False, rate_limit=None) as sim:
        token = httpx.post(f"{sim.login_base}/oauth/token",
                           auth=(sim.client_id, sim.client_secret),
                           data={"grant_type": "client_credentials"}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        ch = httpx.post(f"{sim.api_base}/api/v2/notifications/channels", headers=auth).json()
        httpx.put(f"{sim.api_base}/api/v2/notifications/channels/{ch['id']}/subscriptions",
                  headers=auth, json=[{"id": transcription_topic(cid)}])
        sim.faults.stop_heartbeats()
        out: dict[str, float] = {}
        thread = _receive(ch["connectUri"], len(frames), out)
        sim.wait_connected(ch["id"])
        result = sim.start_replay(frames).result(600)
        thread.join()
        assert result.frames == len(frames) == len(sim.ledger)
    return out["frames"] / out["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", type=int, default=200_000, help="frames to generate")
    parser.add_argument("--stream", type=int, default=100_000, help="frames to stream")
    args = parser.parse_args()
    bench_generator(args.generate)
    cid = "bench-conversation"
    frames: list[str] = []
    for f in iter_scheduled(seed=3, conversation_id=cid):
        if f.kind != "conversation":
            frames.append(f.text)
            if len(frames) >= args.stream:
                break
    bare = bench_bare_server(frames)
    sim = bench_simulator(frames, cid)
    print(f"server -> websocket-client loop, {len(frames):,} frames:")
    print(f"  bare aiohttp send_str loop (baseline): {bare:,.0f} frames/s")
    print(f"  Simulator.start_replay (dispatch + ledger): {sim:,.0f} frames/s; "
          f"simulator/bare = {sim / bare:.2f}x")


if __name__ == "__main__":
    main()
