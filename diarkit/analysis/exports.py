"""Exports of segments or turns as text: RTTM, WebVTT, SRT, TextGrid, CTM, JSON (seconds).

Every exporter returns a ``str``; writing it to a file is the caller's business (CLI,
notebook). Formatting is vectorised with pandas string operations, never a row loop.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from diarkit.analysis._core import check_intervals, float_array, union_blocks
from diarkit.schema import SEGMENTS, TURNS, SchemaError, validate


_TIMES = ("conversation_id", "speaker", "start_s", "end_s")


def _checked(
    table: pd.DataFrame, where: str, needs: tuple[str, ...] = (*_TIMES, "text")
) -> pd.DataFrame:
    """Validate the table and sort it by conversation, start and end.

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
    if (float_array(table["start_s"]) < 0).any():
        raise ValueError(f"{where}: negative start_s; times must be seconds from session start")
    return table.sort_values(["conversation_id", "start_s", "end_s"], kind="stable")


def _one_conversation(table: pd.DataFrame, where: str) -> None:
    n = table["conversation_id"].nunique()
    if n > 1:
        raise ValueError(
            f"{where}: the table holds {n} conversations; this format holds one — select it "
            "first, e.g. table[table.conversation_id == cid]"
        )


def _str(series: pd.Series) -> pd.Series:
    return series.astype("string").reset_index(drop=True)


def _num(values: np.ndarray) -> pd.Series:
    return pd.Series(values).astype("string")


