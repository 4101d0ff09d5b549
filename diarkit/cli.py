"""The ``diarkit`` command line: thin commands, each one library call."""

from __future__ import annotations

import click

from diarkit import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="diarkit")
def cli() -> None:
    """Capture Genesys Cloud real-time transcription and analyse conversations."""


@cli.command()
def demo() -> None:
    """Run the main job end to end on the embedded simulator."""
    from diarkit.demo import run_demo

    run_demo(echo=click.echo)


def main() -> None:
    """Entry point of the ``diarkit`` console script."""
    cli()
