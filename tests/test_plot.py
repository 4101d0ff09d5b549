"""diarkit.plot on tables built from the schema contracts, drawn on the Agg backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from diarkit import plot
from diarkit.plot import intervals, tables
from diarkit.schema import SEGMENTS, STATS, TURNS, validate

CID = "c0ffee00-1111-2222-3333-444455556666"


@pytest.fixture(autouse=True)
def _close_figures(monkeypatch):
    def no_show(*_a, **_k):
        raise AssertionError("plot functions must never call plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    yield
    plt.close("all")


def make_segments(rows, cid=CID):
    """SEGMENTS table from (speaker, start_s, end_s, confidence) rows, typed by the contract."""
    n = len(rows)
    data = {
        "conversation_id": [cid] * n,
        "communication_id": ["comm-1"] * n,
        "utterance_id": [f"u{i}" for i in range(n)],
        "channel": [{"agent": "INTERNAL", "customer": "EXTERNAL"}.get(r[0], "UNKNOWN")
                    for r in rows],
        "speaker": [r[0] for r in rows],
        "is_final": [True] * n,
        "confidence": [r[3] for r in rows],
        "start_s": [float(r[1]) for r in rows],
        "end_s": [float(r[2]) for r in rows],
        "start_at": [None] * n,
        "text": ["hello there"] * n,
        "word_count": [2] * n,
        "session_id": ["s1"] * n,
        "seq": list(range(n)),
        "received_at": [None] * n,
        "order": list(range(n)),
    }
    table = pa.Table.from_pydict(data, schema=SEGMENTS.arrow_schema(include_optional=False))
    return validate(table.to_pandas(), SEGMENTS)


def long_call(duration_s=1800.0, seed=1):
    """A 30-minute call: IVR greeting, alternating agent/customer, a few long silences."""
    rng = np.random.default_rng(seed)
    rows = [("ivr", 0.0, 12.0, 0.99)]
    t, spk = 14.0, "agent"
    while t < duration_s:
        d = rng.gamma(2.0, 3.0)
        rows.append((spk, t, min(t + d, duration_s), rng.uniform(0.4, 1.0)))
        gap = rng.uniform(15, 25) if rng.random() < 0.03 else rng.normal(0.6, 0.8)
        t += d + gap
        spk = "customer" if spk == "agent" else "agent"
    return make_segments(rows)


SMALL = [
    ("agent", 0.0, 10.0, 0.9),
    ("customer", 8.0, 20.0, 0.5),  # 2 s overtalk
    ("agent", 35.0, 40.0, 0.8),  # 15 s silence before
    ("customer", 40.0, 50.0, 0.7),  # touches: no overtalk
]


def test_interval_helpers_union_overlap_gaps():
    u = intervals._union(np.array([5.0, 0.0, 2.0, 20.0, 7.0]), np.array([6.0, 3.0, 4.0, 21.0, 7.0]))
    assert u.tolist() == [[0.0, 4.0], [5.0, 6.0], [20.0, 21.0]]
    a = np.array([[0.0, 10.0], [35.0, 40.0]])
    b = np.array([[8.0, 20.0], [40.0, 50.0]])
    assert intervals._overlap([a, b]).tolist() == [[8.0, 10.0]]
    gaps = intervals._gaps(intervals._union(*np.concatenate([a, b]).T), 0.0, 50.0, 2.0)
    assert gaps.tolist() == [[20.0, 35.0]]


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (59.6, "1:00"), (754, "12:34"), (3725, "1:02:05"),
                          (-5, "-0:05")]
)
def test_format_mmss(seconds, text):
    assert plot.format_mmss(seconds) == text


def test_timeline_rows_overtalk_silence_and_mmss_axis(tmp_path):
    fig, ax = plt.subplots()
    out = plot.plot_timeline(make_segments(SMALL), ax=ax)
    assert out is ax
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["agent", "customer", "overtalk", "silence"]
    colours = {t.get_text(): t.get_color() for t in ax.get_yticklabels()}
    assert colours["agent"] == plot.SPEAKER_COLOURS["agent"]
    assert colours["customer"] == plot.SPEAKER_COLOURS["customer"]
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "0:10" in ticks and all(":" in t for t in ticks)
    # overtalk row holds exactly the 8-10 s overlap; silence row the 20-35 s gap, labelled
    overtalk_y = labels.index("overtalk")
    bars = [c for c in ax.collections if c.get_paths()]
    rows = {}
    for c in bars:
        ext = c.get_paths()[0].get_extents()
        rows.setdefault(round(ext.y0 + ext.height / 2), []).append(c)
    y_of = {name: len(labels) - 1 - i for i, name in enumerate(labels)}
    ot = rows[y_of["overtalk"]][0].get_paths()
    assert len(ot) == 1 and ot[0].get_extents().x0 == pytest.approx(8.0)
    assert ot[0].get_extents().x1 == pytest.approx(10.0)
    sil = rows[y_of["silence"]][0].get_paths()
    assert [(p.get_extents().x0, p.get_extents().x1) for p in sil] == [(20.0, 35.0)]
    assert any(t.get_text() == "15 s" for t in ax.texts)
    assert overtalk_y == 2
    fig.savefig(tmp_path / "small.png")
    assert (tmp_path / "small.png").stat().st_size > 5000


def test_timeline_thirty_minute_call_with_confidence_renders(tmp_path):
    segs = long_call()
    ax = plot.plot_timeline(segs, confidence=True)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["agent", "customer", "ivr", "overtalk", "silence"]
    ax.figure.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "30:00" in ticks and len(ticks) <= 13  # readable: few round mm:ss ticks
    faces = ax.collections[0].get_facecolors()
    assert len(np.unique(faces[:, 3].round(3))) > 10  # alpha follows confidence
    assert any("shade = confidence" in t.get_text() for t in ax.texts)
    ax.figure.savefig(tmp_path / "long.png", dpi=80)
    assert (tmp_path / "long.png").stat().st_size > 10_000


def test_timeline_accepts_turns_and_picks_conversation():
    turns = pd.DataFrame(
        {
            "conversation_id": ["a", "a", "b"],
            "speaker": ["agent", "customer", "agent"],
            "turn_index": [0, 1, 0],
            "start_s": [0.0, 5.0, 0.0],
            "end_s": [4.0, 9.0, 3.0],
            "duration_s": [4.0, 4.0, 3.0],
            "text": ["x", "y", "z"],
            "segment_count": [1, 1, 1],
            "word_count": [1, 1, 1],
            "confidence": [0.9, 0.9, 0.9],
        }
    )
    validate(turns, TURNS)
    with pytest.raises(ValueError, match="2 conversations"):
        plot.plot_timeline(turns)
    with pytest.raises(ValueError, match="'zzz' is not in the table"):
        plot.plot_timeline(turns, "zzz")
    ax = plot.plot_timeline(turns, "a", title="call a")
    assert ax.get_title(loc="left") == "call a"
    with pytest.raises(ValueError, match="no column 'start_s'"):
        plot.plot_timeline(turns.drop(columns="start_s"))


def _stats():
    rows = [
        ("c1", "agent", 60.0, 200.0),
        ("c1", "customer", 60.0, 200.0),
        ("c2", "agent", 90.0, 100.0),
        ("c2", "customer", 10.0, 100.0),
        ("c2", "ivr", 0.0, 100.0),
    ]
    df = pd.DataFrame(rows, columns=["conversation_id", "speaker", "talk_time_s", "duration_s"])
    return validate(with_contract_columns(df, STATS), STATS)


def with_contract_columns(df, contract):
    """Add the contract's required columns ``df`` lacks, typed by the contract, left null."""
    missing = [c for c in contract.columns if c.required and c.name not in df.columns]
    for col in missing:
        df[col.name] = pd.Series(
            pa.nulls(len(df), col.type).to_pandas(types_mapper=None), index=df.index
        ).astype("float64" if pa.types.is_floating(col.type) else "Int64"
                 if pa.types.is_integer(col.type) else "object")
    return df


