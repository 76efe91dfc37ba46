"""`humanloop-mock cassette import FILE -o OUT` and `humanloop-mock cassette show FILE`."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from mockserver.recording.har import FORMAT, Cassette, Exchange
from mockserver.recording.importers import DEFAULT_INCLUDE, import_file, imported_cassette
from mockserver.recording.store import CassetteError, load_cassette, save_cassette, side_path


def _version() -> str:
    try:
        return version("humanloop-mock")
    except PackageNotFoundError:
        return "unknown"


def exchange_row(number: int, exchange: Exchange) -> list[str]:
    """One exchange as `show` lists it: number, method, path, experiment, kind, status, events, pace."""
    events = exchange.response.content.events
    return [f"#{number}", exchange.request.method, exchange.request.path, exchange.experiment_id() or "-",
            "stream" if exchange.is_stream else "json" if "json" in exchange.response.content.mime_type else "other",
            str(exchange.response.status), "-" if events is None else f"{len(events)} events", exchange.pace]


def describe(cassette: Cassette, path: str) -> list[str]:
    """What `show` prints: a summary line, then one aligned line per exchange."""
    creator = cassette.log.creator
    streams = sum(exchange.is_stream for exchange in cassette.exchanges)
    lines = [f"{path}: {len(cassette.exchanges)} exchanges, {streams} streamed (HAR {cassette.log.version}, "
             f"cassette format {FORMAT}, written by {creator.name} {creator.version})"]
    rows = [exchange_row(number, exchange) for number, exchange in enumerate(cassette.exchanges)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))] if rows else []
    lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    if cassette.recovered:
        lines.append(f"({cassette.recovered} of them recovered from an unfinished recording: {side_path(path)})")
    return lines


@click.group("cassette")
def cassette() -> None:
    """Convert recordings into cassettes, and list what a cassette holds (docs/recording.md)."""


@cassette.command("import")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The cassette to write.")
@click.option("--include", default=DEFAULT_INCLUDE, show_default=True,
              help="Take only calls whose URL path matches this regular expression.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def import_command(source: str, output: str, include: str, force: bool) -> None:
    """Convert a vcrpy cassette (YAML or JSON) or a HAR file into a cassette; streams are cut into events."""
    if Path(output).exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    try:
        result = import_file(source, include)
        if not result.exchanges:
            raise CassetteError(f"{source} ({result.kind}): nothing to import"
                                + (f"; skipped {len(result.skipped)}:\n  " + "\n  ".join(result.skipped)
                                   if result.skipped else ": it records no calls"))
        save_cassette(imported_cassette(result, _version()), output)
    except CassetteError as error:
        raise click.ClickException(str(error)) from None
    streams = sum(exchange.is_stream for exchange in result.exchanges)
    click.echo(f"{source} ({result.kind}): imported {len(result.exchanges)} exchanges ({streams} streamed) "
               f"into {output}" + (f"; skipped {len(result.skipped)}:" if result.skipped else "."))
    for reason in result.skipped:
        click.echo(f"  {reason}")


@cassette.command("show")
@click.argument("path", type=click.Path(dir_okay=False))
def show_command(path: str) -> None:
    """List a cassette's exchanges: method, path, experiment, json or stream, status, events, pace."""
    try:
        loaded = load_cassette(path)
    except CassetteError as error:
        raise click.ClickException(str(error)) from None
    for line in describe(loaded, path):
        click.echo(line)
