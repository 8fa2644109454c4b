# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_BASE := $(VENV)/.installed-base
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_BASE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,ray]'
	touch $@ $(STAMP_BASE)

# The main job on the bundled sample: raw pages -> records -> validation -> archive -> SQL -> snapshot -> bag.
# Re-running it is safe: the append of an unchanged batch is a no-op, and the snapshot is rebuilt
# byte for byte (--force).
NA := $(BIN)/newsarchive
demo: $(STAMP_BASE)
	@mkdir -p build
	$(NA) extract datasets/maghress-sample/pages --output build/sample.jsonl --rejects build/rejects.jsonl --quiet
	$(NA) validate build/sample.jsonl --quiet
	$(NA) append build/sample.jsonl --archive archive --quiet
	$(NA) history --archive archive
	$(NA) catalog --archive archive
	@echo "--- cookbook: outlets that stopped publishing"
	$(NA) sql --archive archive "SELECT source, first_date, last_date, articles, days_silent FROM sources WHERE last_date < (SELECT max(published_date) FROM articles) - INTERVAL 12 MONTH ORDER BY last_date"
	@echo "--- cookbook: the same day in French and in Arabic"
	$(NA) sql --archive archive "SELECT fr.published_date, fr.source AS french_source, fr.title AS french_title, ar.source AS arabic_source, ar.title AS arabic_title FROM articles AS fr JOIN articles AS ar ON ar.published_date = fr.published_date AND fr.language = 'fr' AND ar.language = 'ar' ORDER BY fr.published_date, fr.source, ar.source"
	$(NA) search --archive archive Bourita Blinken --limit 3
	$(NA) publish --archive archive --dataset datasets/maghress-sample --version v1.0.0 --output snapshots/v1.0.0 --force
	$(NA) verify snapshots/v1.0.0
	$(NA) deposit snapshots/v1.0.0 --output deposits/v1.0.0 --force
	$(NA) verify deposits/v1.0.0
	@echo "--- explore the archive in your browser (read-only; Ctrl-C stops it):"
	@echo "$(NA) serve --archive archive    # then open http://127.0.0.1:8001/?q=Bourita"

test: $(STAMP_TEST)
	$(BIN)/python -m ruff check toolkit tests bench
	$(BIN)/python -m pytest -q

bench: $(STAMP_TEST)
	$(BIN)/python bench/bench_validate.py
	$(BIN)/python bench/bench_extract.py
	$(BIN)/python bench/bench_append.py
	$(BIN)/python bench/bench_publish.py
	$(BIN)/python bench/bench_search.py

clean:
	rm -rf $(VENV) build archive snapshots deposits .pytest_cache