def _bar_widths(ax):
    widths = {}
    labels = [t.get_text() for t in ax.get_yticklabels()]
    for container in ax.containers:
        for y, patch in zip(labels, container.patches, strict=True):
            widths.setdefault(y, {})[container.get_label()] = patch.get_width()
    return widths


def test_talk_share_speech_and_call_denominators():
    ax = plot.plot_talk_share(_stats())
    w = _bar_widths(ax)
    assert w["c1"]["agent"] == pytest.approx(0.5) and w["c2"]["agent"] == pytest.approx(0.9)
    assert all(sum(v.values()) == pytest.approx(1.0) for v in w.values())
    assert "total speech" in ax.get_xlabel()
    ax2 = plot.plot_talk_share(_stats(), denominator="call")
    w2 = _bar_widths(ax2)
    assert w2["c1"]["agent"] == pytest.approx(0.3)
    assert w2["c1"]["nobody speaking"] == pytest.approx(0.4)
    assert "call duration" in ax2.get_xlabel()
    with pytest.raises(ValueError, match="call duration column"):
        plot.plot_talk_share(_stats().drop(columns="duration_s"), denominator="call")
    with pytest.raises(ValueError, match="denominator"):
        plot.plot_talk_share(_stats(), denominator="bogus")


def _fleet(n=40):
    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {
            "conversation_id": [f"{i:08x}-aaaa-bbbb-cccc-dddddddddddd" for i in range(n)],
            "agent_talk_ratio": rng.uniform(0.4, 0.6, n),
            "overtalk_s": rng.uniform(2, 6, n),
            "silence_s": rng.uniform(10, 20, n),
            "interruptions": rng.integers(1, 5, n),
        }
    )
    df.loc[7, "overtalk_s"] = 95.0
    df.loc[12, "interruptions"] = 40
    return df


