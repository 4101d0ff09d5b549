"""Raw capture formats, the Parquet dataset layout, batch conversion and fast loading.

Public entry points: ``build_raw_table`` and ``raw_to_segments`` (pure table building),
``write_raw_part``/``write_gaps``/``write_quarantine`` (atomic dataset writers),
``load_raw``/``load_segments``/``load_gaps`` and ``convert``/``compact``/``rebuild``.
"""

from .convert import ConvertError, ConvertSummary, compact, convert, rebuild, repair
from .dataset import write_gaps, write_quarantine, write_raw_part
from .load import load_gaps, load_quarantine, load_raw, load_segments
from .raw import build_raw_table, frame_hash
from .readers import UnknownFormatError, detect_format
from .segments import raw_to_segments

__all__ = [
    "ConvertError",
    "ConvertSummary",
    "UnknownFormatError",
    "build_raw_table",
    "compact",
    "convert",
    "detect_format",
    "frame_hash",
    "load_gaps",
    "load_quarantine",
    "load_raw",
    "load_segments",
    "raw_to_segments",
    "rebuild",
    "repair",
    "write_gaps",
    "write_quarantine",
    "write_raw_part",
]
