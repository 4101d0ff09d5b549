"""Raw capture formats, the Parquet dataset layout, batch conversion and fast loading.

Public entry points: ``build_raw_table`` and ``raw_to_segments`` (pure table building),
``write_raw_part``/``write_gaps``/``write_quarantine`` (atomic dataset writers),
``load_raw``/``load_segments``/``load_gaps`` and ``convert``/``compact``/``rebuild``.
"""

from .dataset import write_gaps, write_quarantine, write_raw_part
from .raw import build_raw_table, frame_hash
from .segments import raw_to_segments

__all__ = [
    "build_raw_table",
    "frame_hash",
    "raw_to_segments",
    "write_gaps",
    "write_quarantine",
    "write_raw_part",
]
