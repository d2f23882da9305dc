"""``retriever migrate``: copy the index between the embedded folder and Milvus
(retrieval/migrate.py). Registered on the ``retriever`` group like retrieval/cli_live.py."""

from __future__ import annotations

import json

import click

from retrieval.cli import _index_option, _run, _settings


def register(group: click.Group) -> None:
    group.add_command(migrate)


@click.command()
@click.option("--to", "to", type=click.Choice(["milvus"]), help="Copy the index folder into Milvus.")
@click.option("--from", "from_", type=click.Choice(["milvus"]), help="Copy the Milvus index into the index folder.")
@_index_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def migrate(ctx, to: str | None, from_: str | None, index, as_json: bool) -> None:
    """Copy the index between the folder (--index, RETRIEVER_INDEX) and Milvus
    (RETRIEVER_MILVUS_URI, _TOKEN, _COLLECTION, _ANALYZER). Vectors are copied, never embedded
    again; articles already there are skipped, so a stopped migration is finished by running it
    again, and running it twice copies nothing twice.

    \b
    Examples:
      RETRIEVER_MILVUS_URI=http://milvus:19530 retriever migrate --to milvus
      retriever --index ./local-copy migrate --from milvus --json
    """
    if bool(to) == bool(from_):
        raise click.UsageError("give one of --to milvus or --from milvus")
    from retrieval.migrate import migrate as run

    def go() -> None:
        report = run(_settings(ctx, index), to="milvus" if to else "embedded")
        click.echo(json.dumps(report.to_json()) if as_json else report.summary())

    _run(go)
