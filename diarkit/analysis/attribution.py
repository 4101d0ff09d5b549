"""Attribution: each segment's party and the participant holding the line (vectorised).

``docs/conversation-model.md`` ("Attribution", "Conferences") states the rules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diarkit.analysis._core import codes_of, float_array, to_ms
from diarkit.schema import SEGMENTS, validate

#: ``attribution`` values of :func:`attribute`.
ATTRIBUTIONS = ("participant", "conference", "ambiguous", "none", "channel")
#: ``participant_id`` and ``by_party`` speaker label of conference speech: the internal
#: speaker a Genesys voice transcript calls "conference" (docs/conversation-model.md).
CONFERENCE = "conference"


def attribute(segments: pd.DataFrame, phases: pd.DataFrame | None) -> pd.DataFrame:
    """Add each segment's party and the participant holding the line (vectorised).

    Columns added: ``party`` (``customer`` for EXTERNAL speech; for INTERNAL speech the
    purpose of the participant holding the line: ``agent``, ``ivr``, ``acd``), then
    ``participant_id``, ``user_id`` and ``attribution``:

    - ``participant``: exactly one internal participant held the line at the segment's
      midpoint (EXTERNAL speech: the conversation has phases);
    - ``conference``: two or more agents held the line at once (a conference, or a
      consult both agents are in). A Genesys voice transcript has one internal speaker,
      labelled "conference" then, and nothing on the wire says which agent spoke, so the
      speech belongs to the *conference participant*: ``party`` ``agent``,
      ``participant_id`` ``"conference"`` (a label, not a Genesys id), ``user_id`` null,
      and ``conference_user_ids`` the connected agents' user ids (sorted, joined by
      ``,``). It is never guessed to one agent (docs/conversation-model.md);
    - ``ambiguous``: two or more internal participants of another purpose held it at
      once: ``party`` is their common purpose (else the channel's), ids are null;
    - ``none``: the conversation has phases but the segment has no party: speech on the
      ``BOTH``/``UNKNOWN`` channel (``party`` ``unknown``: the channel names no side), or
      INTERNAL speech that no phase covers (before the first or after the last call
      event; ``party`` falls back to the channel's);
    - ``channel``: no participant data for the conversation: ``party`` is the channel's
      default speaker (``agent``/``customer``), ids null.

    ``speaker`` is not changed: renaming speakers never changes these columns.

    Args:
        segments: a ``SEGMENTS`` table (seconds on the session clock).
        phases: a ``PHASES`` table with ``holder_purpose``/``holder_count`` and
            ``holder_user_ids`` (from :func:`diarkit.analysis.model.build_model`), or
            None.

    Returns:
        A copy of ``segments`` with the four columns (categorical) and
        ``conference_user_ids`` (string; null outside conference speech).
    """
    validate(segments, SEGMENTS, where="attribute()")
    n = len(segments)
    conv, conv_labels = codes_of(segments["conversation_id"])
    chan, chan_labels = codes_of(segments["channel"])
    chan_names = np.append(np.asarray(chan_labels.astype(str), dtype=object), "")
    internal = (chan_names == "INTERNAL")[chan]
    external = (chan_names == "EXTERNAL")[chan]
    # party codes: 0 customer, 1 agent, 2 unknown, then holder purposes
    parties = ["customer", "agent", "unknown"]
    party = np.where(internal, 1, np.where(external, 0, 2)).astype(np.int64)
    how = np.full(n, ATTRIBUTIONS.index("channel"), dtype=np.int8)
    pid_code = np.full(n, -1, dtype=np.int64)
    uid_code = np.full(n, -1, dtype=np.int64)
    pid_labels: list[str] = []
    uid_labels: list[str] = []
    conf_users = pd.Series(pd.NA, index=segments.index, dtype="string")
    if phases is not None and len(phases) and n:
        ph = phases[
            ~phases["phase"].astype("string").isin(["acw", "unknown"]).to_numpy(dtype=bool)
            & phases["start_s"].notna().to_numpy()
        ]
        p_conv = pd.Index(conv_labels.astype(str)).get_indexer(
            ph["conversation_id"].astype(str)
        )
        ph = ph[p_conv >= 0]
        p_conv = p_conv[p_conv >= 0].astype(np.int64)
    if phases is not None and len(phases) and n and len(ph):
        has_model = np.zeros(len(conv_labels) + 1, dtype=bool)
        has_model[p_conv] = True
        modelled = has_model[conv]  # code -1 (missing id) hits the spare last slot
        start_ms = to_ms(float_array(segments["start_s"]))
        mid_ms = (start_ms + to_ms(float_array(segments["end_s"]))) // 2
        p_start = to_ms(ph["start_s"].to_numpy(np.float64))
        p_end = to_ms(ph["end_s"].to_numpy(np.float64))
        lo = int(min(p_start.min(initial=0), mid_ms.min(initial=0), 0))
        width = int(max(p_end.max(initial=0), mid_ms.max(initial=0), 0)) - lo + 2
        key_p = p_conv * width + (p_start - lo)
        order = np.argsort(key_p, kind="stable")
        key_p, end_p = key_p[order], (p_conv * width + (p_end - lo))[order]
        key_s = conv * width + (mid_ms - lo)
        j = np.searchsorted(key_p, key_s, side="right") - 1
        jj = np.where(j >= 0, j, 0)
        inside = modelled & (j >= 0) & (key_s < end_p[jj]) & (key_s >= key_p[jj])
        holder_labels = ph["holder_purpose"].astype("string").fillna("").to_numpy(dtype=object)
        h_codes, h_uniques = pd.factorize(holder_labels[order])
        h_party = np.array(
            [parties.index(h) if h in parties else -1 for h in h_uniques], dtype=np.int64
        )
        for k, h in enumerate(h_uniques):
            if h_party[k] < 0 and h:
                parties.append(str(h))
                h_party[k] = len(parties) - 1
        row_party = np.where(h_codes >= 0, h_party[np.maximum(h_codes, 0)], -1)
        row_party = np.where(holder_labels[order] == "", -1, row_party)
        count = ph["holder_count"].to_numpy(np.int64)[order]
        pc_codes, pc_uniques = pd.factorize(ph["participant_id"].astype(object).to_numpy()[order])
        uc_codes, uc_uniques = pd.factorize(ph["user_id"].astype(object).to_numpy()[order])
        pid_labels = [str(x) for x in pc_uniques]
        uid_labels = [str(x) for x in uc_uniques]
        how = np.where(modelled, ATTRIBUTIONS.index("none"), how).astype(np.int8)
        how[modelled & external] = ATTRIBUTIONS.index("participant")
        single = inside & internal & (count[jj] == 1) & (row_party[jj] >= 0)
        multi = inside & internal & (count[jj] > 1)
        party = np.where(single, row_party[jj], party)
        pid_code = np.where(single, pc_codes[jj], pid_code)
        uid_code = np.where(single, uc_codes[jj], uid_code)
        how[single] = ATTRIBUTIONS.index("participant")
        common = multi & (row_party[jj] >= 0)
        party = np.where(common, row_party[jj], party)
        how[multi] = ATTRIBUTIONS.index("ambiguous")
        conference = common & (row_party[jj] == parties.index("agent"))
        if conference.any():
            how[conference] = ATTRIBUTIONS.index("conference")
            if CONFERENCE not in pid_labels:
                pid_labels.append(CONFERENCE)
            pid_code = np.where(conference, pid_labels.index(CONFERENCE), pid_code)
            if "holder_user_ids" in ph.columns:
                ids = ph["holder_user_ids"].astype("string").to_numpy(dtype=object)[order]
                conf_users[conference] = ids[jj[conference]]
    out = segments.copy()
    out["party"] = pd.Categorical.from_codes(party, categories=parties)
    out["participant_id"] = pd.Categorical.from_codes(pid_code, categories=pid_labels)
    out["user_id"] = pd.Categorical.from_codes(uid_code, categories=uid_labels)
    out["attribution"] = pd.Categorical.from_codes(how, categories=list(ATTRIBUTIONS))
    out["conference_user_ids"] = conf_users.replace("", pd.NA)
    return out


def by_party(attributed: pd.DataFrame) -> pd.DataFrame:
    """Attributed segments with ``speaker`` set to ``party`` (IVR and queue speak apart).

    Conference speech (``attribution == "conference"``) gets the speaker ``conference``:
    a participant of its own, so ``talk_stats`` gives it one row per call (``user_id``
    null) and no single agent's row holds it.
    """
    speaker = attributed["party"]
    if "attribution" in attributed.columns:
        conf = (attributed["attribution"].astype("string") == "conference").to_numpy(
            dtype=bool, na_value=False
        )
        if conf.any():
            if isinstance(speaker.dtype, pd.CategoricalDtype):
                if CONFERENCE not in speaker.cat.categories:
                    speaker = speaker.cat.add_categories([CONFERENCE])
            else:
                speaker = speaker.astype("string")
            speaker = speaker.where(~conf, CONFERENCE)
    return attributed.assign(speaker=speaker)
