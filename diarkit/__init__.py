"""diarkit: Genesys Cloud real-time transcription capture and conversation analysis."""

__version__ = "0.1.0"
