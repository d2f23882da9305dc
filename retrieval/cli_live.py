"""Live news on the command line: ``retriever feeds``, ``retriever watch``, ``retriever prune``.

Registered on the ``retriever`` group by :func:`register` (retrieval/cli.py), kept apart so
neither module grows past a few hundred lines. Same conventions: results on stdout, logs and
one line per poll on stderr, exit 1 for a domain error.
"""

from __future__ import annotations

import json
import signal
import threading

import click

from retrieval.cli import _engine, _index_option, _model_option, _run
from retrieval.types import Feed


def register(group: click.Group) -> None:
    group.add_command(feeds)
    group.add_command(watch)
    group.add_command(prune)


@click.group()
def feeds() -> None:
    """The RSS/Atom feeds this index follows (polled by `retriever watch`).

    \b
    Examples:
      retriever feeds add https://example.com/rss.xml --every 15 --source "Example News"
      retriever feeds list --json
      retriever feeds remove https://example.com/rss.xml
    """


@feeds.command("add")
@click.argument("url")
@click.option("--every", "every", type=float, default=30.0, show_default=True, metavar="MINUTES",
              help="Minutes between polls (at least 1; ±10% jitter).")
@click.option("--source", default=None, help="Outlet name given to its articles (default: the page's own).")
@_index_option
@_model_option
@click.pass_context
def feeds_add(ctx, url: str, every: float, source: str | None, index, model) -> None:
    """Follow a feed (makes the index when there is none). Adding it again changes its
    interval and source and keeps its state."""

    def go() -> None:
        with _engine(ctx, index, model, create=True) as engine:
            feed, created = engine.add_feed(url, every_minutes=every, source=source)
        click.echo(f"{'following' if created else 'updated'} {feed.url} (every {feed.every_minutes:g} min)")

    _run(go)


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of feeds.")
@_index_option
@click.pass_context
def feeds_list(ctx, as_json: bool, index) -> None:
    """Each feed: interval, last poll, last success, last error, articles added, next poll."""

    def go() -> None:
        with _engine(ctx, index, check_model=False) as engine:
            followed = engine.feeds()
        if as_json:
            click.echo(json.dumps([f.to_json() for f in followed], ensure_ascii=False))
        elif not followed:
            click.echo("No feeds. Follow one with `retriever feeds add URL`.")
        else:
            click.echo("\n".join(describe_feed(f) for f in followed))

    _run(go)


@feeds.command("remove")
@click.argument("url")
@_index_option
@click.pass_context
def feeds_remove(ctx, url: str, index) -> None:
    """Stop following a feed (the articles it brought stay; see `retriever prune`)."""

    def go() -> None:
        with _engine(ctx, index, check_model=False) as engine:
            feed = engine.remove_feed(url)
        if feed is None:
            raise click.ClickException(f"the index follows no feed {url!r} (see `retriever feeds list`)")
        click.echo(f"no longer following {feed.url}")

    _run(go)


def describe_feed(feed: Feed) -> str:
    """A feed as its URL and indented status lines."""
    return "\n".join([feed.url, *("  " + line for line in feed.status_lines())])


@click.command()
@click.option("--once", is_flag=True, help="Poll the feeds that are due once, then exit (for cron).")
@_index_option
@_model_option
@click.pass_context
def watch(ctx, once: bool, index, model) -> None:
    """Poll the followed feeds and index their new entries, until stopped.

    One line per poll on stderr. SIGINT or SIGTERM finish the poll in progress (what was
    fetched is committed, nothing is half-written) and exit 0; a second one stops at once.
    A second watcher on the same index stands by while the first runs, so running it
    under systemd and cron together is safe. With RETRIEVER_MAX_AGE_DAYS set, old articles
    are pruned after each round.

    \b
    Examples:
      retriever watch                # forever (systemd)
      retriever watch --once         # */10 * * * * in a crontab
    """
    from retrieval.watch import Watcher

    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        click.echo(f"{signal.Signals(signum).name}: stopping after the poll in progress", err=True)
        stop.set()
        signal.signal(signum, previous[signum])  # a second signal acts at once

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def go() -> None:
        with _engine(ctx, index, model) as engine:
            watcher = Watcher(engine, stop=stop, on_poll=lambda r: click.echo(r.line(), err=True))
            if not engine.feeds():
                click.echo("No feeds to watch yet; add one with `retriever feeds add URL`.", err=True)
            if once:
                if watcher.run_once() is None:
                    click.echo("Another watcher is polling this index; nothing to do.", err=True)
            else:
                watcher.run()
        if stop.is_set():
            click.echo("stopped", err=True)

    try:
        _run(go)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command()
@click.option("--older-than", "days", type=click.IntRange(min=0), required=True, metavar="DAYS",
              help="Remove articles published more than DAYS days ago (undated ones: added then).")
@_index_option
@click.pass_context
def prune(ctx, days: int, index) -> None:
    """Remove old articles with their passages and vectors.

    \b
    Example: retriever prune --older-than 90
    """

    def go() -> None:
        with _engine(ctx, index, check_model=False) as engine:
            removed = engine.prune(days)
        click.echo(f"removed {removed} article(s) published more than {days} days ago")

    _run(go)
