"""Live capture: the I/O shell around ``diarkit.genesys`` (OAuth, REST, WebSocket, recorder).

- ``TokenSource``: client-credentials tokens, cached and refreshed before expiry.
- ``NotificationsClient``: channels and subscriptions; rejected topics are reported.
- ``Capture``: the session (workers per channel, watchdog, reconnect, follow mode);
  ``CaptureOptions``: how it runs (heartbeat, rolling, frame-size cap, retry caps).
- ``RawRecorder``: spool every frame first, roll spools into durable Parquet parts.
- ``recover_spools``: turn leftover spools into parts (``diarkit recover DIR``).
"""

from .clients import OAuthClient
from .errors import (
    AuthError,
    BadReplyError,
    CaptureError,
    ChannelGoneError,
    NotificationsError,
    RecorderError,
    RetryExhaustedError,
    SubscriptionRejectedError,
)
from .notifications import Channel, NotificationsClient, RejectedTopic, SubscriptionResult
from .options import MAX_FRAME_BYTES, CaptureOptions
from .recorder import RawRecorder, RecoveryReport, recover_spools
from .session import Capture, new_session_id
from .stats import CaptureStats, Gap
from .token import Secret, TokenSource, read_clients_file, read_secret_file

__all__ = [
    "MAX_FRAME_BYTES",
    "AuthError",
    "BadReplyError",
    "Capture",
    "CaptureError",
    "CaptureOptions",
    "CaptureStats",
    "Channel",
    "ChannelGoneError",
    "Gap",
    "NotificationsClient",
    "NotificationsError",
    "OAuthClient",
    "RawRecorder",
    "RecorderError",
    "RecoveryReport",
    "RejectedTopic",
    "RetryExhaustedError",
    "Secret",
    "SubscriptionRejectedError",
    "SubscriptionResult",
    "TokenSource",
    "new_session_id",
    "read_clients_file",
    "read_secret_file",
    "recover_spools",
]
