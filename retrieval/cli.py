"""The ``retriever`` command. Results go to stdout, logs and progress to stderr.

Exit codes: 0 ok, 1 domain error (no index, bad input, failed items), 2 usage.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click
from pydantic import ValidationError

from retrieval.config import Settings, describe_settings_error
from retrieval.errors import IndexMissingError, IngestInterrupted, RetrievalError
from retrieval.types import OTHER_LANGUAGE, AlternativeSource, Answer, Filters, Hit, SearchResult, also_in

log = logging.getLogger("retrieval")


def _index_option(f):
    """``--index`` is accepted before and after the command name."""
    return click.option(
        "--index",
        "index",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Index folder (default: $RETRIEVER_INDEX, else ./index).",
    )(f)


def _model_option(f):
    return click.option(
        "--model",
        default=None,
        help="sentence-transformers model name or path (default: $RETRIEVER_MODEL, else the "
        "packaged all-MiniLM-L6-v2).",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@_index_option
@_model_option
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, index: Path | None, model: str | None, verbose: int) -> None:
    """Answer questions about news articles with verbatim quotes and numbered citations.

    \b
    Examples:
      retriever ingest corpus/ https://example.com/feed.xml
      retriever ask "What did Qureshi say about Afghanistan?"
      retriever search "Afghanistan humanitarian aid" -k 5 --json
      retriever ask --queries questions.jsonl --json > answers.jsonl
      retriever eval my-questions.jsonl
      retriever stats
      retriever feeds add https://example.com/rss.xml --every 15
      retriever watch
      retriever migrate --to milvus
    """
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = {"index": index, "model": model}


def _settings(ctx: click.Context, index: Path | None, model: str | None = None) -> Settings:
    overrides = {}
    if index or ctx.obj.get("index"):
        overrides["index"] = index or ctx.obj["index"]
    if model or ctx.obj.get("model"):
        overrides["model"] = model or ctx.obj["model"]
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise click.ClickException(describe_settings_error(exc)) from exc


def _engine(ctx: click.Context, index: Path | None, model: str | None = None, **kwargs):
    from retrieval.engine import Engine

    return Engine.open(_settings(ctx, index, model), **kwargs)


def _run(fn):
    """Translate domain errors into exit code 1 with a one-line message."""
    try:
        return fn()
    except RetrievalError as exc:
        raise click.ClickException(str(exc)) from exc


def _filters(since: date | None, until: date | None, sources: tuple[str, ...]) -> Filters:
    return Filters(since=since, until=until, sources=tuple(sources))


def _filter_options(f):
    f = click.option("--source", "sources", multiple=True, help="Only this outlet (repeatable).")(f)
    f = click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Published on or before (YYYY-MM-DD).")(f)
    f = click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Published on or after (YYYY-MM-DD).")(f)
    f = click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Date the question is asked (default: today).")(f)
    return f


# ---------------------------------------------------------------------------- ingest


@cli.command()
@click.argument("items", nargs=-1, required=True)
@_index_option
@_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def ingest(ctx, items: tuple[str, ...], index, model, as_json: bool) -> None:
    """Add articles from files, directories, URLs and RSS/Atom feeds.

    \b
    Formats: .txt/.md (optional front matter), .html, .jsonl/.jsonl.gz, feeds, http(s) URLs.
    Unchanged articles are skipped; changed ones replace their old chunks.
    """

    def go() -> None:
        with _engine(ctx, index, model, create=True) as engine:
            report = engine.ingest(list(items), progress=True)
        for r in report.failed:
            click.echo(f"failed: {r.item}: {r.reason}", err=True)
        if as_json:
            click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        click.echo(report.summary(), err=as_json)
        if report.failed:
            sys.exit(1)

    with _signals_interrupt() as received:
        try:
            _run(go)
        except KeyboardInterrupt as exc:
            committed = exc.committed if isinstance(exc, IngestInterrupted) else 0
            click.echo(
                f"{received[-1] if received else 'SIGINT'}: ingest stopped. {committed} article(s) "
                "were committed and are kept; run the same command again to index the rest "
                "(articles already stored are skipped).", err=True)
            sys.exit(128 + (signal.SIGTERM if received and received[-1] == "SIGTERM" else signal.SIGINT))


@contextmanager
def _signals_interrupt() -> Iterator[list[str]]:
    """SIGTERM stops an ingest the way Ctrl-C does: the batches committed are kept and the
    command says so. Yields the names of the signals received."""
    received: list[str] = []

    def on_signal(signum, frame) -> None:
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@cli.command()
@click.argument("ref")
@_index_option
@click.pass_context
def remove(ctx, ref: str, index) -> None:
    """Delete one article by URL or id.

    Removing a story also drops the other outlets it was folded from (near copies, whose text
    is not stored); the URL of one of those outlets removes only that source.
    """

    def go() -> None:
        with _engine(ctx, index, check_model=False) as engine:
            article = engine.remove(ref)
        if article is None:
            raise click.ClickException(f"no article with id or URL {ref!r} in the index")
        if isinstance(article, AlternativeSource):
            click.echo(f"removed {article.url or ref}: another source of a story, which stays")
        else:
            click.echo(f"removed {article.id}: {article.title}")

    _run(go)


# ---------------------------------------------------------------------------- questions


def _read_lines(path: str, what: str) -> list[str]:
    """The lines of a UTF-8 text file ("-" = stdin). A missing, unreadable or binary file is a
    one-line message (exit 1), not a traceback."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if b"\0" in data:
        raise click.ClickException(f"{what} {path} is a binary file (it holds NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise click.ClickException(f"{path}:{line}: not UTF-8 text ({exc.reason})") from exc
    return text.splitlines()


def _read_queries(path: str) -> Iterator[dict]:
    """JSONL objects with question/id/as_of, or plain text one question per line."""
    for number, line in enumerate(_read_lines(path, "queries file"), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise click.ClickException(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row.get("question"), str):
                raise click.ClickException(f"{path}:{number}: missing 'question'")
            if row.get("as_of") not in (None, ""):
                row["as_of"] = _batch_date(row["as_of"], f"{path}:{number}")
        else:
            row = {"question": line}
        row.setdefault("id", str(number))
        yield row


def _batch_date(value, where: str) -> date:
    """A batch line's ``as_of``: YYYY-MM-DD, or that line's error (never silently today)."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise click.ClickException(f"{where}: 'as_of' must be a date as YYYY-MM-DD (got {value!r})")


def _source_line(n: int, title: str, source, published, url, also=()) -> str:
    parts = [f"[{n}] {title}"]
    meta = ", ".join(x for x in (source, also_in(source, also), published.isoformat() if published else None,
                                 url) if x)
    return parts[0] + (f" — {meta}" if meta else "")


def search_hint(query: str) -> str:
    """What to try after a refusal: the closest passages."""
    return f"Try `retriever search {json.dumps(query, ensure_ascii=False)}` to see the closest passages."


def format_answer(answer: Answer) -> str:
    if answer.abstained:
        return answer.note if answer.refusal == OTHER_LANGUAGE else f"{answer.note}\n{search_hint(answer.query)}"
    lines = [answer.text, "", "Sources:"]
    for c in answer.citations:
        lines.append(_source_line(c.n, c.title, c.source, c.published, c.url, c.also))
    return "\n".join(lines)


def format_hits(hits: list[Hit], result: SearchResult | None = None) -> str:
    if not hits:
        return "No passages found."
    out = []
    if result is not None and not result.good_match:
        out.append(f"None of these passages is a good match. {result.note}\n")
    for h in hits:
        out.append(_source_line(h.rank, h.title, h.source, h.published, h.url, h.also))
        text = " ".join(h.text.split())
        out.append("    " + (text if len(text) <= 400 else text[:397] + "…"))
    return "\n".join(out)


def _question_command(kind: str):
    @click.argument("question", required=False)
    @_index_option
    @_model_option
    @click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Passages to retrieve.")
    @click.option("--json", "as_json", is_flag=True, help="JSON on stdout (one object per question).")
    @click.option("--queries", type=click.Path(dir_okay=False, allow_dash=True), help="Batch: JSONL (question, id, as_of) or one question per line.")
    @click.option("--after", metavar="PREVIOUS", help="Read QUESTION as a follow-up to this earlier question "
                  "(\"and what about India?\", \"why?\", \"what did he say…\").")
    @_filter_options
    @click.pass_context
    def command(ctx, question, index, model, k, as_json, queries, after, as_of, since, until, sources):
        if bool(question) == bool(queries):
            raise click.UsageError("give a QUESTION or --queries FILE (not both)")
        if after and queries:
            raise click.UsageError("--after goes with one QUESTION, not with --queries")
        filters = _filters(since and since.date(), until and until.date(), sources)
        understood = ""
        if after:
            from retrieval.followup import Previous, resolve

            resolution = resolve(question, Previous(after, ""))
            question, understood = resolution.question, resolution.label
            if understood and not as_json:
                click.echo(f"Understood: {understood}", err=True)
        rows = list(_read_queries(queries)) if queries else [{"id": None, "question": question}]

        def go() -> None:
            with _engine(ctx, index, model) as engine:
                for row in rows:
                    when = row.get("as_of") or (as_of.date() if as_of else date.today())
                    if kind == "ask":
                        answer = engine.ask(row["question"], k=k or 8, filters=filters, as_of=when)
                        payload = {**answer.to_json(row["id"]), **({"understood": understood} if understood else {})}
                        out = json.dumps(payload, ensure_ascii=False) if as_json else format_answer(answer)
                    else:
                        found = engine.find(row["question"], k=k or 10, filters=filters, as_of=when)
                        payload = {**found.to_json(row["id"]), "query": row["question"],
                                   **({"understood": understood} if understood else {})}
                        out = json.dumps(payload, ensure_ascii=False) if as_json else format_hits(list(found.hits), found)
                    click.echo(out)

        _run(go)

    return command


cli.command(
    "ask",
    help="Answer a question with one to four verbatim sentences and numbered sources.\n\n"
    'Example: retriever ask "What did Qureshi say about Afghanistan?"',
)(_question_command("ask"))
cli.command(
    "search",
    help="List the passages that best match a question, and say when none is a good match "
    "(--json: `good_match` and `note`).\n\n"
    'Example: retriever search "Taliban legitimacy" -k 5 --json',
)(_question_command("search"))


@cli.command("eval")
@click.argument("questions_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@_index_option
@_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the measures as JSON.")
@click.option("--per-question", is_flag=True, help="With --json: include one record per question.")
@click.pass_context
def evaluate_command(ctx, questions_file, index, model, as_json: bool, per_question: bool) -> None:
    """Measure retrieval and answers on your own questions.

    FILE is JSONL with `question`, `answer` and optional `as_of` (YYYY-MM-DD) and `answer_in`
    (URLs of the articles that contain the answer). Reports answer recall within 120/300/600
    words for hybrid, dense-only and lexical-only search, url recall@5, how often the `ask`
    answer contains the expected answer (next to the first 80 words of the top passage),
    citation honesty and the abstention rate.

    \b
    Example: retriever eval questions.jsonl --json
    """
    from retrieval.evaluate import evaluate, format_table, load_questions, summary

    def go() -> None:
        try:
            questions = load_questions(questions_file)
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"{questions_file} is not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise click.ClickException(f"cannot read {questions_file}: {exc.strerror or exc}") from exc
        with _engine(ctx, index, model) as engine:
            result = evaluate(engine, questions)
        if as_json:
            click.echo(json.dumps(result if per_question else summary(result), ensure_ascii=False, default=str))
        else:
            click.echo(format_table(result))

    _run(go)


@cli.command()
@_index_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def stats(ctx, index, as_json: bool) -> None:
    """Articles, chunks, model, index size and last ingest."""

    def go() -> None:
        with _engine(ctx, index, check_model=False) as engine:
            s = engine.stats()
        if as_json:
            click.echo(json.dumps(s.to_json()))
            return
        click.echo(
            f"index:        {s.path}\narticles:     {s.articles}\nchunks:       {s.chunks}\n"
            f"model:        {s.model} ({s.dimension} dimensions)\n"
            f"size:         {_size(s.index_bytes)}\nlast ingest:  {s.last_ingest or 'never'}\n"
            f"oldest:       {s.oldest_published or 'unknown'}\nnewest:       {s.newest_published or 'unknown'}"
        )

    _run(go)


@cli.command()
@click.option("--to", "to", type=click.Choice(["milvus", "embedded"]), default=None,
              help="Copy the index folder (--index) into Milvus (milvus), or Milvus into the folder (embedded).")
@click.option("--from", "from_", type=click.Choice(["milvus", "embedded"]), default=None,
              help="The other way to say it: --from milvus is --to embedded, and so on.")
@_index_option
@click.pass_context
def migrate(ctx, to: str | None, from_: str | None, index) -> None:
    """Copy the index between the embedded folder and Milvus, vectors and all.

    Nothing is embedded again. The Milvus side is the one RETRIEVER_MILVUS_URI,
    RETRIEVER_MILVUS_TOKEN and RETRIEVER_MILVUS_COLLECTION name; the folder is --index. Runs
    again safely: what the target already holds is skipped, so a stopped copy is finished by
    the same command. Signatures of near copies are computed again by the next ingest, and
    topic alerts start from the copy's newest articles.

    \b
    Examples:
      RETRIEVER_MILVUS_URI=http://milvus:19530 retriever migrate --to milvus
      retriever --index local-copy migrate --from milvus
    """
    if (to is None) == (from_ is None):
        raise click.UsageError("say where to copy: --to milvus or --from milvus (one of them)")
    target_kind = to or ("embedded" if from_ == "milvus" else "milvus")
    source_kind = "embedded" if target_kind == "milvus" else "milvus"
    settings = _settings(ctx, index)

    def go() -> None:
        from retrieval.migrate import copy_index
        from retrieval.stores import create_store, describe, find_store, missing_message

        source_settings = settings.model_copy(update={"store": source_kind, "read_only": True})
        target_settings = settings.model_copy(update={"store": target_kind})
        source = find_store(source_settings)
        if source is None:
            raise IndexMissingError(missing_message(source_settings))
        try:
            target = create_store(target_settings, model=source.model, dimension=source.dimension,
                                  chunking=source.chunking)
            try:
                click.echo(f"copying {describe(source_settings)} into {describe(target_settings)}", err=True)

                def progress(report, total: int) -> None:
                    click.echo(f"  {report.articles + report.present}/{total} articles", err=True)

                report = copy_index(source, target, progress=progress)
            finally:
                target.close()
        finally:
            source.close()
        click.echo(report.summary())

    with _signals_interrupt() as received:
        try:
            _run(go)
        except KeyboardInterrupt:
            click.echo(f"{received[-1] if received else 'SIGINT'}: copy stopped. The batches copied are kept; "
                       "run the same command again to copy the rest.", err=True)
            sys.exit(128 + (signal.SIGTERM if received and received[-1] == "SIGTERM" else signal.SIGINT))


def _size(index_bytes: int | None) -> str:
    return f"{index_bytes / 1e6:.1f} MB" if index_bytes is not None else "kept by the server"


from retrieval.cli_live import register  # noqa: E402 (it uses the helpers above)

register(cli)


def main() -> None:
    cli(prog_name="retriever")


if __name__ == "__main__":
    main()
