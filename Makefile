# The README's two commands: `make app` (set up + open the dashboard), `make test` (set up + run the tests).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

setup: $(BIN)/.installed

app: setup
	$(BIN)/streamlit run app.py --server.headless false   # opens the dashboard in your browser

test: setup
	$(BIN)/python -m pytest -q

# The README's screenshots: the browser test writes test-artifacts/screenshots/, this copies them into docs/.
screenshots: setup
	$(BIN)/python -m pytest -q -m browser tests/test_browser.py
	cp test-artifacts/screenshots/*.png docs/screenshots/

.PHONY: setup app test screenshots
