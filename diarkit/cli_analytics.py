"""The Genesys REST commands of the ``diarkit`` command line: ``backfill``, ``reconcile``
and ``names`` (REST clients in ``diarkit.capture.analytics``/``backfill``; the permissions
each needs: docs/backfill.md). Registered on the ``diarkit`` group by ``diarkit.cli``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from diarkit.capture.analytics import AnalyticsClient

_F = TypeVar("_F", bound=Callable[..., Any])


def _api_options(f: _F) -> _F:
    """Environment and credential options shared by backfill, reconcile and names."""
    opts = [
        click.option("--env", "environment", help="Environment domain, e.g. mypurecloud.de."),
        click.option("--region", help="Region name, e.g. eu-central-1 (instead of --env)."),
        click.option("--login-base", help="Explicit OAuth base URL (simulator, proxies)."),
        click.option("--api-base", help="Explicit REST base URL (simulator, proxies)."),
        click.option("--client-id", help="OAuth client id (default: $GENESYS_CLIENT_ID)."),
        click.option("--client-secret-file", type=click.Path(dir_okay=False),
                     help="File holding the client secret (default: $GENESYS_CLIENT_SECRET)."),
        click.option("--per-minute", default=300, show_default=True,
                     type=click.IntRange(min=1),
                     help="Client-side request budget per minute (Genesys: 300 per token)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _analytics_client(kw: dict[str, Any]) -> AnalyticsClient:
    from diarkit.capture.analytics import open_client
    from diarkit.capture.errors import CaptureError
    from diarkit.genesys import UnknownEnvironmentError

    try:
        return open_client(
            environment=kw.pop("environment") or kw.pop("region"),
            login_base=kw.pop("login_base"), api_base=kw.pop("api_base"),
            client_id=kw.pop("client_id"), client_secret_file=kw.pop("client_secret_file"),
            per_minute=kw.pop("per_minute"))
    except (CaptureError, UnknownEnvironmentError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        kw.pop("region", None)


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@_api_options
@click.option("--plural", is_flag=True, help="Use the plural .../transcripturls endpoint.")
@click.option("--conversation", "conversations", multiple=True,
              help="Only this conversation id (repeat).")
@click.option("--wait", "wait_s", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Keep waiting this many seconds for transcripts not ready yet.")
@click.option("--retry-delay", "retry_delays", multiple=True, type=click.FloatRange(min=0),
              help="Seconds to wait after the 1st, 2nd, ... 404 (repeat; the last repeats; "
              "default 60 300 900 3600 14400 43200 86400).")
@click.option("--give-up-after", default=7 * 86400.0, show_default=True,
              type=click.FloatRange(min=0),
              help="Seconds after which a transcript still missing is 'unavailable'.")
@click.option("--list", "list_only", is_flag=True,
              help="Only list what needs back-fill and the pending list; fetch nothing.")
def backfill(dataset: str, plural: bool, conversations: tuple[str, ...], wait_s: float,
             retry_delays: tuple[float, ...], give_up_after: float, list_only: bool,
             **kw: Any) -> None:
    """Fetch post-call transcripts of calls live capture saw only in part into DATASET."""
    from diarkit.capture.backfill import RETRY_DELAYS_S, find_candidates, load_pending

    if list_only:
        click.echo(find_candidates(dataset).to_string(index=False))
        click.echo(load_pending(dataset).to_string(index=False))
        return
    run_backfill(dataset, kw, wait_s=wait_s, plural=plural,
              retry_delays_s=retry_delays or RETRY_DELAYS_S, give_up_after_s=give_up_after,
              conversations=conversations or None)


def run_backfill(dataset: str, kw: dict[str, Any], **options: Any) -> None:
    """``backfill_until`` with a client from CLI options (``capture --backfill-wait`` too);
    prints its summary."""
    from diarkit.capture.analytics import AnalyticsError
    from diarkit.capture.backfill import backfill_until

    client = _analytics_client(kw)
    try:
        summary = backfill_until(dataset, client, **options)
    except (AnalyticsError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
    for line in summary.lines():
        click.echo(line)


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@_api_options
@click.option("--threshold", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="A call disagrees when |diarkit - Genesys| exceeds this many seconds.")
@click.option("--mode", type=click.Choice(["auto", "query", "job"]), default="auto",
              show_default=True, help="Details query (small sets) or async jobs API (large).")
@click.option("--conversation", "conversations", multiple=True,
              help="Only this conversation id (repeat).")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("--per-call", is_flag=True, help="Print every (call, metric) row, not the fleet.")
@click.option("--hold-from", type=click.Choice(["auto", "events", "analytics"]),
              default="auto", show_default=True,
              help="diarkit's holds: the dataset's call events, the analytics details, or "
              "events where the dataset has them.")
@click.option("--out", type=click.Path(dir_okay=False), help="Output file (default: stdout).")
def reconcile(dataset: str, threshold: float, mode: str, conversations: tuple[str, ...],
              fmt: str, per_call: bool, hold_from: str, out: str | None, **kw: Any) -> None:
    """Compare DATASET's talk, hold, silence and overtalk with Genesys analytics and STA."""
    from diarkit.capture.analytics import AnalyticsError, reconcile_dataset

    client = _analytics_client(kw)
    try:
        result = reconcile_dataset(dataset, client, threshold_s=threshold, mode=mode,
                                   conversations=conversations or None, hold_from=hold_from)
    except (AnalyticsError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
    cmp = result.comparison
    table = cmp.per_call if per_call else cmp.fleet
    if fmt == "csv":
        text = table.to_csv(index=False)
    elif fmt == "json":
        text = table.to_json(orient="records", indent=2)
    else:
        text = (f"{len(result.diarkit)} call(s) compared (details via {result.mode}, "
                f"{result.requests} request(s)); threshold {threshold:g} s\n"
                + table.to_string(index=False) + "\n"
                + (f"calls beyond the threshold: {', '.join(cmp.disagreeing)}"
                   if cmp.disagreeing else "no call beyond the threshold"))
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {out}")
    else:
        click.echo(text)


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@_api_options
@click.option("--kind", "kinds", multiple=True,
              type=click.Choice(["users", "queues", "wrapupcodes"]),
              help="What to resolve (repeat; default: all three).")
def names(dataset: str, kinds: tuple[str, ...], **kw: Any) -> None:
    """Resolve user, queue and wrap-up code ids of DATASET to names (DATASET/dims/)."""
    from diarkit.capture.analytics import NAME_KINDS, AnalyticsError, refresh_names

    client = _analytics_client(kw)
    try:
        counts = refresh_names(dataset, client, kinds=kinds or NAME_KINDS)
    except (AnalyticsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
    for kind, n in counts.items():
        click.echo(f"{kind}: {n} name(s) -> {dataset}/dims/{kind}.parquet")