def test_fleet_panels_label_outliers_by_id(tmp_path):
    axes = plot.plot_fleet(_fleet())
    assert len(axes) == 4
    texts = {i: [t.get_text() for t in a.texts] for i, a in enumerate(axes)}
    assert "00000007" in texts[1]  # overtalk outlier, UUID cut to 8 characters
    assert "0000000c" in texts[3]  # interruptions outlier
    assert axes[0].get_title(loc="left").startswith("agent talk ratio")
    axes[0].figure.savefig(tmp_path / "fleet.png", dpi=70)
    assert (tmp_path / "fleet.png").stat().st_size > 10_000


def test_public_names_of_the_plot_package():
    """Every name the single-module ``diarkit.plot`` exported is still importable from it."""
    assert set(plot.__all__) == {
        "DURATION_COLUMNS", "FLEET_METRICS", "LANE_SEP", "Names", "OTHER_COLOUR",
        "OVERTALK_COLOUR", "SILENCE_COLOUR", "SPEAKER_COLOURS", "fleet_metric_columns",
        "format_mmss", "names_of", "plot_compare", "plot_fleet", "plot_talk_share",
        "plot_timeline", "resolve_conversation", "speaker_colour", "timeline_png",
        "tukey_outliers",
    }
    assert all(hasattr(plot, name) for name in plot.__all__)


