# Two commands on a fresh machine: `make run` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INDEX ?= index
QUESTION ?= What did Qureshi say about Afghanistan?

.PHONY: install run index test bot bench reader clean

install: $(STAMP)

# torch goes in first, pinned, so the CPU build on disk is used instead of a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

CORPUS_FILES := $(shell find corpus -type f 2>/dev/null)

# (Re)build the default index from corpus/ when it is missing or older than a corpus file.
# Ingest is incremental, so a rebuild only embeds what changed.
index: $(INDEX)/.corpus-stamp

$(INDEX)/.corpus-stamp: $(STAMP) $(CORPUS_FILES)
	$(BIN)/retriever --index $(INDEX) ingest corpus/
	touch $@

run: index
	$(BIN)/retriever --index $(INDEX) ask "$(QUESTION)"

bot: index
	$(BIN)/newsbot

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/bench_rtqa.py

# Retrain the shipped reader from ../shared/datasets/rtqa (about 1.5 hours on 2 idle cores;
# retrieval/data/reader/MODEL_CARD.md tells how the shipped one was made).
READER_RUN ?= .bench/reader/run
reader: install
	$(BIN)/python training/make_reader_data.py --out .bench/reader
	$(BIN)/python training/train_reader.py --data .bench/reader --out $(READER_RUN) --max-steps 1610 --export retrieval/data/reader --int8

clean:
	rm -rf $(VENV) $(INDEX) .pytest_cache
