"""Errors raised by the capture shell; messages name the cause and never carry a secret."""

from __future__ import annotations


class CaptureError(RuntimeError):
    """Base class of every capture failure."""


class AuthError(CaptureError):
    """The OAuth token request was refused (wrong client id/secret, wrong region, ...)."""


class RetryExhaustedError(CaptureError):
    """A request kept failing with retryable errors (429, 5xx, network) until giving up."""


class NotificationsError(CaptureError):
    """A notifications REST call was rejected; ``status`` is the HTTP status (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class BadReplyError(NotificationsError):
    """A REST reply that is not what the API returns (HTML, wrong types): retried."""


class ChannelGoneError(NotificationsError):
    """The notification channel no longer exists (404): create a new one."""


class SubscriptionRejectedError(CaptureError):
    """Every requested topic was rejected: capturing would record nothing."""


class RecorderError(CaptureError):
    """The raw recorder cannot write (disk full, permissions, ...); what was written is kept."""


class StoppedError(CaptureError):
    """A wait was interrupted because the capture is stopping."""