@pytest.mark.parametrize("module", ["intervals", "tables", "fleet_table"])
def test_table_and_interval_logic_never_imports_matplotlib(module):
    """The pure parts of diarkit.plot (NumPy/pandas only) stay apart from the drawing."""
    import ast
    from pathlib import Path

    source = Path(plot.__file__).with_name(f"{module}.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    assert "matplotlib" not in imported, f"diarkit/plot/{module}.py imports matplotlib"


def test_short_ids_stay_distinct():
    assert tables._short_ids(["conv-000001", "conv-000002"]) == ["conv-000001", "conv-000002"]
    ids = ["abcdefgh-1111-2222-3333-444444444444", "abcdefgh-9999-2222-3333-444444444444"]
    assert tables._short_ids(ids) == ["abcdefgh-111", "abcdefgh-999"]


def test_fleet_single_ax_and_errors():
    _fig, ax = plt.subplots()
    assert plot.plot_fleet(_fleet(), metrics=["overtalk"], ax=ax) is ax
    with pytest.raises(ValueError, match="one Axes given for 4 metrics"):
        plot.plot_fleet(_fleet(), ax=ax)
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        plot.plot_fleet(_fleet(), metrics=["nope"])
    with pytest.raises(ValueError, match="no column for metric 'silence'"):
        plot.plot_fleet(_fleet().drop(columns="silence_s"), metrics=["silence"])


def test_fleet_from_long_stats_derives_talk_ratio():
    axes = plot.plot_fleet(_stats(), metrics=["talk_ratio"])
    assert len(axes) == 1
    xs = np.sort(axes[0].collections[0].get_offsets()[:, 0])
    assert xs.tolist() == pytest.approx([0.5, 0.9])


def test_compare_groups_sorted_by_median_with_counts():
    df = _fleet(12).iloc[:12].copy()  # 12 well-behaved calls (outliers are rows 7 and 12)
    df.loc[7, "overtalk_s"] = 4.0
    df["agent_id"] = ["alice"] * 4 + ["bob"] * 4 + ["carol"] * 4
    df.loc[df.agent_id == "bob", "agent_talk_ratio"] = 0.9
    df.loc[df.agent_id == "carol", "agent_talk_ratio"] = 0.2
    ax = plot.plot_compare(df, by="agent_id", metric="talk_ratio")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["carol (4)", "alice (4)", "bob (4)"]  # bottom to top by median
    assert "agent talk ratio" in ax.get_title(loc="left")
    with pytest.raises(ValueError, match="no column"):
        plot.plot_compare(df, by="queue_id")
    ax2 = plot.plot_compare(df, by="agent_id", metric="overtalk", min_calls=5)
    assert ax2.get_yticklabels() == [] or not [t.get_text() for t in ax2.get_yticklabels()]


def test_talk_share_always_shows_included_calls_and_the_longest():
    """Calls a report flags are drawn whatever ``top`` is, marked; the rest are the longest."""
    rows = []
    for i in range(30):
        cid = f"{i:08x}-aaaa-bbbb-cccc-dddddddddddd"
        rows += [(cid, "agent", 10.0 + i, 100.0 + i), (cid, "customer", 5.0, 100.0 + i)]
    df = pd.DataFrame(rows, columns=["conversation_id", "speaker", "talk_time_s", "duration_s"])
    stats = validate(with_contract_columns(df, STATS), STATS)
    flagged = ["00000000", "00000003-aaaa"]  # the two shortest calls, given by short id
    ax = plot.plot_talk_share(stats, denominator="call", top=5, include=flagged)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 5
    assert "*00000000" in labels and "*00000003" in labels
    assert {"0000001d", "0000001c", "0000001b"} <= set(labels)  # the three longest
    colours = {t.get_text(): t.get_color() for t in ax.get_yticklabels()}
    assert colours["*00000000"] == plot.OVERTALK_COLOUR
    ax2 = plot.plot_talk_share(stats, top=1, include=flagged)  # include beats top
    assert len(ax2.get_yticklabels()) == 2
    with pytest.raises(ValueError, match="'ffff' is not in the table"):
        plot.plot_talk_share(stats, include=["ffff"])


def test_talk_share_remainder_is_nobody_speaking_from_call_speech():
    df = _stats()
    df["call_speech_s"] = [150.0, 150.0, 100.0, 100.0, 100.0]  # c1: 30 s overtalk
    w = _bar_widths(plot.plot_talk_share(df, denominator="call"))
    assert w["c1"]["nobody speaking"] == pytest.approx(0.25)  # 1 - 150/200


def test_timeline_takes_the_short_id_plots_show():
    segs = make_segments(SMALL)
    other = make_segments(SMALL, cid="c0ffee99-0000-0000-0000-000000000000")
    both = pd.concat([segs, other], ignore_index=True)
    ax = plot.plot_timeline(both, "c0ffee00", title="t")
    assert ax.get_title(loc="left") == "t"
    with pytest.raises(ValueError, match="start of 2 conversation ids"):
        plot.plot_timeline(both, "c0ffee")


def test_timeline_silence_is_strictly_longer_than_the_stats_threshold():
    """Same definition as talk_stats: a gap of exactly 3.000 s is not a silence."""
    rows = [("agent", 0.0, 10.0, 0.9), ("customer", 13.0, 20.0, 0.9),  # 3.000 s gap
            ("agent", 23.5, 30.0, 0.9)]                                 # 3.5 s gap
    ax = plot.plot_timeline(make_segments(rows))
    summary = next(t.get_text() for t in ax.texts if "talk share of call" in t.get_text())
    assert "silence 0:04" in summary  # only the 3.5 s gap (rounded to whole seconds)


@pytest.mark.parametrize("fn", [plot.plot_timeline, plot.plot_talk_share, plot.plot_fleet,
                                plot.plot_compare])
def test_plot_functions_given_a_path_say_so(fn, tmp_path):
    with pytest.raises(TypeError, match=r"not a path .*load it first"):
        fn(tmp_path / "dataset")
    with pytest.raises(TypeError, match="not a path"):
        fn(str(tmp_path))


def test_fleet_and_compare_take_any_numeric_stats_column():
    rows = []
    for i in range(12):
        cid = f"c{i:02d}"
        rows += [(cid, "agent", 30.0, 60.0, 140.0 + i, f"a{i % 3}"),
                 (cid, "customer", 20.0, 60.0, 100.0, f"a{i % 3}")]
    df = pd.DataFrame(rows, columns=["conversation_id", "speaker", "talk_time_s",
                                     "call_duration_s", "words_per_minute", "agent_id"])
    ax = plot.plot_fleet(df, metrics=["words_per_minute"])
    assert "words_per_minute (agent)" in ax[0].get_title(loc="left")
    xs = np.sort(ax[0].collections[0].get_offsets()[:, 0])
    assert xs.tolist() == pytest.approx([140.0 + i for i in range(12)])
    cust = plot.plot_fleet(df, metrics=["words_per_minute"], speaker="customer")
    assert "(customer)" in cust[0].get_title(loc="left")
    ax2 = plot.plot_compare(df, by="agent_id", metric="words_per_minute")
    assert [t.get_text() for t in ax2.get_yticklabels()] == ["a0 (4)", "a1 (4)", "a2 (4)"]
    ax3 = plot.plot_compare(df, by="agent_id", metric="call_duration_s")
    assert "call_duration_s" in ax3.get_title(loc="left")
    with pytest.raises(ValueError, match=r"unknown metric 'note'.* numeric column of"):
        plot.plot_compare(df.assign(note="x"), by="agent_id", metric="note")
    with pytest.raises(ValueError, match="not numeric"):
        plot.plot_fleet(pd.DataFrame({"conversation_id": ["a"], "note": ["x"]}),
                        metrics=["note"])


def test_timeline_with_phases_counts_silence_only_in_talk_phases():
    """Hold is drawn on a phases row and is never silence, as talk_stats counts it."""
    rows = [("agent", 0.0, 10.0, 0.9), ("customer", 10.0, 20.0, 0.9),
            ("agent", 60.0, 70.0, 0.9), ("customer", 75.0, 80.0, 0.9)]  # 40 s gap, then 5 s
    phases = pd.DataFrame({
        "conversation_id": [CID] * 3, "phase": ["talk", "hold", "talk"],
        "start_s": [0.0, 20.0, 58.0], "end_s": [20.0, 58.0, 80.0],
    })
    ax = plot.plot_timeline(make_segments(rows), phases=phases)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["agent", "customer", "phases", "overtalk", "silence"]
    summary = next(t.get_text() for t in ax.texts if "talk share of call" in t.get_text())
    assert "silence 0:05" in summary  # 70-75 s only; 58-60 s is 2 s (< 3 s), hold excluded
    assert any(t.get_text() == "hold" for t in ax.texts)
    plain = plot.plot_timeline(make_segments(rows))
    text = next(t.get_text() for t in plain.texts if "talk share of call" in t.get_text())
    assert "silence 0:45" in text  # without phases the whole 40 s gap is silence
    with pytest.raises(ValueError, match="phases have no column"):
        plot.plot_timeline(make_segments(rows), phases=phases.drop(columns="phase"))


def test_timeline_prints_the_callers_shares():
    ax = plot.plot_timeline(make_segments(SMALL), shares={"agent": 0.25, "customer": 0.4},
                            shares_label="talk share (talk_share_call)")
    summary = next(t.get_text() for t in ax.texts if "talk share" in t.get_text())
    assert summary.startswith("talk share (talk_share_call): agent 25% · customer 40%")


# -- names of agents and queues -----------------------------------------------------------

ANA = "a1a1a1a1-0000-0000-0000-000000000001"
BOB = "b2b2b2b2-0000-0000-0000-000000000002"
NEW = "c3c3c3c3-0000-0000-0000-000000000003"  # an id the directory does not know
SALES = "d4d4d4d4-0000-0000-0000-000000000004"


def _transfer_segments():
    """A transferred call: Ana, then Bob; attributed segments (``user_id``) on queue Sales."""
    seg = make_segments([*SMALL, ("agent", 55.0, 60.0, 0.9)])
    seg["user_id"] = pd.array([ANA, None, ANA, None, BOB], dtype="string")
    seg["queue_id"] = pd.array([SALES] * len(seg), dtype="string")
    return seg


def test_timeline_labels_each_agent_lane_by_name():
    seg = _transfer_segments()
    names = {ANA: "Ana Lopez", BOB: "Bob Smith", SALES: "Sales"}
    ax = plot.plot_timeline(seg, names=names, shares={"agent": 0.4, "customer": 0.3})
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:3] == ["agent · Ana Lopez", "agent · Bob Smith", "customer"]
    colours = {t.get_text(): t.get_color() for t in ax.get_yticklabels()}
    assert colours["agent · Bob Smith"] == plot.SPEAKER_COLOURS["agent"]
    assert ax.get_title(loc="left").endswith("· queue Sales")
    # the caller's shares are per speaker: printed once for the agent lanes
    summary = next(t.get_text() for t in ax.texts if t.get_text().startswith("talk share"))
    assert "agent 40%" in summary and summary.count("agent") == 1
    # an id the names do not know falls back to its short id; no names: one agent lane
    seg["user_id"] = pd.array([ANA, None, ANA, None, NEW], dtype="string")
    ax = plot.plot_timeline(seg, names={ANA: "Ana Lopez"})
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["agent · Ana Lopez",
                                                                 "agent · c3c3c3c3"]
    ax = plot.plot_timeline(seg)
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["agent", "customer"]
    # a user_name column (add_names) is a name source too
    seg["user_name"] = pd.array(["Ana Lopez", None, "Ana Lopez", None, NEW], dtype="string")
    ax = plot.plot_timeline(seg)
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["agent · Ana Lopez",
                                                                 "agent · c3c3c3c3"]


