# modelhost — every command a user or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL_REPOSITORY ?= instance/models
export MODELHOST_MODEL_REPOSITORY ?= $(abspath $(MODEL_REPOSITORY))

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(BIN)/.installed ## Create .venv with the pinned dependencies

.PHONY: train
train: venv ## Train the demo models (iris, breast_cancer, diabetes) into the model repository
	$(BIN)/flask --app app train-demo

.PHONY: models
models: venv ## List the models in the repository with versions, task and metrics
	$(BIN)/flask --app app models

.PHONY: test
test: venv ## Run the unit test suite
	$(BIN)/python -m pytest tests
