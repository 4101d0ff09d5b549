"""diarkit: Genesys Cloud real-time transcription capture and conversation analysis."""

__version__ = "0.1.0"

# Loaders are imported lazily so that ``import diarkit.genesys`` stays free of pyarrow.
_LAZY = {
    "load_raw": "diarkit.io.load",
    "load_segments": "diarkit.io.load",
    "load_gaps": "diarkit.io.load",
    "finalize": "diarkit.analysis",
    "filter_confidence": "diarkit.analysis",
    "turns": "diarkit.analysis",
    "talk_stats": "diarkit.analysis",
    "fleet_stats": "diarkit.analysis",
    "to_rttm": "diarkit.analysis",
    "to_webvtt": "diarkit.analysis",
    "to_srt": "diarkit.analysis",
    "to_textgrid": "diarkit.analysis",
    "to_ctm": "diarkit.analysis",
    "to_json": "diarkit.analysis",
    "parse_rttm": "diarkit.analysis",
    "diarization_error": "diarkit.analysis",
    "export_segments": "diarkit.analysis",
    "Capture": "diarkit.capture",
    "TokenSource": "diarkit.capture",
    "NotificationsClient": "diarkit.capture",
    "recover_spools": "diarkit.capture",
    "convert": "diarkit.io",
    "Simulator": "diarkit.sim",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    """Import public functions on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'diarkit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """List the public names, including the lazily imported ones."""
    return sorted(__all__)
