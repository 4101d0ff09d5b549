"""The conversation model against the simulator's ground truth (transfers, holds, IVR...).

The simulator's frames are written to a real Parquet dataset with their send times as
receive times (what a capture on the simulator's clock records), then analysed exactly
as ``diarkit stats`` does. Ground truth: ``diarkit.sim.ground_truth``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from diarkit.analysis import fleet_stats, talk_stats
from diarkit.analysis.conversation import attribute, by_party, one_timeline
from diarkit.analysis.profiles import get_profile
from diarkit.io.dataset import write_raw_part
from diarkit.io.load import conversation_stats, load_conversation_model, load_segments
from diarkit.io.raw import build_raw_table
from diarkit.sim import ground_truth as gt
from diarkit.sim.calls import DEFAULT_EPOCH_MS, build_scenario
from diarkit.sim.frames import schedule

CALLS = 40


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    scenario = build_scenario(seed=3, conversations=CALLS, call_duration_s=(60.0, 180.0))
    frames = schedule(scenario)
    # frame.at_ms counts from the scenario start, DEFAULT_EPOCH_MS (build_scenario's default)
    base = DEFAULT_EPOCH_MS
    received = [datetime.fromtimestamp((base + f.at_ms) / 1000, UTC) for f in frames]
    root = tmp_path_factory.mktemp("truth") / "ds"
    raw = build_raw_table(
        [f.text for f in frames],
        session_id="sim",
        start_seq=0,
        received_at=received,
        source="sim",
    )
    write_raw_part(root, raw, session_id="sim", seq=0)
    model = load_conversation_model(root)
    segments = one_timeline(load_segments(root, source=True), get_profile())
    spoken = attribute(segments, model.phases)
    return scenario, root, model, spoken


def _key(df: pd.DataFrame) -> pd.Series:
    return (
        df["conversation_id"].astype(str)
        + "|"
        + (df["start_s"] * 1000).round().astype(int).astype(str)
        + "|"
        + (df["end_s"] * 1000).round().astype(int).astype(str)
    )


def test_every_call_kind_is_there(sim):
    scenario, *_ = sim
    kinds = {p.kind.split("+")[0] for p in scenario.plans}
    assert {"basic", "blind_transfer", "consult_transfer", "conference", "callback"} <= kinds


#: Channels that name a side of the call. ``BOTH``/``UNKNOWN`` (sent now and then by the
#: real service) name none, so no party can be found for such speech from the data: it
#: is ``attribution = "none"``, party ``unknown`` (docs/conversation-model.md).
SIDES = ("INTERNAL", "EXTERNAL")


def _joined(scenario, spoken) -> pd.DataFrame:
    truth = gt.speech_by_participant(scenario.plans)
    truth = truth.assign(k=_key(truth))[["k", "party", "user_id"]]
    j = spoken.assign(k=_key(spoken)).merge(
        truth, on="k", how="left", suffixes=("", "_true"), validate="many_to_one"
    )
    assert j["party_true"].notna().all()  # every spoken segment is ground-truth speech
    return j


def test_attribution_is_right_for_99_9_percent_of_attributable_speech(sim):
    """What is measured, in speech seconds (segment durations):

    - *party* right (customer, ivr, acd, agent) for >= 99.9 % of the speech on the
      INTERNAL/EXTERNAL channels (all speech a party can be found for);
    - *participant* right (the very agent, by user id) for >= 99.9 % of that speech
      except conference speech: while two agents are connected together their voices
      share the INTERNAL channel of the customer's communication (Genesys' transcript
      names that internal speaker "conference"), so it is ``ambiguous`` by rule;
    - what is not attributed to one participant says why (``ambiguous``: conference
      calls only; ``none``: BOTH/UNKNOWN channels only).
    """
    scenario, _, _, spoken = sim
    j = _joined(scenario, spoken)
    dur = (j["end_s"] - j["start_s"]).to_numpy()
    side = j["channel"].astype(str).isin(SIDES).to_numpy()
    how = j["attribution"].astype(str).to_numpy()
    party_right = (j["party"].astype(str) == j["party_true"].astype(str)).to_numpy()
    user_right = (
        j["user_id"].astype("string").fillna("").to_numpy()
        == j["user_id_true"].astype("string").fillna("").to_numpy()
    )
    party_share = dur[side & party_right].sum() / dur[side].sum()
    assert party_share >= 0.999, party_share
    single = side & (how != "ambiguous")
    participant_share = dur[single & party_right & user_right].sum() / dur[single].sum()
    assert participant_share >= 0.999, participant_share
    assert (how[single] == "participant").all()
    # every segment attributed to one participant is right
    one = how == "participant"
    assert (party_right & user_right)[one].all()
    # the rest says why
    kinds = {p.conversation_id: p.kind.split("+")[0] for p in scenario.plans}
    ambiguous = j[how == "ambiguous"]
    assert {kinds[c] for c in ambiguous["conversation_id"].astype(str)} <= {"conference"}
    assert (ambiguous["party"].astype(str) == "agent").all()
    assert (ambiguous["party_true"].astype(str) == "agent").all()
    none = j[how == "none"]
    assert set(none["channel"].astype(str)) <= {"BOTH", "UNKNOWN"}
    assert (none["party"].astype(str) == "unknown").all()
    # seed 3, 40 calls: 3066.6 s of speech; 50.4 s on BOTH/UNKNOWN (none), 64.8 s of
    # conference speech (ambiguous): the shares stay small
    assert dur[~side].sum() / dur.sum() < 0.03
    assert dur[how == "ambiguous"].sum() / dur.sum() < 0.04


def _union_s(frame: pd.DataFrame) -> float:
    iv = sorted(zip((frame["start_s"] * 1000).round().astype(int),
                    (frame["end_s"] * 1000).round().astype(int), strict=True))
    total, cur_s, cur_e = 0, None, None
    for s0, e0 in iv:
        if cur_e is None or s0 > cur_e:
            total += 0 if cur_e is None else cur_e - cur_s
            cur_s, cur_e = s0, e0
        else:
            cur_e = max(cur_e, e0)
    total += 0 if cur_e is None else cur_e - cur_s
    return total / 1000


def test_talk_time_per_participant_matches_the_truth_within_50_ms(sim):
    """Per call, per participant (party + user id), on the INTERNAL/EXTERNAL speech.

    Every participant of every call is within 50 ms of the truth, except the agents of
    a conference while both are connected: there the agents' *total* (their own rows
    plus the ``ambiguous`` agent row) is within 50 ms of the truth's union of all agent
    speech, and each agent's own row never exceeds that agent's truth.
    """
    scenario, root, _, spoken = sim
    stats = conversation_stats(root)
    truth = gt.talk_time_by_participant(scenario.plans, channels=SIDES)
    truth = (
        truth.assign(
            conversation_id=truth["conversation_id"].astype(str),
            user_id=truth["user_id"].astype("string").fillna(""),
        )
        .groupby(["conversation_id", "party", "user_id"])["talk_s"]
        .sum()
    )
    got = stats.assign(
        conversation_id=stats["conversation_id"].astype(str),
        party=stats["speaker"].astype(str),
        user_id=stats["user_id"].astype("string").fillna(""),
    ).set_index(["conversation_id", "party", "user_id"])["talk_time_s"]
    got = got[got.index.get_level_values(1) != "unknown"]  # BOTH/UNKNOWN speech: no party
    both = pd.concat([got.rename("got"), truth.rename("truth")], axis=1).fillna(0.0)
    conference = set(spoken[spoken["attribution"] == "ambiguous"]["conversation_id"].astype(str))
    calls = both.index.get_level_values(0)
    agent = both.index.get_level_values(1) == "agent"
    exact = both[~(calls.isin(conference) & agent)]
    assert exact.index.get_level_values(0).nunique() == CALLS
    worst = (exact["got"] - exact["truth"]).abs().groupby(level=0).max()
    assert worst.max() <= 0.05, worst.sort_values().tail()
    speech = gt.speech_by_participant(scenario.plans)
    speech = speech[speech["channel"].isin(SIDES) & (speech["party"] == "agent")]
    for cid in conference:
        mine = both.loc[cid]
        mine = mine[mine.index.get_level_values(0) == "agent"]
        named = mine[mine.index.get_level_values(1) != ""]
        assert (named["got"] <= named["truth"] + 0.05).all(), (cid, mine)
        want = _union_s(speech[speech["conversation_id"].astype(str) == cid])
        assert mine["got"].sum() == pytest.approx(want, abs=0.05), (cid, mine)
    # per-agent fleet statistics group by the real user id (calls without conference
    # speech, where every agent second is that agent's)
    clean = both[~calls.isin(conference)]
    fleet = fleet_stats(stats[~stats["conversation_id"].astype(str).isin(conference)],
                        by=["user_id"])
    talk = fleet[(fleet.metric == "talk_time_s") & (fleet.speaker == "agent")]
    per_user = clean.reset_index()
    per_user = per_user[per_user["party"] == "agent"].groupby("user_id")
    for row in talk.itertuples():
        want = per_user.get_group(row.user_id)["truth"]
        assert row.conversations == len(want)
        assert row.mean == pytest.approx(want.mean(), abs=0.05)


def test_hold_queue_and_ivr_are_phases_never_silence(sim):
    scenario, _, model, spoken = sim
    truth = gt.phases(scenario.plans)
    kinds = {p.conversation_id: p.kind.split("+")[0] for p in scenario.plans}
    calls = list(kinds)
    mine = model.phases.groupby(["conversation_id", "phase"])["duration_s"].sum()
    want = (
        truth.assign(d=truth["end_s"] - truth["start_s"])
        .groupby(["conversation_id", "phase"])["d"]
        .sum()
    )
    for phase in ("ivr", "queue", "dialing", "hold", "talk"):
        for cid in calls:
            a = mine.get((cid, phase), 0.0)
            if phase == "talk":  # the truth marks a secure pause on top of talk
                a += mine.get((cid, "secure_pause"), 0.0)
            b = want.get((cid, phase), 0.0)
            assert a == pytest.approx(b, abs=0.05), (cid, kinds[cid], phase)
    stats = talk_stats(by_party(spoken), phases=model.phases).drop_duplicates("conversation_id")
    # silence can only lie inside talk phases
    talk_time = (
        model.phases[model.phases["phase"] == "talk"].groupby("conversation_id")["duration_s"].sum()
    )
    silence = stats.set_index(stats["conversation_id"].astype(str))["call_silence_s"]
    assert (silence <= talk_time.reindex(silence.index).fillna(0.0) + 1e-9).all()
    # and without phases the same calls would have counted waits and holds as silence
    plain = talk_stats(by_party(spoken)).drop_duplicates("conversation_id")
    assert plain["call_silence_s"].sum() > stats["call_silence_s"].sum()
    assert np.isfinite(stats["call_duration_s"]).all()
