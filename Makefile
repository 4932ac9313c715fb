# Two entry points: `make run` (demo end to end, then the dashboard) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := data/demo

.PHONY: run live test lint demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

# Idempotent: re-importing skips stored posts, classify only sees new ones, detect replaces incidents.
demo: $(VENV)/.runtime
	$(BIN)/miner import $(DEMO)/free-fr.csv.gz --service free --source x
	$(BIN)/miner import $(DEMO)/spotify-en.csv.gz --service spotify --source twcs
	$(BIN)/miner classify --db
	$(BIN)/miner detect --db

run: demo
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true

# No account needed: listen to Bluesky's live stream (Jetstream) for the services of data/services.toml in
# the background (log in data/live.log), with the dashboard in the foreground; Ctrl-C stops both.
live: $(VENV)/.runtime
	@mkdir -p data
	$(BIN)/miner watch --source jetstream --every 1m >> data/live.log 2>&1 & watcher=$$!; \
	trap 'kill $$watcher 2>/dev/null' EXIT INT TERM; \
	echo "listening to Bluesky (log: data/live.log); what is down now: http://127.0.0.1:8501/overview"; \
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true

lint: $(VENV)/.dev
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -n 2

bench: $(VENV)/.dev
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) data/miner.db data/miner.db-wal data/miner.db-shm data/live.log
