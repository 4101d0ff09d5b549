"""Exports of segments or turns as text: RTTM, WebVTT, SRT, TextGrid, CTM, JSON (seconds).

Every exporter returns a ``str``; writing it to a file is the caller's business (CLI,
notebook). Lines are built with Arrow string kernels (``pyarrow.compute``) over whole
columns, never a row loop.

Times are seconds on the transcription session clock, and may be negative: speech
transcribed before the session start (Genesys early transcription; the simulator's
``early`` calls). RTTM, CTM, JSON and TextGrid keep the session clock (negative onsets
are written as such, a TextGrid then starts before 0). WebVTT and SRT cannot write a
negative timestamp, so when a conversation has one, every cue of it is **shifted** by the
same offset so that the earliest cue starts at 00:00:00.000: the cues keep their
durations and the time between them, and WebVTT says so in a ``NOTE`` (SRT has no
comments). ``vtt_shift_s`` gives the offset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from diarkit.analysis._core import check_intervals, codes_of, float_array, order_by, union_blocks
from diarkit.analysis.confidence import filter_confidence
from diarkit.analysis.turns import turns
from diarkit.schema import SEGMENTS, TURNS, SchemaError, validate

if TYPE_CHECKING:
    from diarkit.analysis.profiles import Profile

_TIMES = ("conversation_id", "speaker", "start_s", "end_s")


def _checked(
    table: pd.DataFrame,
    where: str,
    needs: tuple[str, ...] = (*_TIMES, "text"),
    optional: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Validate the table; return its needed columns sorted by conversation, start, end.

    A TURNS or SEGMENTS table is validated against its contract; any other table (e.g.
    :func:`parse_rttm` output) must at least have the columns the format ``needs``.
    """
    if not isinstance(table, pd.DataFrame):
        raise SchemaError(f"{where}: expected a pandas DataFrame, got {type(table)}")
    if "turn_index" in table.columns:
        validate(table, TURNS, where=where)
    elif all(c.name in table.columns for c in SEGMENTS.columns if c.required):
        validate(table, SEGMENTS, where=where)
    missing = [c for c in needs if c not in table.columns]
    if missing:
        raise SchemaError(f"{where}: the table lacks column(s) {missing}")
    check_intervals(table, where, ("conversation_id", "speaker"))
    start = float_array(table["start_s"])
    conv, labels = codes_of(table["conversation_id"])
    order = order_by(conv, len(labels), start, float_array(table["end_s"]))
    columns = [*needs, *(c for c in optional if c in table.columns and c not in needs)]
    return table[columns].iloc[order].reset_index(drop=True)


def _one_conversation(table: pd.DataFrame, where: str) -> None:
    n = table["conversation_id"].nunique()
    if n > 1:
        raise ValueError(
            f"{where}: the table holds {n} conversations; this format holds one — select it "
            "first, e.g. table[table.conversation_id == cid]"
        )