def _fixed3(seconds: np.ndarray) -> pd.Series:
    """Seconds as text with exactly three decimals (vectorised)."""
    ms = np.round(seconds * 1000.0).astype(np.int64)
    return _num(ms // 1000) + "." + _num(ms % 1000).str.zfill(3)


def _clock(seconds: np.ndarray, decimal: str) -> pd.Series:
    """Seconds as ``HH:MM:SS<decimal>mmm`` (WebVTT uses ``.``, SRT ``,``)."""
    ms = np.round(seconds * 1000.0).astype(np.int64)
    hours = _num(ms // 3_600_000).str.zfill(2)
    minutes = _num((ms // 60_000) % 60).str.zfill(2)
    secs = _num((ms // 1000) % 60).str.zfill(2)
    return hours + ":" + minutes + ":" + secs + decimal + _num(ms % 1000).str.zfill(3)


def _one_line(text: pd.Series) -> pd.Series:
    return text.fillna("").str.replace(r"\s+", " ", regex=True).str.strip()


def _no_space(labels: pd.Series, what: str, where: str) -> pd.Series:
    bad = labels.str.contains(r"\s", regex=True).fillna(False)
    if bad.any():
        raise ValueError(
            f"{where}: {what} {labels[bad].iloc[0]!r} contains whitespace, which the format "
            "uses as its field separator; rename it first"
        )
    return labels


def _cue_rows(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    text = _one_line(_str(table["text"]))
    keep = (text != "").to_numpy()
    start = float_array(table["start_s"])[keep]
    end = float_array(table["end_s"])[keep]
    end = np.maximum(end, start + 0.001)  # cues must end after they start
    rows = pd.DataFrame({"speaker": _str(table["speaker"])[keep].to_numpy(), "text": text[keep]})
    return rows.reset_index(drop=True), start, end


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
    uri = _no_space(_str(table["conversation_id"])[keep], "conversation id", "to_rttm()")
    spk = _no_space(_str(table["speaker"])[keep], "speaker", "to_rttm()")
    onset, dur = start[keep], end[keep] - start[keep]
    lines = (
        "SPEAKER "
        + uri.to_numpy()
        + " 1 "
        + _fixed3(onset).to_numpy()
        + " "
        + _fixed3(dur).to_numpy()
        + " <NA> <NA> "
        + spk.to_numpy()
        + " <NA> <NA>"
    )
    return "".join(pd.Series(lines, dtype="string") + "\n") if len(lines) else ""


def parse_rttm(text: str) -> pd.DataFrame:
    """Parse RTTM text into ``conversation_id``, ``speaker``, ``start_s``, ``end_s`` (s).

    Only ``SPEAKER`` records are kept; blank and comment (``;;``) lines are ignored.

    Raises:
        ValueError: naming the (1-based) line of a malformed SPEAKER record.
    """
    lines = pd.Series(text.splitlines(), dtype="string")
    lineno = pd.Series(np.arange(1, len(lines) + 1))
    fields = lines.str.strip().str.split(r"\s+", regex=True)
    kind = fields.str[0]
    keep = (kind == "SPEAKER").fillna(False).to_numpy(dtype=bool)
    fields, lineno = fields[keep], lineno[keep]
    n_fields = fields.str.len().to_numpy()
    tbeg = pd.to_numeric(fields.str[3], errors="coerce").to_numpy(np.float64)
    tdur = pd.to_numeric(fields.str[4], errors="coerce").to_numpy(np.float64)
    bad = (n_fields < 8) | np.isnan(tbeg) | np.isnan(tdur) | (tdur < 0)
    if bad.any():
        raise ValueError(
            f"parse_rttm(): malformed SPEAKER record on line {int(lineno.to_numpy()[bad][0])}"
            " (expected: SPEAKER file chnl tbeg tdur ortho stype name conf slat)"
        )
    return pd.DataFrame(
        {
            "conversation_id": pd.Categorical(fields.str[1].astype("string")),
            "speaker": pd.Categorical(fields.str[7].astype("string")),
            "start_s": tbeg,
            "end_s": tbeg + tdur,
        }
    )


def to_webvtt(table: pd.DataFrame) -> str:
    """WebVTT text with ``<v speaker>`` voice tags, times ``HH:MM:SS.mmm`` (one conversation).

    Rows with empty text are left out; a zero-length row gets a 1 ms cue. ``&``, ``<``
    and ``>`` are escaped; line breaks in text become spaces.

    Raises:
        ValueError: when the table holds more than one conversation.
    """
    table = _checked(table, "to_webvtt()")
    _one_conversation(table, "to_webvtt()")
    rows, start, end = _cue_rows(table)

    def esc(s: pd.Series) -> pd.Series:
        return s.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")

    cues = (
        _clock(start, ".")
        + " --> "
        + _clock(end, ".")
        + "\n<v "
        + esc(rows["speaker"])
        + ">"
        + esc(rows["text"])
        + "\n\n"
    )
    return "WEBVTT\n\n" + "".join(cues)


def to_srt(table: pd.DataFrame, speaker_prefix: bool = True) -> str:
    """SubRip text, times ``HH:MM:SS,mmm``, text prefixed ``speaker: `` (one conversation).

    Rows with empty text are left out; a zero-length row gets a 1 ms cue.

    Raises:
        ValueError: when the table holds more than one conversation.
    """
    table = _checked(table, "to_srt()")
    _one_conversation(table, "to_srt()")
    rows, start, end = _cue_rows(table)
    text = rows["speaker"] + ": " + rows["text"] if speaker_prefix else rows["text"]
    cues = (
        _num(np.arange(1, len(rows) + 1))
        + "\n"
        + _clock(start, ",")
        + " --> "
        + _clock(end, ",")
        + "\n"
        + text
        + "\n\n"
    )
    return "".join(cues)


def to_textgrid(table: pd.DataFrame, xmin: float = 0.0, xmax: float | None = None) -> str:
    """Praat TextGrid (long text format), one interval tier per speaker, in seconds.

    Each tier covers ``[xmin, xmax]``; a speaker's overlapping or touching rows merge into
    one interval whose text joins theirs; gaps become empty intervals. Zero-length rows
    cannot be shown as intervals and are left out. One conversation per TextGrid.

    Args:
        table: SEGMENTS or TURNS rows of one conversation.
        xmin: grid start, seconds (default 0: the session start).
        xmax: grid end, seconds; default the last row's end.

    Raises:
        ValueError: with several conversations, or rows outside ``[xmin, xmax]``.
    """
    table = _checked(table, "to_textgrid()")
    _one_conversation(table, "to_textgrid()")
    start = float_array(table["start_s"])
    end = float_array(table["end_s"])
    keep = end > start
    top = float(end.max()) if len(end) else xmin
    xmax = top if xmax is None else float(xmax)
    if len(end) and (start.min() < xmin or top > xmax):
        raise ValueError(f"to_textgrid(): rows fall outside [{xmin}, {xmax}] seconds")
    speakers = _str(table["speaker"])[keep].to_numpy()
    texts = _one_line(_str(table["text"]))[keep].to_numpy()
    labels = np.unique(speakers.astype(str)) if len(speakers) else np.array([], dtype=str)
    code = np.searchsorted(labels, speakers.astype(str)) if len(speakers) else np.zeros(0, int)
    blocks = union_blocks(code.astype(np.int64), start[keep], end[keep])
    # join texts per block through Arrow lists (rows sorted by block, empty texts dropped)
    order = np.argsort(blocks.row_block, kind="stable")
    has_text = np.asarray(pd.Series(texts[order], dtype="string").str.len() > 0, dtype=bool)
    counts = np.bincount(blocks.row_block[order][has_text], minlength=len(blocks.group))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    values = pa.array(texts[order][has_text], type=pa.string())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, values), " ")
    block_text = pd.Series(joined.to_pandas(), dtype="string").str.replace('"', '""')

    def num(values: np.ndarray) -> pd.Series:
        return _num(values.astype(np.float64))

    out = [
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\n',
        f"xmin = {xmin!r} \nxmax = {xmax!r} \ntiers? <exists> \nsize = {len(labels)} \nitem []: \n",
    ]
    for tier, name in enumerate(labels):  # one pass per speaker tier, not per row
        mine = blocks.group == tier
        bs, be = blocks.start[mine], blocks.end[mine]
        bt = block_text[mine].to_numpy(dtype=object)
        edges = np.concatenate([[xmin], np.column_stack([bs, be]).ravel(), [xmax]])
        words = np.empty(2 * len(bs) + 1, dtype=object)
        words[:] = ""
        words[1::2] = bt
        lo, hi = edges[:-1], edges[1:]
        real = hi > lo
        lo, hi, words = lo[real], hi[real], words[real]
        n = len(lo)
        quoted = str(name).replace('"', '""')
        out.append(
            f'    item [{tier + 1}]:\n        class = "IntervalTier" \n'
            f'        name = "{quoted}" \n        xmin = {xmin!r} \n        xmax = {xmax!r} \n'
            f"        intervals: size = {n} \n"
        )
        body = (
            "        intervals ["
            + _num(np.arange(1, n + 1))
            + "]:\n            xmin = "
            + num(lo)
            + " \n            xmax = "
            + num(hi)
            + ' \n            text = "'
            + pd.Series(words, dtype="string")
            + '" \n'
        )
        out.append("".join(body))
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
    uri = _no_space(_str(table["conversation_id"]), "conversation id", "to_ctm()")
    words = pa.array(table["words"], type=SEGMENTS.column("words").type, from_pandas=True)
    if isinstance(words, pa.ChunkedArray):
        words = words.combine_chunks()
    flat = pc.list_flatten(words)
    parent = pc.list_parent_indices(words).to_numpy()
    if len(flat) == 0:
        return ""
    word = pd.Series(flat.field("word").to_pandas(), dtype="string")
    word = word.fillna("").str.replace(r"\s+", "_", regex=True)
    w_start = flat.field("start_s").to_numpy(zero_copy_only=False).astype(np.float64)
    w_end = flat.field("end_s").to_numpy(zero_copy_only=False).astype(np.float64)
    conf = flat.field("confidence").to_numpy(zero_copy_only=False).astype(np.float64)
    conf = np.where(np.isnan(conf), float_array(table["confidence"])[parent], conf)
    conf_text = (" " + _fixed3(np.nan_to_num(conf))).where(~np.isnan(conf), "")
    ok = (word != "").to_numpy() & ~np.isnan(w_start) & ~np.isnan(w_end)
    dur = np.maximum(w_end - w_start, 0.0)
    lines = (
        uri.to_numpy()[parent]
        + " 1 "
        + _fixed3(w_start).to_numpy()
        + " "
        + _fixed3(dur).to_numpy()
        + " "
        + word.to_numpy()
        + conf_text.to_numpy()
        + "\n"
    )
    return "".join(lines[ok])


def to_json(segments: pd.DataFrame) -> str:
    """JSON in the tutorial's export shape (times in seconds).

    ``{"totalSegments": n, "segments": [{"conversation_id", "speaker", "text",
    "start_seconds", "end_seconds", "confidence", "is_final", "timestamp"}]}`` where
    ``timestamp`` is the ISO-8601 UTC time the segment was received (``received_at``,
    else ``start_at``), null when unknown. Turns export with ``is_final`` true.
    """
    table = _checked(segments, "to_json()", (*_TIMES, "text", "confidence"))
    n = len(table)

    def col(name: str, default: object) -> pd.Series:
        if name in table.columns:
            return table[name].reset_index(drop=True)
        return pd.Series([default] * n, dtype=object)

    stamp = col("received_at", pd.NaT)
    if "start_at" in table.columns:
        stamp = stamp.fillna(col("start_at", pd.NaT)) if len(stamp) else stamp
    stamp = pd.to_datetime(stamp, utc=True)
    iso = stamp.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").astype(object).where(stamp.notna(), None)
    records = pd.DataFrame(
        {
            "conversation_id": _str(table["conversation_id"]),
            "speaker": _str(table["speaker"]),
            "text": _str(table["text"]),
            "start_seconds": float_array(table["start_s"]),
            "end_seconds": float_array(table["end_s"]),
            "confidence": float_array(table["confidence"]),
            "is_final": col("is_final", True).astype(bool),
            "timestamp": iso,
        }
    )
    body = str(records.to_json(orient="records", force_ascii=False, double_precision=15))
    return '{"totalSegments": ' + json.dumps(n) + ', "segments": ' + body + "}"
