"""The ledger and fault log containers, and simulator edge cases."""

from __future__ import annotations

import threading

import pytest

from diarkit.sim import Ledger, LedgerEntry, Simulator


def _entry(i: int) -> LedgerEntry:
    return LedgerEntry("ch", "t", str(i), float(i), f"text-{i}")


def test_ledger_is_thread_safe_and_ordered() -> None:
    ledger = Ledger()

    def fill(base: int) -> None:
        for i in range(2000):
            ledger.append(_entry(base + i))

    threads = [threading.Thread(target=fill, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ledger) == ledger.total == 8000
    for k in range(4):  # each thread's entries keep their order
        mine = [int(e.correlation_id) for e in ledger if int(e.correlation_id) // 10_000 == k]
        assert mine == sorted(mine) and len(mine) == 2000


def test_ledger_maxlen_keeps_the_newest_and_counts_all() -> None:
    ledger = Ledger(maxlen=3)
    ledger.extend([_entry(i) for i in range(5)])
    ledger.append(_entry(5))
    assert ledger.texts() == ["text-3", "text-4", "text-5"]
    assert ledger.total == 6 and len(ledger) == 3 and ledger[0].text == "text-3"
    ledger.clear()
    assert len(ledger) == 0


def test_no_conversations_is_done_at_once_and_calls_need_a_running_sim() -> None:
    sim = Simulator(seed=1, conversations=0, autostart=False)
    with pytest.raises(RuntimeError, match="not running"):
        sim.start_conversations()
    with sim:
        assert not sim.wait_for_conversations_done(0.05)
        sim.start_conversations()
        assert sim.wait_for_conversations_done(5)
        assert sim.frames == [] and sim.conversation_ids == []
    with pytest.raises(KeyError):
        sim.post_call_transcript("nope")


def test_speed_scales_the_call_clock() -> None:
    import time

    from .conftest import FAST

    with Simulator(seed=2, conversations=2, autostart=False, **{**FAST, "speed": 100.0}) as sim:
        t0 = time.monotonic()
        sim.start_conversations()
        assert sim.wait_for_conversations_done(30)
        elapsed = time.monotonic() - t0
        last_s = sim.frames[-1].at_ms / 1000
    assert last_s > 20  # calls of 20-40 s of call time ...
    assert last_s / 100 <= elapsed < last_s / 100 + 2.0  # ... played 100x faster
    with pytest.raises(RuntimeError, match="runs once"):
        sim.start()


def test_autostart_after_start_delay() -> None:
    import time

    from .conftest import FAST

    t0 = time.monotonic()
    with Simulator(seed=2, conversations=1, start_delay_s=0.3, **FAST) as sim:
        assert sim.frames == []
        assert sim.wait_for_conversations_done(30)
        assert time.monotonic() - t0 >= 0.3
        assert sim.finished_conversations == set(sim.conversation_ids)
