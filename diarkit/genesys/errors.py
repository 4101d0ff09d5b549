"""Errors raised by the pure protocol core."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A frame or document does not follow the Genesys wire protocol.

    Attributes:
        path: JSON path of the offending value (``$`` is the whole document).
        reason: what is wrong there, without the path.
    """

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason
        self.path = path


class UnknownEnvironmentError(ValueError):
    """An environment domain or region name that Genesys Cloud does not have."""
