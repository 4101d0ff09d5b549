"""The ``diarkit`` command line: thin commands, each one library call."""

from __future__ import annotations

from collections.abc import Callable

import click

from diarkit import __version__
from diarkit.cli_analytics import backfill, names, reconcile, run_backfill


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="diarkit")
def cli() -> None:
    """Capture Genesys Cloud real-time transcription and analyse conversations."""


@cli.command()
@click.option("--out", default="diarkit-demo", show_default=True, type=click.Path(),
              help="Output folder: dataset/ (Parquet), talk_stats.csv, report.html.")
@click.option("--conversations", default=36, show_default=True, type=click.IntRange(1, 500),
              help="Simulated calls, captured concurrently.")
@click.option("--speed", default=20.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Simulated seconds per wall-clock second.")
@click.option("--seed", default=7, show_default=True, type=int, help="Simulator seed.")
@click.option("--fault", "faults", multiple=True, metavar="KIND[:N]@SECONDS",
              help="Simulator fault after the calls start (repeatable); default: drop@12.")
@click.option("--no-faults", is_flag=True, help="Inject no fault.")
def demo(out: str, conversations: int, speed: float, seed: int, faults: tuple[str, ...],
         no_faults: bool) -> None:
    """Simulate calls, capture them live, analyse, and write an HTML report (./diarkit-demo/)."""
    from diarkit.demo import DEFAULT_FAULTS, run_demo

    plan = () if no_faults else (faults or DEFAULT_FAULTS)
    try:
        run_demo(echo=click.echo, out=out, conversations=conversations, speed=speed, seed=seed,
                 faults=plan)
    except (FileExistsError, RuntimeError, TimeoutError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command()
@click.option("--env", "environment", help="Environment domain, e.g. mypurecloud.de.")
@click.option("--region", help="Region name, e.g. eu-central-1 (instead of --env).")
@click.option("--login-base", help="Explicit OAuth base URL (simulator, proxies).")
@click.option("--api-base", help="Explicit REST base URL (simulator, proxies).")
@click.option("--client-id", help="OAuth client id (default: $GENESYS_CLIENT_ID).")
@click.option(
    "--client-secret-file",
    type=click.Path(dir_okay=False),
    help="File holding the client secret (default: $GENESYS_CLIENT_SECRET).",
)
@click.option("--clients-file", type=click.Path(dir_okay=False),
              help="Several OAuth clients, one 'CLIENT_ID SECRET' per line (chmod 600): "
              "follow mode spreads channels and subscription requests over them "
              "(instead of --client-id/--client-secret-file).")
@click.option("--conversation", "conversations", multiple=True, help="Conversation id (repeat).")
@click.option("--follow-queue", "follow_queues", multiple=True, help="Follow a queue's calls.")
@click.option("--follow-user", "follow_users", multiple=True, help="Follow a user's calls.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Dataset directory.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True),
              help="Stop after this many seconds (default: never).")
@click.option(
    "--heartbeat",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Server heartbeat period in seconds (watchdog: 2.5 periods).",
)
@click.option(
    "--roll-seconds",
    type=float,
    default=5.0,
    show_default=True,
    help="Roll the spool into a Parquet part at least this often (seconds).",
)
@click.option("--keep-heartbeats", is_flag=True, help="Store heartbeat/pong frames too.")
@click.option("--session-id", help="Capture session id (default: time + random).")
@click.option(
    "--source",
    metavar="sqs://QUEUE_URL",
    help="Capture EventBridge events from an SQS queue instead of the WebSocket "
    "(AWS credentials from the usual chain; see docs/eventbridge.md).",
)
@click.option(
    "--visibility-timeout",
    type=click.IntRange(1, 43_200),
    help="With --source sqs://: visibility timeout per receive, seconds (default: the queue's).",
)
@click.option("--quiet", is_flag=True, help="No live status line.")
@click.option("--backfill-wait", type=click.FloatRange(min=0), metavar="SECONDS",
              help="After the capture stops, back-fill what it missed (diarkit backfill), "
              "waiting up to SECONDS for transcripts not ready yet.")
@click.option("--no-timeline", is_flag=True,
              help="Do not rewrite OUT/timeline/timeline.parquet (the reconciled table SQL "
              "tools read) when the capture stops.")
@click.option("--publish", "publish_url", metavar="URL",
              help="After a clean stop, upload OUT to object storage (s3://bucket/prefix) "
              "as `diarkit publish` does; the capture itself writes to the local OUT.")
def capture(
    environment: str | None,
    region: str | None,
    login_base: str | None,
    api_base: str | None,
    client_id: str | None,
    client_secret_file: str | None,
    clients_file: str | None,
    conversations: tuple[str, ...],
    follow_queues: tuple[str, ...],
    follow_users: tuple[str, ...],
    out: str,
    duration: float | None,
    heartbeat: float,
    roll_seconds: float,
    keep_heartbeats: bool,
    session_id: str | None,
    source: str | None,
    visibility_timeout: int | None,
    quiet: bool,
    backfill_wait: float | None = None,
    no_timeline: bool = False,
    publish_url: str | None = None,
) -> None:
    """Capture live transcription events into a Parquet dataset (Ctrl-C stops cleanly)."""
    if environment and region:
        raise click.UsageError("give --env or --region, not both")
    from diarkit.scale.objectstore import is_url

    if publish_url is not None and not is_url(publish_url):
        raise click.BadParameter(f"{publish_url!r} is not an object-store URL "
                                 "(s3://bucket/prefix)", param_hint="--publish")
    if source is not None:
        from diarkit.capture.sqs import run_sqs_capture

        websocket_only = {"--conversation": conversations, "--follow-queue": follow_queues,
                          "--follow-user": follow_users, "--env": environment,
                          "--region": region, "--login-base": login_base,
                          "--api-base": api_base, "--client-id": client_id,
                          "--client-secret-file": client_secret_file,
                          "--clients-file": clients_file}
        given = [flag for flag, value in websocket_only.items() if value]
        if given:
            raise click.UsageError(f"{', '.join(given)}: WebSocket options, not for --source sqs://")

        code = run_sqs_capture(
            out,
            source,
            duration=duration,
            session_id=session_id,
            visibility_timeout_s=visibility_timeout,
            roll_seconds=roll_seconds,
            status_line=not quiet,
            echo=click.echo,
        )
        if code == 0 and not no_timeline:
            _timeline_after_capture(out)
        raise SystemExit(_publish_after_capture(out, publish_url) if code == 0 else code)
    from diarkit.capture.runner import run_capture

    codes: list[int] = []  # the capture's exit code, once it has returned
    step = "capture"
    try:
        codes.append(run_capture(
            out,
            environment=environment or region,
            login_base=login_base,
            api_base=api_base,
            client_id=client_id,
            client_secret_file=client_secret_file,
            clients_file=clients_file,
            conversations=conversations,
            follow_queues=follow_queues,
            follow_users=follow_users,
            duration=duration,
            status_line=not quiet,
            echo=click.echo,
            heartbeat_s=heartbeat,
            roll_seconds=roll_seconds,
            keep_heartbeats=keep_heartbeats,
            session_id=session_id,
            timeline=not no_timeline,
            # nothing but the process's exit follows: a late Ctrl-C changes nothing
            ignore_late_ctrl_c=_OWNS_PROCESS and backfill_wait is None and publish_url is None,
        ))
        code = codes[0]
        if backfill_wait is not None and code == 0:
            step = "back-fill"
            run_backfill(out, {"environment": environment, "region": region,
                            "login_base": login_base, "api_base": api_base,
                            "client_id": client_id, "client_secret_file": client_secret_file,
                            "per_minute": 300}, wait_s=backfill_wait)
            if not no_timeline:  # the back-filled transcripts belong in the timeline too
                from diarkit.io.timeline import write_timeline

                write_timeline(out)
        if code == 0 and publish_url is not None:
            step = "publish"
            code = _publish_after_capture(out, publish_url)
    except KeyboardInterrupt:
        # The capture gives SIGINT its previous handler back when it returns (in-process
        # callers need it): a press landing after that is a late one, not a failure.
        if not codes:
            raise  # during its setup (or the instant it restored them): click aborts
        if step == "capture":
            raise SystemExit(codes[0]) from None  # a late press changes nothing
        click.echo(f"interrupted during the {step}: the captured dataset {out} is "
                   "complete", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    raise SystemExit(code)


def _timeline_after_capture(out: str) -> None:
    """Rewrite ``OUT/timeline/timeline.parquet`` after a capture; a failure is one warning.

    Every event is already stored, so the capture still succeeded: ``diarkit rebuild``
    writes the table later.
    """
    from diarkit.io.timeline import write_timeline

    try:
        write_timeline(out)
    except (OSError, ValueError) as exc:
        click.echo(f"warning: {out}/timeline/timeline.parquet not written ({exc}); the events "
                   f"are stored: `diarkit rebuild {out}` writes it", err=True)


def _publish_after_capture(out: str, url: str | None) -> int:
    """``capture --publish``: upload the stopped capture's dataset; 0, or 1 on failure."""
    if url is None:
        return 0
    from diarkit.scale.objectstore import publish_dataset

    try:
        report = publish_dataset(out, url)
    except (ImportError, OSError, ValueError) as exc:
        click.echo(f"error: cannot publish {out} to {url}: {exc}; the local dataset is "
                   f"complete: run `diarkit publish {out} {url}` when fixed", err=True)
        return 1
    click.echo(f"published {len(report.uploaded)} object(s), {report.bytes / 1e6:.1f} MB to "
               f"{url}; {len(report.skipped)} already there")
    return 0


#: Exit codes of the dataset commands (convert, recover, compact, rebuild), documented
#: in docs/reliability.md: done; done with problems to look at (--strict, a damaged
#: spool); nothing done, bad arguments (no input, not a dataset); nothing more done, the
#: disk failed (full, read-only; the dataset stays consistent); another command holds
#: the dataset lock; interrupted (Ctrl-C; rerun to complete).
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_IO, EXIT_BUSY, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def _dataset_command(run: Callable[[], int | None]) -> None:
    """Run a dataset command; each failure is one clear line on stderr and its exit code."""
    from diarkit.capture.recorder import describe_os_error
    from diarkit.io.convert import NoInputError
    from diarkit.io.dataset import DatasetBusyError, NotADatasetError

    try:
        code = run() or EXIT_OK
    except (NoInputError, NotADatasetError) as exc:
        click.echo(f"error: {exc}", err=True)
        code = EXIT_USAGE
    except DatasetBusyError as exc:
        click.echo(f"error: {exc}", err=True)
        code = EXIT_BUSY
    except OSError as exc:
        click.echo(f"error: {describe_os_error(exc, 'cannot write the dataset')}; what was "
                   "written before is consistent, rerun when fixed", err=True)
        code = EXIT_IO
    except KeyboardInterrupt:
        click.echo("interrupted: the dataset is valid; rerun the same command to complete it",
                   err=True)
        code = EXIT_INTERRUPTED
    raise SystemExit(code)


@cli.command()
@click.argument("dataset", type=click.Path())
@click.option("--keep-heartbeats", is_flag=True, help="Store heartbeat/pong frames too.")
def recover(dataset: str, keep_heartbeats: bool) -> None:
    """Recover frames left in DATASET/_spool by a killed capture into Parquet parts."""
    from diarkit.capture.runner import run_recover

    _dataset_command(lambda: run_recover(dataset, keep_heartbeats=keep_heartbeats,
                                         echo=click.echo))


@cli.command()
@click.argument("dataset")
@click.option(
    "--dask", "scheduler", metavar="SCHEDULER_ADDRESS", help="Run on this Dask scheduler."
)
@click.option(
    "--local-cluster", type=click.IntRange(min=1), metavar="N",
    help="Run on a local Dask cluster of N worker processes (127.0.0.1).",
)
@click.option(
    "--memory-limit", default="auto", show_default=True,
    help="Per-worker memory limit of --local-cluster (e.g. 2GiB).",
)
@click.option(
    "--out", type=click.Path(file_okay=False), default="stats", show_default=True,
    help="Directory for conversation_stats.* and fleet_stats.*.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet",
    show_default=True,
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--profile", default="default", show_default=True,
    type=click.Choice(["default", "genesys", "contact_lens", "ccai", "nice"]),
    help="Analysis profile: thresholds and vendor definitions (docs/metrics.md).",
)
@click.option(
    "--min-confidence", type=click.FloatRange(0.0, 1.0), default=None,
    help="Override the profile's confidence threshold (0-1; words only, never talk time).",
)
@click.option("--coverage", is_flag=True,
              help="Add each call's coverage (live, back-fill, unknown shares 0-1; complete).")
@click.option("--complete-only", is_flag=True,
              help="Fleet figures from complete calls only (implies --coverage).")
@click.option("--by", "by", type=click.Choice(["agent", "queue"]), default="agent",
              show_default=True,
              help="Break the fleet table down per agent (user_id) or per queue (queue_id; "
              "each call's first queue); names from DATASET/dims/ when resolved.")
@click.option("--start", "start_at", help="Only calls started from this time on (UTC unless "
              "a zone is given; whole calls).")
@click.option("--end", "end_at", help="Only calls started before this time (UTC unless a "
              "zone is given).")
def stats(
    dataset: str,
    scheduler: str | None,
    local_cluster: int | None,
    memory_limit: str,
    out: str,
    fmt: str,
    quiet: bool,
    profile: str,
    min_confidence: float | None,
    start_at: str | None,
    end_at: str | None,
    coverage: bool = False,
    complete_only: bool = False,
    by: str = "agent",
) -> None:
    """Per-conversation and fleet talk statistics of DATASET (pandas, or Dask at scale).

    DATASET is a dataset directory or a published dataset URL (s3://bucket/prefix).
    """
    from pathlib import Path

    from diarkit.scale.objectstore import is_url
    from diarkit.scale.report import run_stats

    if not is_url(dataset) and not Path(dataset).is_dir():
        raise click.BadParameter(f"directory {dataset!r} does not exist", param_hint="DATASET")

    if scheduler is not None and local_cluster is not None:
        raise click.UsageError("use either --dask or --local-cluster, not both")
    talk: dict[str, object] = {"profile": profile}
    if min_confidence is not None:
        talk["min_confidence"] = min_confidence
    if start_at is not None:
        talk["start"] = _utc(start_at, "--start")
    if end_at is not None:
        talk["end"] = _utc(end_at, "--end")
    try:
        paths = run_stats(
            dataset, out, fmt=fmt, scheduler=scheduler, local_cluster=local_cluster,  # type: ignore[arg-type]
            memory_limit=memory_limit, progress=not quiet, coverage=coverage,
            complete_only=complete_only, by=by, **talk,  # type: ignore[arg-type]
        )
    except (ValueError, OSError) as exc:  # bad dataset/input, unreachable scheduler
        raise click.ClickException(str(exc)) from exc
    for what, path in paths.items():
        click.echo(f"{what}: {path}")


@cli.command()
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of calls and faults.")
@click.option("--conversations", default=12, show_default=True, type=click.IntRange(min=0))
@click.option("--queues", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--agents", default=6, show_default=True, type=click.IntRange(min=1))
@click.option("--speed", default=20.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Call-time seconds per wall-clock second.")
@click.option("--heartbeat", default=30.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds between socket heartbeats.")
@click.option("--call-duration", nargs=2, type=float, default=(120.0, 480.0),
              show_default=True, metavar="MIN MAX", help="Call length range in seconds.")
@click.option("--stagger", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Mean seconds between call starts.")
@click.option("--port", default=0, show_default=True, type=int, help="Port (0: a free one).")
@click.option("--duration", type=float, help="Stop after this many seconds (default: Ctrl-C).")
@click.option("--fault", "faults", multiple=True, metavar="KIND[:N]@SECONDS",
              help="Inject a fault, e.g. drop@30, 429:3@10, truncated:5@20 (repeat).")
@click.option("--chaos", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Also inject a seeded random fault about every SECONDS.")
@click.option("--write-sample", "write_sample", type=click.Path(file_okay=False),
              help="Write the deterministic data sample to this folder and exit.")
@click.option("--start-now", is_flag=True,
              help="Start the calls at once instead of waiting for a subscriber.")
@click.option("--grouping", type=click.Choice(["grouped", "low_latency", "per_frame"]),
              default="grouped", show_default=True,
              help="Transcripts per frame: batched within ~35 s (as documented), ~3-5 s, "
                   "or one per frame.")
@click.option("--transcript-delay", default=0.0, show_default=True,
              type=click.FloatRange(min=0), metavar="SECONDS",
              help="Wall seconds after a call ends until its post-call transcript is ready "
                   "(for diarkit backfill).")
def simulate(
    seed: int, conversations: int, queues: int, agents: int, speed: float, heartbeat: float,
    call_duration: tuple[float, float], stagger: float, port: int, duration: float | None,
    faults: tuple[str, ...], chaos: float | None, write_sample: str | None,
    start_now: bool = False, grouping: str = "grouped", transcript_delay: float = 0.0,
) -> None:
    """Run the embedded Genesys Cloud simulator on 127.0.0.1 (prints URLs and credentials).

    It serves the notifications API and the analytics endpoints (post-call transcripts,
    conversation details, STA metrics, users, queues), so capture, backfill, reconcile and
    names all work against it.
    """
    from diarkit.sim.runner import run_simulate

    try:
        code = run_simulate(
            seed=seed, conversations=conversations, queues=queues, agents=agents, speed=speed,
            heartbeat_s=heartbeat, call_duration_s=call_duration, stagger_s=stagger, port=port,
            duration_s=duration, faults=faults, chaos_every_s=chaos,
            write_sample_dir=write_sample, start_now=start_now, grouping=grouping,
            transcript_delay_s=transcript_delay, echo=click.echo,
        )
    except (ValueError, OSError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    raise SystemExit(code)


def _echo_convert_summary(summary: object) -> None:
    for line in summary.lines():  # type: ignore[attr-defined]
        click.echo(line, err=line.startswith("skipped "))


@cli.command(name="convert")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", "dataset", required=True, type=click.Path(file_okay=False),
              help="Output dataset directory (created if missing), or a dataset URL "
              "(s3://bucket/prefix: converted on a local copy, then published).")
@click.option("--strict", is_flag=True,
              help="Exit with status 1 if any input was skipped or any record quarantined.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Threads converting in parallel (default: one per CPU for large inputs).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--no-timeline", is_flag=True,
              help="Do not rewrite DATASET/timeline/timeline.parquet (the reconciled table "
              "for SQL tools) at the end; that step holds the segments in memory.")
@click.option("--staging", type=click.Path(file_okay=False),
              help="With an s3:// output: the local copy to convert in (kept, so the next "
              "run downloads only new objects; default: a temporary directory).")
def convert_cmd(inputs: tuple[str, ...], dataset: str, strict: bool, workers: int | None,
                quiet: bool, no_timeline: bool, staging: str | None = None) -> None:
    """Convert capture files (frame JSONL/.gz, tutorial JSON, post-call transcripts, datasets).

    INPUTS are files, folders and glob patterns; formats are detected by content.
    Rerunning adds nothing twice; bad records go to DATASET/quarantine/.
    """
    from diarkit.io.convert import ConvertError, convert
    from diarkit.io.eventbridge import local_inputs  # s3:// prefixes (docs/eventbridge.md)
    from diarkit.scale.objectstore import convert_to_url, is_url

    if staging is not None and not is_url(dataset):
        raise click.UsageError("--staging is for an s3:// output (-o s3://bucket/prefix)")

    def run_url() -> int:
        code = EXIT_OK
        try:
            with local_inputs(inputs) as paths:
                report = convert_to_url(paths, dataset, staging=staging, strict=strict,
                                        workers=workers, progress=not quiet, timeline=False)
            summary = report.summary
        except ConvertError as exc:
            summary, code = exc.summary, EXIT_PROBLEMS
            report = None
        except ImportError as exc:
            click.echo(f"error: cannot write to {dataset}: {exc}", err=True)
            return EXIT_USAGE
        _echo_convert_summary(summary)
        if report is not None:
            pub = report.publish
            click.echo(f"published {len(pub.uploaded)} object(s), {pub.bytes / 1e6:.1f} MB to "
                       f"{dataset}; {len(pub.skipped)} already there "
                       f"({len(report.mirror.downloaded)} downloaded first)")
        return code

    def run() -> int:
        try:
            with local_inputs(inputs) as paths:
                summary = convert(paths, dataset, strict=strict, workers=workers,
                                  progress=not quiet, timeline=not no_timeline)
        except ConvertError as exc:
            _echo_convert_summary(exc.summary)
            return EXIT_PROBLEMS
        _echo_convert_summary(summary)
        return EXIT_OK

    _dataset_command(run_url if is_url(dataset) else run)


@cli.command()
@click.argument("dataset", type=click.Path())
def compact(dataset: str) -> None:
    """Merge small part files of DATASET (per date) without changing its content."""
    from diarkit.io.maintenance import compact as run

    def go() -> None:
        result = run(dataset)
        click.echo(f"{result.before} raw part(s) -> {result.after} ({result.rows:,} rows merged)")

    _dataset_command(go)


@cli.command()
@click.argument("dataset", type=click.Path())
@click.option("--no-timeline", is_flag=True,
              help="Do not rewrite DATASET/timeline/timeline.parquet at the end.")
def rebuild(dataset: str, no_timeline: bool) -> None:
    """Re-derive every segments part of DATASET from its raw part, then timeline/."""
    from diarkit.io.maintenance import rebuild as run

    _dataset_command(
        lambda: click.echo(f"{run(dataset, timeline=not no_timeline):,} segments rebuilt")
    )



@cli.command()
@click.argument("hypothesis", type=click.Path(exists=True, dir_okay=False))
@click.argument("reference", type=click.Path(exists=True, dir_okay=False))
@click.option("--collar", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds left unscored on EACH side of reference boundaries (md-eval -c).")
@click.option("--skip-overlap", is_flag=True, help="Do not score overlapping reference speech.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text",
              show_default=True,
              help="text: a summary line and one line per conversation; csv/json: one "
              "row/object per conversation plus the total.")
@click.option("--out", type=click.Path(dir_okay=False), help="Output file (default: stdout).")
def der(hypothesis: str, reference: str, collar: float, skip_overlap: bool, fmt: str,
        out: str | None) -> None:
    """Diarization error rate of HYPOTHESIS against REFERENCE (two RTTM files), per call."""
    from diarkit.analysis import diarization_error
    from diarkit.interop import RttmFileError, read_rttm

    try:
        result = diarization_error(
            read_rttm(hypothesis, role="hypothesis"),
            read_rttm(reference, role="reference", require_speech=True),
            collar=collar,
            skip_overlap=skip_overlap,
        )
    except RttmFileError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(f"{hypothesis} vs {reference}: {exc}") from None
    text = _der_text(result, fmt, collar)
    if out:
        from pathlib import Path

        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"der ({fmt}): {out}")
    else:
        click.echo(text, nl=False)


def _der_text(result: object, fmt: str, collar: float) -> str:
    """The ``der`` output: per-conversation rows and the total, as text, CSV or JSON."""
    import json

    table = result.by_conversation.copy()  # type: ignore[attr-defined]
    table["conversation_id"] = table["conversation_id"].astype(str)
    total = {"conversation_id": "TOTAL", **{c: float(getattr(result, c)) for c in (
        "reference_s", "missed_s", "false_alarm_s", "confusion_s", "correct_s", "der")}}
    cols = ["conversation_id", "der", "reference_s", "missed_s", "false_alarm_s",
            "confusion_s", "correct_s"]
    if fmt == "csv":
        import pandas as pd

        rows = pd.concat([table[cols], pd.DataFrame([total])[cols]], ignore_index=True)
        rows.insert(len(cols), "collar_s", collar)
        return str(rows.to_csv(index=False, float_format="%.6g"))
    if fmt == "json":
        def clean(v: object) -> object:
            return None if isinstance(v, float) and v != v else v

        doc = {
            "collar_s": collar,
            "total": {k: clean(v) for k, v in total.items() if k != "conversation_id"},
            "conversations": [{k: clean(v) for k, v in row.items()}
                              for row in table[cols].to_dict(orient="records")],
        }
        return json.dumps(doc, indent=1) + "\n"
    lines = [
        f"DER {100 * result.der:.2f}%  missed {result.missed_s:.3f} s  "  # type: ignore[attr-defined]
        f"false alarm {result.false_alarm_s:.3f} s  "  # type: ignore[attr-defined]
        f"confusion {result.confusion_s:.3f} s  of "  # type: ignore[attr-defined]
        f"{result.reference_s:.3f} s reference speech "  # type: ignore[attr-defined]
        f"(collar +-{collar:g} s; {len(table)} conversations)"
    ]
    for row in table[cols].itertuples(index=False):
        score = "no reference speech" if row.der != row.der else f"DER {100 * row.der:6.2f}%"
        lines.append(f"  {row.conversation_id}  {score}  missed {row.missed_s:.3f} s  "
                     f"false alarm {row.false_alarm_s:.3f} s  confusion "
                     f"{row.confusion_s:.3f} s  of {row.reference_s:.3f} s")
    return "\n".join(lines) + "\n"


#: Export formats that hold one conversation per file.
_ONE_CONVERSATION_FORMATS = ("vtt", "srt", "textgrid")


@cli.command("export")
@click.argument("dataset", type=click.Path(exists=True))
@click.option("--format", "fmt", required=True,
              type=click.Choice(["rttm", "vtt", "srt", "textgrid", "ctm", "json"]))
@click.option("--conversation", help="Conversation id, or the short id reports show "
              "(needed by vtt, srt and textgrid when DATASET holds several).")
@click.option("--min-confidence", type=click.FloatRange(0, 1),
              help="Drop segments below this confidence (0-1), and empty ones.")
@click.option("--turns", "as_turns", is_flag=True, help="Export turns instead of segments.")
@click.option("--out", type=click.Path(dir_okay=False), help="Output file (default: stdout).")
def export_command(
    dataset: str, fmt: str, conversation: str | None, min_confidence: float | None,
    as_turns: bool, out: str | None,
) -> None:
    """Export final segments of DATASET as RTTM, WebVTT, SRT, TextGrid, CTM or JSON."""
    from pathlib import Path

    from diarkit.analysis import export_segments
    from diarkit.io.load import load_segments

    if as_turns and fmt == "ctm":
        raise click.UsageError("--turns does not apply to --format ctm (CTM is word-level)")
    try:
        # a full id loads only its conversation; a short id or a miss reads all ids
        segments = load_segments(dataset, conversations=[conversation] if conversation
                                 else None, words=fmt == "ctm")
        if conversation is not None and segments.empty:
            segments = load_segments(dataset, words=fmt == "ctm")
        ids = sorted(str(c) for c in segments["conversation_id"].astype("string")
                     .dropna().unique())
        if not ids:
            raise click.ClickException(f"{dataset} holds no segments to export")
        if conversation is not None:
            from diarkit.plot import resolve_conversation

            try:
                conversation = resolve_conversation(ids, conversation, "export")
            except ValueError as exc:
                raise click.ClickException(
                    str(exc).replace("export: ", f"--conversation: in {dataset}, ")
                    .replace("is not in the table", "is not there")
                    + f" ({len(ids)} conversations, e.g. {ids[0]})") from None
        elif fmt in _ONE_CONVERSATION_FORMATS and len(ids) > 1:
            raise click.ClickException(
                f"{dataset} holds {len(ids)} conversations and --format {fmt} holds one: "
                f"pass --conversation ID (e.g. --conversation {ids[0][:8]})")
        text = export_segments(segments, fmt, conversation=conversation,
                               min_confidence=min_confidence, as_turns=as_turns)
    except (ValueError, FileNotFoundError) as exc:  # SchemaError and bad input are ValueErrors
        raise click.ClickException(str(exc)) from exc
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"{fmt}: {out}")
    else:
        click.echo(text, nl=False)


def _utc(value: str | None, flag: str) -> object:
    """A --start/--end value as a UTC timestamp (a date or time without a zone is UTC)."""
    if value is None:
        return None
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or time (e.g. 2026-12-01 or "
                                 "2026-12-01T09:00+01:00)", param_hint=flag) from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@cli.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", default="report.html", show_default=True,
              type=click.Path(dir_okay=False), help="The HTML report to write.")
@click.option("--stats-csv", type=click.Path(dir_okay=False),
              help="Where the talk_stats rows go (default: talk_stats.csv next to the report).")
@click.option("--no-stats-csv", is_flag=True, help="Write no talk_stats CSV.")
@click.option("--excel", type=click.Path(dir_okay=False),
              help="Also write the statistics as an Excel workbook (needs openpyxl).")
@click.option("--profile", default="default", show_default=True,
              help="Analysis profile: default, genesys, contact_lens, ccai, nice.")
@click.option("--start", help="Only calls from this time on (UTC unless a zone is given).")
@click.option("--end", help="Only calls before this time (UTC unless a zone is given).")
@click.option("--conversation", "conversations", multiple=True,
              help="Only this conversation id (repeat).")
@click.option("--queue", "queues", multiple=True,
              help="Only calls of this queue (id, start of an id, or name; repeat).")
@click.option("--agent", "agents", multiple=True,
              help="Only calls handled by this agent (user id, its start, or name; repeat).")
@click.option("--title", help="Report title.")
@click.option("--timelines", default=3, show_default=True, type=click.IntRange(0, 50),
              help="Call timelines drawn (flagged calls first).")
@click.option("--force", is_flag=True,
              help="Overwrite report/CSV files even when diarkit did not write them.")
@click.option("--complete-only", is_flag=True,
              help="Fleet figures from complete calls only (every second seen live or "
              "back-filled); the per-call table still lists every call with its coverage.")
@click.option("--coverage/--no-coverage", default=None,
              help="Show each call's coverage (default: when back-fill ran or the capture "
              "had gaps).")
def report(dataset: str, out: str, stats_csv: str | None, no_stats_csv: bool,
           excel: str | None, profile: str, start: str | None, end: str | None,
           conversations: tuple[str, ...], queues: tuple[str, ...], agents: tuple[str, ...],
           title: str | None, timelines: int, force: bool, complete_only: bool = False,
           coverage: bool | None = None) -> None:
    """Write an HTML fleet report (and talk_stats.csv) of DATASET, your own converted data."""
    from diarkit.report import NoConversationsError, build_report

    if stats_csv and no_stats_csv:
        raise click.UsageError("use either --stats-csv FILE or --no-stats-csv, not both")
    try:
        result = build_report(
            dataset, out, stats_csv=False if no_stats_csv else (stats_csv or True),
            profile=profile, start=_utc(start, "--start"), end=_utc(end, "--end"),
            conversations=conversations or None, queues=queues, agents=agents, title=title,
            timelines=timelines, overwrite=force, complete_only=complete_only,
            coverage=coverage,
        )
    except FileExistsError as exc:
        raise click.ClickException(
            str(exc).split("; not overwriting", 1)[0] + "; not overwriting it: pass "
            "-o/--stats-csv with another path, or --force") from None
    except NoConversationsError as exc:
        if exc.filters.get("complete_only"):
            raise click.ClickException(str(exc)) from None
        given = " ".join(
            [f"--conversation {c}" for c in conversations] + [f"--queue {q}" for q in queues]
            + [f"--agent {a}" for a in agents]
            + [f"--{k} {v}" for k, v in (("start", start), ("end", end)) if v])
        raise click.ClickException(
            f"no conversation in {dataset} matches {given}" if given else
            f"{dataset} holds no segments to report on") from None
    except ValueError as exc:
        hint = "--profile: " if "unknown profile" in str(exc) else ""
        raise click.ClickException(hint + str(exc)) from None
    click.echo(f"report: {result.report}  ({result.conversations} calls, profile "
               f"{result.profile!r})")
    if result.stats_csv is not None:
        click.echo(f"talk_stats: {result.stats_csv}")
    if excel:
        from diarkit.interop import to_excel
        from diarkit.report import per_call_table

        stats = result.analysis.stats
        try:
            path = to_excel({"talk_stats": stats,
                             "per_call": per_call_table(stats, profile)}, excel)
        except ImportError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"excel: {path}")


# --------------------------------------------------------------------------- post-call
@cli.command()
@click.option("--concurrent-calls", required=True, type=click.IntRange(min=1),
              help="Peak number of calls in progress.")
@click.option("--handle-time-s", required=True, type=click.FloatRange(min=0, min_open=True),
              help="Mean call length, seconds.")
@click.option("--mode", type=click.Choice(["websocket", "eventbridge"]), default="websocket",
              show_default=True, help="Capture path to plan for.")
@click.option("--busy-hours", type=click.FloatRange(0, 24, min_open=True), default=10.0,
              show_default=True, help="Hours a day at the peak (calls/day = rate x hours).")
@click.option("--grouping", type=click.Choice(["grouped", "low_latency", "per_frame"]),
              default="low_latency", show_default=True,
              help="How Genesys groups transcripts into messages (~35 s, ~3-5 s, one each).")
def plan(concurrent_calls: int, handle_time_s: float, mode: str, busy_hours: float,
         grouping: str) -> None:
    """Print what capturing N concurrent calls needs: channels, OAuth clients, requests/min,
    frames/s, GB/day, CPU and EventBridge events; recommend WebSocket or EventBridge."""
    from diarkit.scale.plan import plan_capture

    result = plan_capture(concurrent_calls, handle_time_s, mode,  # type: ignore[arg-type]
                          busy_hours=busy_hours, grouping=grouping)
    click.echo("\n".join(result.lines()))


@cli.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.argument("url")
def publish(dataset: str, url: str) -> None:
    """Upload DATASET to object storage at URL (s3://bucket/prefix) for Dask to read there.

    Each file is written once under its final key (S3 has no rename), raw parts before
    their segments; temporaries are left out; rerunning uploads only what is missing.
    """
    from diarkit.scale.objectstore import is_url, publish_dataset

    if not is_url(url):
        raise click.BadParameter(f"{url!r} is not an object-store URL (s3://bucket/prefix)")
    try:
        report = publish_dataset(dataset, url)
    except (ImportError, OSError, ValueError) as exc:
        raise click.ClickException(f"cannot publish to {url}: {exc}") from None
    click.echo(
        f"published {len(report.uploaded)} object(s), {report.bytes / 1e6:.1f} MB to {url}; "
        f"{len(report.skipped)} already there"
    )


for _command in (backfill, reconcile, names):  # the Genesys REST commands
    cli.add_command(_command)


#: True in the ``diarkit`` process (``main``), which exits when its command returns;
#: False when the commands run inside another program (a test's ``CliRunner``).
_OWNS_PROCESS = False


def main() -> None:
    """Entry point of the ``diarkit`` console script."""
    global _OWNS_PROCESS
    _OWNS_PROCESS = True
    cli()