def _text(series: pd.Series, transform: Any = None) -> pa.Array:
    """A column as an Arrow string array (nulls kept), optionally transformed.

    Categorical columns are transformed once per category, then expanded.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = pa.array(series.cat.categories.astype("string"), type=pa.string())
        cats = cats.combine_chunks() if isinstance(cats, pa.ChunkedArray) else cats
        if transform is not None:
            cats = transform(cats)
        codes = series.cat.codes.to_numpy()
        return cats.take(pa.array(codes, mask=codes < 0))
    arr = pa.array(series.astype("string"), type=pa.string(), from_pandas=True)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return transform(arr) if transform is not None else arr


def _ints(values: np.ndarray, width: int = 0) -> pa.Array:
    arr = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    return pc.utf8_lpad(arr, width=width, padding="0") if width else arr


def _concat(*parts: Any) -> pa.Array:
    """Element-wise concatenation of string arrays and literal strings."""
    return pc.binary_join_element_wise(*parts, "")


def _fixed3(seconds: np.ndarray) -> pa.Array:
    """Seconds as text with exactly three decimals (``-0.250`` for a quarter before 0)."""
    ms = np.round(seconds * 1000.0).astype(np.int64)
    sign = pc.if_else(pa.array(ms < 0), "-", "")
    ms = np.abs(ms)
    return _concat(sign, _ints(ms // 1000), ".", _ints(ms % 1000, 3))


def _clock(seconds: np.ndarray, decimal: str) -> pa.Array:
    """Seconds as ``HH:MM:SS<decimal>mmm`` (WebVTT uses ``.``, SRT ``,``)."""
    ms = np.round(seconds * 1000.0).astype(np.int64)
    return _concat(
        _ints(ms // 3_600_000, 2),
        ":",
        _ints((ms // 60_000) % 60, 2),
        ":",
        _ints((ms // 1000) % 60, 2),
        decimal,
        _ints(ms % 1000, 3),
    )


#: Every Unicode line break and space (RE2's ``\s`` is ASCII only): vertical tab, NEL
#: U+0085, no-break spaces, U+1680, U+2000-U+200A, line/paragraph separators U+2028/U+2029,
#: U+202F, U+205F, U+3000 and the BOM. A cue or word must never be split by any of them.
WHITESPACE_RUN = (
    r"[\s\x{0b}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}"
    r"\x{3000}\x{feff}]+"
)


def _one_line(arr: pa.Array) -> pa.Array:
    """Missing text as empty, runs of any Unicode whitespace or line break as one space."""
    flat = pc.replace_substring_regex(pc.fill_null(arr, ""), WHITESPACE_RUN, " ")
    return pc.utf8_trim_whitespace(flat)


def _joined(lines: pa.Array, sep: str = "") -> str:
    """All strings of ``lines`` joined by ``sep``, through one Arrow list (no Python loop)."""
    if len(lines) == 0:
        return ""
    values = lines.cast(pa.large_string())
    offsets = pa.array([0, len(values)], pa.int64())
    lists = pa.LargeListArray.from_arrays(offsets, values)
    whole = pc.binary_join(lists, pa.scalar(sep, pa.large_string()))
    return str(whole[0].as_py())


def _no_space(labels: pa.Array, what: str, where: str) -> pa.Array:
    bad = pc.match_substring_regex(labels, WHITESPACE_RUN)
    if pc.any(bad).as_py():
        first = labels.filter(bad)[0].as_py()
        raise ValueError(
            f"{where}: {what} {first!r} contains whitespace, which the format "
            "uses as its field separator; rename it first"
        )
    return labels


def _cue_rows(table: pd.DataFrame) -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray]:
    """Speaker, one-line text, start and end (s) of rows with text; cues last >= 1 ms.

    Times are shifted by :func:`vtt_shift_s` (0 unless a cue starts before 0).
    """
    text = _one_line(_text(table["text"]))
    keep = pc.greater(pc.utf8_length(text), 0)
    keep_np = keep.to_numpy(zero_copy_only=False)
    start = float_array(table["start_s"])[keep_np]
    shift = _shift(start)
    start = start + shift
    end = np.maximum(float_array(table["end_s"])[keep_np] + shift, start + 0.001)
    return _one_line(_text(table["speaker"])).filter(keep), text.filter(keep), start, end


def _shift(start: np.ndarray) -> float:
    """Seconds added to every cue so that none starts before 0 (0.0 when none does)."""
    if not len(start):
        return 0.0
    first_ms = int(np.round(float(start.min()) * 1000.0))
    return -first_ms / 1000.0 if first_ms < 0 else 0.0


def vtt_shift_s(table: pd.DataFrame) -> float:
    """Seconds WebVTT/SRT exports add to every cue of ``table`` (one conversation).

    0.0 when no row with text starts before the session start; else minus the earliest
    such start (integer milliseconds), so the earliest cue starts at 00:00:00.000.
    """
    checked = _checked(table, "vtt_shift_s()")
    keep = pc.greater(pc.utf8_length(_one_line(_text(checked["text"]))), 0)
    return _shift(float_array(checked["start_s"])[keep.to_numpy(zero_copy_only=False)])


def to_rttm(table: pd.DataFrame) -> str:
    """RTTM text (NIST field order, times in seconds with millisecond precision).

    One ``SPEAKER <file> 1 <onset> <duration> <NA> <NA> <speaker> <NA> <NA>`` line per row,
    the file id being the conversation id. Zero-length rows are left out (RTTM turns have
    a duration). Readable by pyannote (``pyannote.database.util.load_rttm``) and dscore.

    Raises:
        ValueError: when a conversation id or speaker contains whitespace.
    """
    table = _checked(table, "to_rttm()", _TIMES)
    start = float_array(table["start_s"])
    end = float_array(table["end_s"])
    keep = end > start
    mask = pa.array(keep)
    uri = _text(table["conversation_id"], lambda a: _no_space(a, "conversation id", "to_rttm()"))
    spk = _text(table["speaker"], lambda a: _no_space(a, "speaker", "to_rttm()"))
    uri, spk = uri.filter(mask), spk.filter(mask)
    onset, dur = start[keep], end[keep] - start[keep]
    lines = _concat(
        "SPEAKER ",
        uri,
        " 1 ",
        _fixed3(onset),
        " ",
        _fixed3(dur),
        " <NA> <NA> ",
        spk,
        " <NA> <NA>\n",
    )
    return _joined(lines)


_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def parse_rttm(text: str) -> pd.DataFrame:
    """Parse RTTM text into ``conversation_id``, ``speaker``, ``start_s``, ``end_s`` (s).

    Only ``SPEAKER`` records are kept; blank, comment (``;;``) and other records are
    ignored.

    Raises:
        ValueError: naming the (1-based) line of a malformed SPEAKER record.
    """
    lines = pc.list_flatten(pc.split_pattern(pa.array([text], pa.large_string()), "\n"))
    fields = pc.split_pattern_regex(pc.utf8_trim_whitespace(lines), r"\s+")
    is_speaker = pc.equal(pc.list_element(fields, 0), "SPEAKER").to_numpy(zero_copy_only=False)
    lineno = np.flatnonzero(is_speaker) + 1
    fields = fields.filter(pa.array(is_speaker))
    short = pc.less(pc.list_value_length(fields), 8).to_numpy(zero_copy_only=False)
    bad = short.copy()
    if not short.any() and len(fields):
        tbeg_text = pc.list_element(fields, 3)
        tdur_text = pc.list_element(fields, 4)
        for part in (tbeg_text, tdur_text):
            bad |= ~pc.match_substring_regex(part, _NUMBER).to_numpy(zero_copy_only=False)
    if bad.any():
        raise ValueError(
            f"parse_rttm(): malformed SPEAKER record on line {int(lineno[bad][0])}"
            " (expected: SPEAKER file chnl tbeg tdur ortho stype name conf slat)"
        )
    if not len(fields):
        tbeg = tdur = np.zeros(0)
        uri = name = pa.array([], pa.large_string())
    else:
        tbeg = pc.cast(tbeg_text, pa.float64()).to_numpy()
        tdur = pc.cast(tdur_text, pa.float64()).to_numpy()
        uri, name = pc.list_element(fields, 1), pc.list_element(fields, 7)
    if (tdur < 0).any():
        raise ValueError(
            f"parse_rttm(): negative duration on line {int(lineno[np.argmax(tdur < 0)])}"
        )
    return pd.DataFrame(
        {
            "conversation_id": pd.Categorical(pd.Series(uri.cast(pa.string()).to_pandas())),
            "speaker": pd.Categorical(pd.Series(name.cast(pa.string()).to_pandas())),
            "start_s": tbeg,
            "end_s": tbeg + tdur,
        }
    )


def to_webvtt(table: pd.DataFrame) -> str:
    """WebVTT text with ``<v speaker>`` voice tags, times ``HH:MM:SS.mmm`` (one conversation).

    Rows with empty text are left out; a zero-length row gets a 1 ms cue. ``&``, ``<``
    and ``>`` are escaped; line breaks in text become spaces. Times are seconds from the
    session start; when a cue starts before it (early transcription), every cue is
    shifted by :func:`vtt_shift_s` and a ``NOTE`` after the header says by how much.

    Raises:
        ValueError: when the table holds more than one conversation.
    """
    table = _checked(table, "to_webvtt()")
    _one_conversation(table, "to_webvtt()")
    speaker, text, start, end = _cue_rows(table)
    shift = vtt_shift_s(table)
    note = (
        f"NOTE times are seconds from the transcription session start plus {shift:.3f} s: "
        "speech began before the session start (early transcription)\n\n"
        if shift
        else ""
    )

    def esc(arr: pa.Array) -> pa.Array:
        for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            arr = pc.replace_substring(arr, char, entity)
        return arr

    cues = _concat(
        _clock(start, "."),
        " --> ",
        _clock(end, "."),
        "\n<v ",
        esc(speaker),
        ">",
        esc(text),
        "\n\n",
    )
    return "WEBVTT\n\n" + note + _joined(cues)


def to_srt(table: pd.DataFrame, speaker_prefix: bool = True) -> str:
    """SubRip text, times ``HH:MM:SS,mmm``, text prefixed ``speaker: `` (one conversation).

    Rows with empty text are left out; a zero-length row gets a 1 ms cue. When a cue
    starts before the session start (early transcription), every cue is shifted by
    :func:`vtt_shift_s` (SubRip has no comment to say so).

    Raises:
        ValueError: when the table holds more than one conversation.
    """
    table = _checked(table, "to_srt()")
    _one_conversation(table, "to_srt()")
    speaker, text, start, end = _cue_rows(table)
    body = _concat(speaker, ": ", text) if speaker_prefix else text
    cues = _concat(
        _ints(np.arange(1, len(start) + 1)),
        "\n",
        _clock(start, ","),
        " --> ",
        _clock(end, ","),
        "\n",
        body,
        "\n\n",
    )
    return _joined(cues)


def to_textgrid(
    table: pd.DataFrame, xmin: float | None = None, xmax: float | None = None
) -> str:
    """Praat TextGrid (long text format), one interval tier per speaker, in seconds.

    Each tier covers ``[xmin, xmax]``; a speaker's overlapping or touching rows merge into
    one interval whose text joins theirs; gaps become empty intervals. Zero-length rows
    cannot be shown as intervals and are left out. One conversation per TextGrid.

    Args:
        table: SEGMENTS or TURNS rows of one conversation.
        xmin: grid start, seconds (default 0, the session start, or the first row's start
            when that is earlier: early transcription).
        xmax: grid end, seconds; default the last row's end.

    Raises:
        ValueError: with several conversations, or rows outside ``[xmin, xmax]``.
    """
    table = _checked(table, "to_textgrid()")
    _one_conversation(table, "to_textgrid()")
    start = float_array(table["start_s"])
    end = float_array(table["end_s"])
    keep = end > start
    if xmin is None:
        xmin = min(0.0, float(start.min())) if len(start) else 0.0
    xmin = float(xmin)
    top = float(end.max()) if len(end) else xmin
    xmax = top if xmax is None else float(xmax)
    if len(end) and (start.min() < xmin or top > xmax):
        raise ValueError(f"to_textgrid(): rows fall outside [{xmin}, {xmax}] seconds")
    mask = pa.array(keep)
    speakers = _text(table["speaker"]).filter(mask)
    texts = _one_line(_text(table["text"])).filter(mask)
    spk = np.asarray(speakers.to_pylist() if len(speakers) else [], dtype=str)
    labels = np.unique(spk)
    code = np.searchsorted(labels, spk).astype(np.int64)
    blocks = union_blocks(code, start[keep], end[keep], max(len(labels), 1))
    # join texts per block through Arrow lists (rows sorted by block, empty texts dropped)
    order = np.argsort(blocks.row_block, kind="stable")
    ordered = texts.take(pa.array(order, pa.int64()))
    has_text = pc.greater(pc.utf8_length(ordered), 0)
    has_np = has_text.to_numpy(zero_copy_only=False)
    counts = np.bincount(blocks.row_block[order][has_np], minlength=len(blocks.group))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    lists = pa.ListArray.from_arrays(offsets, ordered.filter(has_text))
    block_text = pc.replace_substring(pc.binary_join(lists, " "), '"', '""')

    def num(values: np.ndarray) -> pa.Array:
        return pc.cast(pa.array(values, pa.float64()), pa.string())

    out = [
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\n',
        f"xmin = {xmin!r} \nxmax = {xmax!r} \ntiers? <exists> \nsize = {len(labels)} \nitem []: \n",
    ]
    for tier, name in enumerate(labels):  # one pass per speaker tier, not per row
        mine = np.flatnonzero(blocks.group == tier)
        bs, be = blocks.start[mine], blocks.end[mine]
        edges = np.concatenate([[xmin], np.column_stack([bs, be]).ravel(), [xmax]])
        which = np.full(2 * len(mine) + 1, -1, dtype=np.int64)  # interval -> block, -1 = gap
        which[1::2] = mine
        lo, hi = edges[:-1], edges[1:]
        real = hi > lo
        lo, hi, which = lo[real], hi[real], which[real]
        words = pc.if_else(
            pa.array(which >= 0), block_text.take(pa.array(np.maximum(which, 0))), ""
        )
        n = len(lo)
        quoted = str(name).replace('"', '""')
        out.append(
            f'    item [{tier + 1}]:\n        class = "IntervalTier" \n'
            f'        name = "{quoted}" \n        xmin = {xmin!r} \n        xmax = {xmax!r} \n'
            f"        intervals: size = {n} \n"
        )
        body = _concat(
            "        intervals [",
            _ints(np.arange(1, n + 1)),
            "]:\n            xmin = ",
            num(lo),
            " \n            xmax = ",
            num(hi),
            ' \n            text = "',
            words,
            '" \n',
        )
        out.append(_joined(body))
    return "".join(out)


def to_ctm(segments: pd.DataFrame) -> str:
    """CTM text, one word per line with confidence (times in seconds, ms precision).

    ``<file> 1 <onset> <duration> <word> <confidence>`` from the ``words`` column; a word
    without confidence takes its segment's, and the field is left out when both are
    missing. Whitespace inside a word becomes ``_``. Segments without word timings
    produce no lines.

    Raises:
        ValueError: when the table has no ``words`` column.
    """
    if "words" not in segments.columns:
        raise ValueError("to_ctm(): the segments table has no 'words' column (word timings)")
    table = _checked(segments, "to_ctm()", (*_TIMES, "confidence", "words"))
    uri = _text(table["conversation_id"], lambda a: _no_space(a, "conversation id", "to_ctm()"))
    words = pa.array(table["words"], type=SEGMENTS.column("words").type, from_pandas=True)
    if isinstance(words, pa.ChunkedArray):
        words = words.combine_chunks()
    flat = pc.list_flatten(words)
    if len(flat) == 0:
        return ""
    parent = pc.list_parent_indices(words).to_numpy()
    word = pc.replace_substring_regex(pc.fill_null(flat.field("word"), ""), WHITESPACE_RUN, "_")
    w_start = flat.field("start_s").to_numpy(zero_copy_only=False).astype(np.float64)
    w_end = flat.field("end_s").to_numpy(zero_copy_only=False).astype(np.float64)
    conf = flat.field("confidence").to_numpy(zero_copy_only=False).astype(np.float64)
    conf = np.where(np.isnan(conf), float_array(table["confidence"])[parent], conf)
    conf_text = pc.if_else(pa.array(np.isnan(conf)), "", _concat(" ", _fixed3(np.nan_to_num(conf))))
    ok = pc.greater(pc.utf8_length(word), 0).to_numpy(zero_copy_only=False)
    ok &= ~np.isnan(w_start) & ~np.isnan(w_end)
    dur = np.maximum(w_end - w_start, 0.0)
    lines = _concat(
        uri.take(pa.array(parent)),
        " 1 ",
        _fixed3(w_start),
        " ",
        _fixed3(dur),
        " ",
        word,
        conf_text,
        "\n",
    )
    return _joined(lines.filter(pa.array(ok)))


_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")] + [
    (chr(c), f"\\u{c:04x}") for c in range(32) if chr(c) not in "\n\r\t"
]
# line terminators outside ASCII (valid in JSON, but they end lines in JavaScript before
# ES2019 and in str.splitlines()): escaped so the document stays one line per line
_ESCAPES += [("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")]


def _json_string(arr: pa.Array) -> pa.Array:
    """Strings as JSON string literals (quoted, escaped); null as ``null``."""
    special = pc.fill_null(
        pc.match_substring_regex(arr, '[\\\\"\\x00-\\x1f\\x{85}\\x{2028}\\x{2029}]'), False
    )
    if pc.any(special).as_py():
        some = arr.filter(special)
        for char, escaped in _ESCAPES:  # 34 characters, applied to affected rows only
            some = pc.replace_substring(some, char, escaped)
        arr = pc.replace_with_mask(arr, special, some)
    return pc.fill_null(_concat('"', arr, '"'), "null")


def _json_number(values: np.ndarray) -> pa.Array:
    """Floats as JSON numbers; NaN and infinities as ``null``."""
    text = pc.cast(pa.array(values, pa.float64()), pa.string())
    return pc.if_else(pa.array(~np.isfinite(values)), "null", text)


def to_json(segments: pd.DataFrame) -> str:
    """JSON in the tutorial's export shape (times in seconds).

    ``{"totalSegments": n, "segments": [{"conversation_id", "speaker", "text",
    "start_seconds", "end_seconds", "confidence", "is_final", "timestamp"}]}`` where
    ``timestamp`` is the ISO-8601 UTC time the segment was received (``received_at``,
    else ``start_at``), null when unknown. Turns export with ``is_final`` true.
    """
    table = _checked(
        segments,
        "to_json()",
        (*_TIMES, "text", "confidence"),
        optional=("is_final", "received_at", "start_at"),
    )
    n = len(table)
    stamp = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    for name in ("start_at", "received_at"):  # received_at wins where both are known
        if name in table.columns:
            col = pa.array(
                pd.to_datetime(table[name], utc=True).astype("datetime64[us, UTC]"),
                from_pandas=True,
            )
            stamp = pc.coalesce(col, stamp)
    iso = pc.strftime(stamp, format="%Y-%m-%dT%H:%M:%SZ")
    final = (
        table["is_final"].to_numpy(dtype=bool, na_value=True)
        if "is_final" in table.columns
        else np.ones(n, dtype=bool)
    )
    records = _concat(
        '{"conversation_id": ',
        _json_string(_text(table["conversation_id"])),
        ', "speaker": ',
        _json_string(_text(table["speaker"])),
        ', "text": ',
        _json_string(_text(table["text"])),
        ', "start_seconds": ',
        _json_number(float_array(table["start_s"])),
        ', "end_seconds": ',
        _json_number(float_array(table["end_s"])),
        ', "confidence": ',
        _json_number(float_array(table["confidence"])),
        ', "is_final": ',
        pc.if_else(pa.array(final), "true", "false"),
        ', "timestamp": ',
        _json_string(iso),
        "}",
    )
    return '{"totalSegments": ' + str(n) + ', "segments": [' + _joined(records, ", ") + "]}"


#: Export formats by name, as ``diarkit export --format`` accepts them.
FORMATS = {
    "rttm": to_rttm,
    "vtt": to_webvtt,
    "srt": to_srt,
    "textgrid": to_textgrid,
    "ctm": to_ctm,
    "json": to_json,
}


def export_segments(
    segments: pd.DataFrame,
    fmt: str,
    *,
    conversation: str | None = None,
    min_confidence: float | None = None,
    as_turns: bool = False,
    max_gap: float | None = None,
    profile: str | Profile | None = None,
) -> str:
    """Finalize raw segment versions and render them in one format (times in seconds).

    The segments are made one timeline first
    (:func:`diarkit.analysis.conversation.one_timeline`: the latest final version of each
    utterance, blank finals dropped, live/back-filled/imported sources merged, so a
    sentence is never printed twice); with ``min_confidence`` (or the profile's when
    ``profile`` is given), :func:`filter_confidence` then drops low-confidence and
    speakerless rows: exports show what was *said*. With ``as_turns`` (not for CTM) rows
    merge into turns first.

    Args:
        segments: a SEGMENTS table, any mix of versions.
        fmt: one of ``FORMATS`` (``rttm``, ``vtt``, ``srt``, ``textgrid``, ``ctm``, ``json``).
        conversation: keep only this conversation (required by vtt, srt and textgrid when
            the table holds several).
        min_confidence: confidence threshold (0-1); default: no confidence filtering.
        as_turns: export turns instead of segments.
        max_gap: seconds bridged inside a turn when ``as_turns`` (default: the profile's).
        profile: analysis profile (name or ``Profile``); its ``min_confidence`` applies
            when ``min_confidence`` is not given.

    Raises:
        ValueError: for an unknown format or conversation, or ``as_turns`` with CTM.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {sorted(FORMATS)}")
    if as_turns and fmt == "ctm":
        raise ValueError("CTM is word-level: export segments, not turns")
    validate(segments, SEGMENTS, where="export_segments()")
    if conversation is not None:
        segments = segments[segments["conversation_id"].astype("string") == conversation]
        if segments.empty:
            raise ValueError(f"export_segments(): no segments for conversation {conversation!r}")
    from diarkit.analysis.conversation import one_timeline
    from diarkit.analysis.profiles import get_profile

    prof = get_profile(profile)
    table = one_timeline(segments, prof, where="export_segments()")
    if min_confidence is None and profile is not None:
        min_confidence = prof.min_confidence
    if min_confidence is not None:
        table = filter_confidence(table, min_confidence).kept
    if as_turns:
        table = turns(table, max_gap=max_gap, profile=prof)
    return str(FORMATS[fmt](table))
