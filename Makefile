# Two commands set everything up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the customer catalogs: .po files are committed, the .mo files the service reads are built here
CATALOGS := $(patsubst %.po,%.mo,$(wildcard bot/i18n/locale/*/LC_MESSAGES/messages.po))

.PHONY: install demo test lint format bench clean messages screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

%.mo: %.po $(STAMP)
	$(PY) -m bot.i18n compile

install: $(STAMP) $(CATALOGS)

# after changing customer texts: extract them into the .pot and merge it into each .po
messages: $(STAMP)
	$(PY) -m bot.i18n update

demo: $(STAMP) $(CATALOGS)
	$(VENV)/bin/mpesa-bot demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint $(CATALOGS)
	$(PY) -m pytest -n 2 --dist loadfile

# the screenshots in docs/images/ (payment page, dashboard, send-money form), made by the browser
# tests; a plain test run writes them to a temporary folder only
screenshots: $(STAMP) $(CATALOGS)
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/browser -q -p no:cacheprovider

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
