"""Turn-based metrics against a plain-Python oracle that walks the segments one by one.

Thresholds are compared on integer milliseconds, as ``talk_stats`` does. The oracle keeps
the plain rules (every turn of another speaker ends a turn and is a response): the
profile below turns the backchannel rules off; ``test_stats`` covers them by hand.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diarkit.analysis import talk_stats, turns
from diarkit.analysis.profiles import get_profile

from ._frames import intervals

GAP, BACKCHANNEL, GRACE = 1.0, 1.0, 2.0

segment = st.tuples(
    st.sampled_from(["agent", "customer", "both"]),
    st.integers(0, 600),  # start, 0.1 s steps
    st.integers(0, 80),  # duration, 0.1 s steps
)


def _ms(seconds):
    return round(seconds * 1000)


def oracle_turns(rows):
    """Turns by walking segments sorted by (start, end, speaker).

    Zero-length segments are skipped: they are not speech, so they neither open, extend
    nor end a turn (the definition chosen on issue #12, docs/metrics.md; the oracle used
    to keep them as zero-length turns).
    """
    out = []
    for spk, s, e in sorted(rows, key=lambda r: (r[1], r[2], r[0])):
        if _ms(e - s) <= 0:
            continue
        if out and out[-1][0] == spk and _ms(s - out[-1][2]) <= _ms(GAP):
            out[-1][2] = max(out[-1][2], e)
        else:
            out.append([spk, s, e])
    return sorted(out, key=lambda t: (t[1], t[2], t[0]))


def oracle(rows):
    t = oracle_turns(rows)
    speakers = sorted({r[0] for r in rows})
    res = {
        k: {"durations": [], "latency": [], "interruptions": 0, "interrupted": 0} for k in speakers
    }
    for i, (spk, s, e) in enumerate(t):
        res[spk]["durations"].append(e - s)
        if i and t[i - 1][0] != spk:
            res[spk]["latency"].append(s - t[i - 1][2])
        if _ms(e - s) < _ms(BACKCHANNEL):
            continue
        hit = False
        for other in speakers:
            if other == spk:
                continue
            # the other speaker's turn, among those ordered before this one, that ends last
            before = [(j, x) for j, x in enumerate(t[:i]) if x[0] == other]
            if not before:
                continue
            best = max(before, key=lambda jx: (jx[1][2], jx[0]))[1]
            if best[1] < s < best[2] and _ms(best[2] - s) <= _ms(GRACE) and e > best[2]:
                res[other]["interrupted"] += 1
                hit = True
        res[spk]["interruptions"] += hit
    return res


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(segment, min_size=1, max_size=25))
def test_turn_metrics_match_the_oracle(raw):
    rows = [(spk, s / 10, (s + n) / 10) for spk, s, n in raw]
    spec: dict[str, list[tuple[float, float]]] = {}
    for spk, s, e in rows:
        spec.setdefault(spk, []).append((s, e))
    df = intervals(spec)
    plain = get_profile("default").replace(backchannel_ends_turn=True, backchannel_is_response=True)
    stats = talk_stats(
        df, plain, max_gap=GAP, backchannel_max_s=BACKCHANNEL, interruption_grace_s=GRACE
    )
    want = oracle(rows)
    assert len(turns(df, max_gap=GAP, profile=plain)) == len(oracle_turns(rows))
    for _, r in stats.iterrows():  # a handful of result rows, not input rows
        w = want[str(r.speaker)]
        assert r.turn_count == len(w["durations"])
        if not w["durations"]:  # only zero-length segments: a row without turns
            assert np.isnan(r.turn_max_s) and r.response_count == 0
            assert r.interruptions == 0 and r.interrupted == 0
            continue
        assert r.turn_max_s == pytest.approx(max(w["durations"]), abs=1e-9)
        assert r.turn_median_s == pytest.approx(statistics.median(w["durations"]), abs=1e-9)
        assert r.response_count == len(w["latency"])
        if w["latency"]:
            assert r.response_latency_mean_s == pytest.approx(np.mean(w["latency"]), abs=1e-9)
            clipped = np.mean(np.clip(w["latency"], 0, None))
            assert r.patience_s == pytest.approx(clipped, abs=1e-9)
        assert r.interruptions == w["interruptions"], (str(r.speaker), rows)
        assert r.interrupted == w["interrupted"], (str(r.speaker), rows)
