"""``python -m retrieval`` is the ``retriever`` command."""

from retrieval.cli import main

main()
