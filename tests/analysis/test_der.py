"""diarization_error: hand-built cases, the collar convention, agreement with pyannote."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate
from scipy.optimize import linear_sum_assignment

from diarkit.analysis import diarization_error, parse_rttm, to_rttm
from diarkit.analysis.der import assignment
from diarkit.schema import SchemaError

from ._frames import intervals


def test_perfect_and_relabelled_hypotheses_have_zero_error():
    ref = intervals({"agent": [(0, 4), (8, 10)], "customer": [(4, 8)]})
    hyp = intervals({"spk_1": [(0, 4), (8, 10)], "spk_0": [(4, 8)]})
    out = diarization_error(hyp, ref)
    assert out.der == 0.0 and out.reference_s == 10.0 and out.correct_s == 10.0
    assert out.mapping == {"c1": {"agent": "spk_1", "customer": "spk_0"}}


def test_components_on_a_hand_built_case():
    ref = intervals({"A": [(0, 10)], "B": [(10, 20)]})
    # x covers A fully, then 2 s of B; y covers 5 s of B; 3 s of B are missed;
    # z talks 2 s where nobody does (false alarm)
    hyp = intervals({"x": [(0, 12)], "y": [(12, 17)], "z": [(20, 22)]})
    out = diarization_error(hyp, ref)
    assert out.reference_s == 20.0
    assert out.missed_s == pytest.approx(3.0)
    assert out.false_alarm_s == pytest.approx(2.0)
    assert out.confusion_s == pytest.approx(2.0)  # x on B's 10-12 (y is mapped to B)
    assert out.der == pytest.approx(7 / 20)
    assert out.mapping["c1"] == {"A": "x", "B": "y"}


def test_collar_is_plus_minus_seconds_around_reference_boundaries():
    ref = intervals({"A": [(0, 10)]})
    hyp = intervals({"x": [(0.2, 10.2)]})
    uem = pd.DataFrame({"conversation_id": ["c1"], "start_s": [0.0], "end_s": [10.2]})
    assert diarization_error(hyp, ref, uem=uem).der == pytest.approx(0.4 / 10)
    # +-0.25 s hides the 0.2 s misses at both ends: 9.5 s scored, no error
    out = diarization_error(hyp, ref, collar=0.25, uem=uem)
    assert out.der == 0.0 and out.reference_s == pytest.approx(9.5)
    # +-0.1 s: 0.1 s missed at the start, 0.1 s false alarm at the end
    out = diarization_error(hyp, ref, collar=0.1, uem=uem)
    assert out.missed_s == pytest.approx(0.1) and out.false_alarm_s == pytest.approx(0.1)


def test_empty_hypothesis_misses_everything_and_unknown_conversation_is_false_alarm():
    ref = intervals({"A": [(0, 5)]})
    hyp = intervals({"x": [(0, 2)]}, conversation="other")
    out = diarization_error(hyp, ref)
    by = out.by_conversation.set_index(out.by_conversation.conversation_id.astype(str))
    assert by.loc["c1", "der"] == 1.0 and by.loc["c1", "missed_s"] == 5.0
    assert np.isnan(by.loc["other", "der"]) and by.loc["other", "false_alarm_s"] == 2.0
    assert out.der == pytest.approx(7 / 5)


def test_rttm_round_trip_scores_zero():
    ref = intervals({"A": [(0.5, 4.25)], "B": [(4.0, 9.125)]})
    assert diarization_error(parse_rttm(to_rttm(ref)), ref).der == pytest.approx(0.0, abs=1e-9)


def test_bad_input_is_named():
    with pytest.raises(SchemaError, match="lacks column"):
        diarization_error(pd.DataFrame({"speaker": ["a"]}), intervals({"A": [(0, 1)]}))
    with pytest.raises(ValueError, match="collar"):
        diarization_error(intervals({"A": [(0, 1)]}), intervals({"A": [(0, 1)]}), collar=-1)


def test_hungarian_matches_scipy():
    rng = np.random.default_rng(1)
    for _ in range(200):
        score = rng.random((int(rng.integers(1, 7)), int(rng.integers(1, 7))))
        r, c = linear_sum_assignment(score, maximize=True)
        pairs = assignment(score)
        assert len(pairs) == min(score.shape)
        assert sum(score[i, j] for i, j in pairs) == pytest.approx(score[r, c].sum())


def _spec(rng, prefix):
    spec = {}
    for k in range(int(rng.integers(1, 4))):
        points = np.unique(np.round(rng.random(2 * int(rng.integers(1, 5))) * 20, 2))
        points = points[: len(points) // 2 * 2].reshape(-1, 2)
        spec[f"{prefix}{k}"] = [(float(a), float(b)) for a, b in points] or [(1.0, 2.0)]
    return spec


def _annotation(spec):
    ann = Annotation()
    for spk, spans in spec.items():
        for i, (s, e) in enumerate(spans):
            ann[Segment(s, e), f"{spk}{i}"] = spk
    return ann


@pytest.mark.parametrize("collar", [0.0, 0.25, 0.5])
@pytest.mark.parametrize("skip_overlap", [False, True])
def test_agrees_with_pyannote_metrics(collar, skip_overlap):
    rng = np.random.default_rng(int(collar * 100) + skip_overlap)
    for _ in range(25):
        ref_spec, hyp_spec = _spec(rng, "r"), _spec(rng, "h")
        everything = [x for spec in (ref_spec, hyp_spec) for v in spec.values() for x in v]
        uem = Timeline([Segment(min(s for s, _ in everything), max(e for _, e in everything))])
        metric = DiarizationErrorRate(collar=2 * collar, skip_overlap=skip_overlap)
        want = metric(_annotation(ref_spec), _annotation(hyp_spec), uem=uem, detailed=True)
        got = diarization_error(
            intervals(hyp_spec), intervals(ref_spec), collar=collar, skip_overlap=skip_overlap
        )
        assert got.reference_s == pytest.approx(want["total"], abs=1e-9)
        assert got.missed_s == pytest.approx(want["missed detection"], abs=1e-9)
        assert got.false_alarm_s == pytest.approx(want["false alarm"], abs=1e-9)
        assert got.confusion_s == pytest.approx(want["confusion"], abs=1e-9)
        if want["total"] > 0:
            assert got.der == pytest.approx(want["diarization error rate"], abs=1e-9)


@pytest.mark.parametrize("collar", [0.0, 0.25])
def test_zero_length_reference_rows_are_scored_as_pyannote_metrics_does(collar):
    # a zero-length reference row is no speech for pyannote (an empty Segment adds nothing
    # to an Annotation) -- but with a collar its boundary still gets a no-score zone there
    ref_spec = {"A": [(0.0, 4.0), (6.0, 6.0)], "B": [(4.0, 8.0), (9.0, 9.0)]}
    hyp_spec = {"x": [(0.0, 4.5)], "y": [(4.5, 9.5)]}
    uem = Timeline([Segment(0.0, 9.5)])
    ann = _annotation(ref_spec)
    assert ann.get_timeline().duration() == pytest.approx(8.0)  # the empty rows are gone
    metric = DiarizationErrorRate(collar=2 * collar)
    want = metric(ann, _annotation(hyp_spec), uem=uem, detailed=True)
    got = diarization_error(
        intervals(hyp_spec),
        intervals(ref_spec),
        collar=collar,
        uem=pd.DataFrame({"conversation_id": ["c1"], "start_s": [0.0], "end_s": [9.5]}),
    )
    # without the zero-length rows pyannote sees the same reference
    clean = {k: [(s, e) for s, e in v if e > s] for k, v in ref_spec.items()}
    same = diarization_error(
        intervals(hyp_spec),
        intervals(clean),
        collar=collar,
        uem=pd.DataFrame({"conversation_id": ["c1"], "start_s": [0.0], "end_s": [9.5]}),
    )
    assert got.reference_s == pytest.approx(want["total"], abs=1e-9)
    assert got.missed_s == pytest.approx(want["missed detection"], abs=1e-9)
    assert got.false_alarm_s == pytest.approx(want["false alarm"], abs=1e-9)
    assert got.confusion_s == pytest.approx(want["confusion"], abs=1e-9)
    assert (got.missed_s, got.false_alarm_s, got.confusion_s) == pytest.approx(
        (same.missed_s, same.false_alarm_s, same.confusion_s), abs=1e-9
    )
