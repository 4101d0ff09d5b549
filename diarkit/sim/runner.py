"""``diarkit simulate``: run the simulator in the foreground, or write the data sample."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence

from .analytics import PERMISSIONS as ANALYTICS_PERMISSIONS
from .analytics import AnalyticsSim
from .faults import parse_fault_spec
from .sample import write_sample
from .server import DEFAULT_PERMISSIONS
from .simulator import Simulator


def run_simulate(
    *,
    seed: int = 7,
    conversations: int = 12,
    queues: int = 2,
    agents: int = 6,
    speed: float = 20.0,
    heartbeat_s: float = 30.0,
    call_duration_s: tuple[float, float] = (120.0, 480.0),
    stagger_s: float = 5.0,
    port: int = 0,
    duration_s: float | None = None,
    faults: Sequence[str] = (),
    chaos_every_s: float | None = None,
    write_sample_dir: str | None = None,
    start_now: bool = False,
    grouping: str = "grouped",
    transcript_delay_s: float = 0.0,
    echo: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Serve a simulated Genesys Cloud org until Ctrl-C or ``duration_s``; return exit code.

    Prints the base URLs, the demo credentials, the ids to subscribe to and a
    ready-to-paste ``diarkit capture`` command, then a summary (frames sent, faults
    injected). The calls start when a client has subscribed a channel and connected its
    socket (so a capture started later still sees every call from its beginning), or at
    once with ``start_now``. ``grouping`` is how transcripts are batched into frames
    (``diarkit.sim.calls.GROUPINGS``). The analytics endpoints are served too
    (``diarkit.sim.analytics.AnalyticsSim``: post-call transcripts ready
    ``transcript_delay_s`` wall seconds after a call ends, analytics details query and
    jobs, STA metrics, users, queues, wrap-up codes), and the demo client holds their
    permissions, so ``diarkit backfill``/``reconcile``/``names`` work against it. With
    ``write_sample_dir`` it writes the
    deterministic data sample there instead and returns.

    Raises:
        ValueError: a malformed ``KIND[:N]@SECONDS`` fault spec.
    """
    if write_sample_dir is not None:
        paths = write_sample(write_sample_dir, seed=seed)
        for what, path in paths.items():
            echo(f"{what}: {path}")
        return 0
    plan = [parse_fault_spec(spec) for spec in faults]
    analytics = AnalyticsSim(ready_delay_s=transcript_delay_s)
    sim = Simulator(
        seed=seed, conversations=conversations, queues=queues, agents=agents, speed=speed,
        heartbeat_s=heartbeat_s, call_duration_s=call_duration_s, stagger_s=stagger_s,
        port=port, fault_plan=plan, chaos_every_s=chaos_every_s, ledger_maxlen=100_000,
        autostart=start_now, grouping=grouping,
        permissions=DEFAULT_PERMISSIONS | ANALYTICS_PERMISSIONS, routes=[analytics.install],
    )
    with sim:
        echo(f"login base:    {sim.login_base}")
        echo(f"api base:      {sim.api_base}")
        echo(f"client id:     {sim.client_id}")
        echo(f"client secret: {sim.client_secret}")
        echo(f"queues:        {' '.join(sim.queue_ids)}")
        echo(f"users:         {' '.join(sim.user_ids)}")
        echo(f"conversations: {' '.join(sim.conversation_ids)}")
        echo("analytics:     post-call transcripts, details query/jobs, STA metrics, "
             "users, queues, wrap-up codes")
        for f in plan:
            echo(f"fault planned: {f.kind} x{f.count} at {f.at_s:g} s")
        echo("capture it with (in another terminal):")
        echo("  " + capture_command(sim, heartbeat_s))
        if start_now:
            echo("running; calls start now (Ctrl-C stops)")
        else:
            echo(f"waiting for a subscriber before starting {len(sim.conversation_ids)} "
                 "call(s) (Ctrl-C stops)")
        started = time.monotonic()
        calls_started = start_now
        try:
            while duration_s is None or time.monotonic() - started < duration_s:
                if not calls_started and sim.has_subscriber():
                    echo("subscriber connected: starting the calls")
                    sim.start_conversations()
                    calls_started = True
                sleep(0.2)
        except KeyboardInterrupt:
            echo("stopping")
        echo(f"frames sent: {sim.ledger.total}; conversations finished: "
             f"{len(sim.finished_conversations)}/{len(sim.conversation_ids)}; "
             f"faults: {len(sim.fault_log)}")
    return 0


def capture_command(sim: Simulator, heartbeat_s: float, out: str = "sim-capture") -> str:
    """A ``diarkit capture`` command line that follows every queue of ``sim``."""
    parts = ["GENESYS_CLIENT_ID=" + shlex.quote(sim.client_id),
             "GENESYS_CLIENT_SECRET=" + shlex.quote(sim.client_secret),
             "diarkit", "capture", "--login-base", sim.login_base, "--api-base", sim.api_base,
             "--heartbeat", f"{heartbeat_s:g}"]
    for queue in sim.queue_ids:
        parts += ["--follow-queue", queue]
    parts += ["--out", out]
    return " ".join(parts)
