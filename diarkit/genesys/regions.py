"""Genesys Cloud environments: region names, domains and the base URLs built from them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import UnknownEnvironmentError

#: Region name -> environment domain, for every Genesys Cloud region.
REGIONS: dict[str, str] = {
    "us-east-1": "mypurecloud.com",
    "us-east-2": "use2.us-gov-pure.cloud",
    "us-west-2": "usw2.pure.cloud",
    "ca-central-1": "cac1.pure.cloud",
    "mx-central-1": "mxc1.pure.cloud",
    "sa-east-1": "sae1.pure.cloud",
    "eu-west-1": "mypurecloud.ie",
    "eu-west-2": "euw2.pure.cloud",
    "eu-central-1": "mypurecloud.de",
    "eu-central-2": "euc2.pure.cloud",
    "eusc-de-east-1": "edee1.eusc-pure.cloud",
    "me-central-1": "mec1.pure.cloud",
    "ap-south-1": "aps1.pure.cloud",
    "ap-southeast-1": "apse1.pure.cloud",
    "ap-southeast-2": "mypurecloud.com.au",
    "ap-northeast-1": "mypurecloud.jp",
    "ap-northeast-2": "apne2.pure.cloud",
    "ap-northeast-3": "apne3.pure.cloud",
}

DOMAINS: dict[str, str] = {domain: region for region, domain in REGIONS.items()}


@dataclass(frozen=True, slots=True)
class Environment:
    """Where an org lives: the OAuth, REST and WebSocket base URLs (no trailing slash).

    ``domain`` and ``region`` are empty for explicit base URLs (simulator, proxies).
    """

    login_base: str
    api_base: str
    streaming_base: str
    domain: str = ""
    region: str = ""

    @property
    def token_url(self) -> str:
        """The client-credentials token endpoint."""
        return f"{self.login_base}/oauth/token"


def _valid_names() -> str:
    return ", ".join(f"{r} ({d})" for r, d in REGIONS.items())


def resolve_environment(
    name: str | None = None,
    *,
    login_base: str | None = None,
    api_base: str | None = None,
    streaming_base: str | None = None,
) -> Environment:
    """Resolve an environment domain, a region name, or explicit base URLs.

    Args:
        name: ``mypurecloud.de``, ``eu-central-1`` or a full ``https://api.<domain>``
            URL; ignored when ``api_base`` is given.
        login_base: explicit OAuth base URL (``http://127.0.0.1:8080`` for the simulator).
        api_base: explicit REST base URL; with it, explicit URLs win over ``name``.
        streaming_base: explicit WebSocket base; defaults to ``api_base`` with ws(s).

    Raises:
        UnknownEnvironmentError: the name is neither a known domain nor region; the
            message lists every valid one.
    """
    if api_base:
        api = api_base.rstrip("/")
        login = (login_base or api_base).rstrip("/")
        if streaming_base:
            stream = streaming_base.rstrip("/")
        else:
            parts = urlsplit(api)
            scheme = "wss" if parts.scheme == "https" else "ws"
            stream = f"{scheme}://{parts.netloc}"
        return Environment(login, api, stream)
    if not name:
        raise UnknownEnvironmentError(
            "no environment given: pass a domain, a region or base URLs; valid: " + _valid_names()
        )
    key = name.strip().lower()
    if "://" in key:
        key = urlsplit(key).netloc
    for prefix in ("login.", "api.", "streaming.", "apps."):
        if key.startswith(prefix) and key[len(prefix) :] in DOMAINS:
            key = key[len(prefix) :]
    key = key.replace("_", "-")
    if key in REGIONS:
        domain = REGIONS[key]
    elif key in DOMAINS:
        domain = key
    else:
        raise UnknownEnvironmentError(
            f"unknown Genesys Cloud environment {name!r}; valid: " + _valid_names()
        )
    return Environment(
        login_base=f"https://login.{domain}",
        api_base=f"https://api.{domain}",
        streaming_base=f"wss://streaming.{domain}",
        domain=domain,
        region=DOMAINS[domain],
    )