def test_talk_share_labels_calls_with_agent_and_queue_names(tmp_path):
    stats = _stats()
    stats["user_id"] = pd.array([ANA, None, NEW, None, None], dtype="string")
    stats["queue_id"] = pd.array([SALES, SALES, None, None, None], dtype="string")
    ax = plot.plot_talk_share(stats, names={ANA: "Ana Lopez", SALES: "Sales"})
    labels = {t.get_text() for t in ax.get_yticklabels()}
    assert labels == {"c1 · Ana Lopez · Sales", "c2 · c3c3c3c3"}
    # without names the labels are the conversation ids, as before
    assert {t.get_text() for t in plot.plot_talk_share(stats).get_yticklabels()} == {"c1", "c2"}
    # names from a dataset's dims/ (the tables `diarkit names` writes)
    from datetime import UTC, datetime

    from diarkit.io.dataset import write_table_atomic
    from diarkit.io.dims import DIMS_DIR

    now = datetime.now(UTC)
    for kind, rows in (("users", {ANA: "Ana Lopez", NEW: "Nina New"}), ("queues",
                                                                         {SALES: "Sales"})):
        write_table_atomic(pa.table({
            "id": list(rows), "name": list(rows.values()),
            "resolved_at": pa.array([now] * len(rows), pa.timestamp("us", tz="UTC"))}),
            tmp_path / DIMS_DIR / f"{kind}.parquet")
    ax = plot.plot_talk_share(stats, names=tmp_path, include=["c2"])
    labels = {t.get_text() for t in ax.get_yticklabels()}
    assert labels == {"c1 · Ana Lopez · Sales", "*c2 · Nina New"}
