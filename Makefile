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

$(BIN)/.installed: requirements.txt requirements-train.txt requirements-dev.txt
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

.PHONY: lint
lint: venv ## Lint, format and type checks (pyproject.toml): ruff on the Python trees, ruff format and mypy on app/
	$(BIN)/ruff check app tests integration bench
	$(BIN)/ruff format --check app
	$(BIN)/mypy app

.PHONY: test
test: venv ## Run the test suite: unit, page and browser tests (tests/)
	$(BIN)/python -m pytest tests

# --- Apache hosting and the container image (README.md, "Hosting with Apache") -------------------
IMAGE ?= modelhost:latest
BASE_IMAGE ?= debian:bookworm-slim
CONTAINER ?= modelhost
HOST_PORT ?= 8000
DOCKER ?= docker
# Extra CA certificates for pip inside the build (TLS-intercepting proxy). Defaults to this
# host's bundle, of which only the certificates Debian does not ship are passed on.
CA_BUNDLE ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
# Apache started as root runs the app as www-data, which cannot read a Python under /root
# (pyenv): then `make run` uses a virtualenv of the system Python instead of .venv.
RUN_VENV ?= $(if $(filter 0,$(shell id -u)),build/run-venv,$(VENV))
RUN_PYTHON ?= $(if $(filter 0,$(shell id -u)),/usr/bin/python3,$(PYTHON))

$(RUN_VENV)/bin/mod_wsgi-express: requirements.txt requirements-train.txt requirements-apache.txt
	@command -v apxs >/dev/null || { \
	  echo "mod_wsgi is compiled against the local Apache and needs its development files (apxs)."; \
	  echo "Install them with:  apt-get install apache2 apache2-dev"; exit 1; }
	[ -x $(RUN_VENV)/bin/python ] || $(RUN_PYTHON) -m venv $(RUN_VENV)
	@# The training extras too: make run trains the demo models when the repository is empty.
	$(RUN_VENV)/bin/pip install --quiet -r requirements-train.txt
	@# No wheel cache: a cached mod_wsgi wheel may be linked against another Python of the same version.
	$(RUN_VENV)/bin/pip install --quiet --no-cache-dir --force-reinstall -r requirements-apache.txt
	touch $@

# mod_modelhost: Apache module that skips the per-request directory walk (docker/apache/).
APACHE_MODULE ?= build/mod_modelhost.so
$(APACHE_MODULE): docker/apache/mod_modelhost.c docker/apache/build-module.sh
	docker/apache/build-module.sh $@

.PHONY: run
run: $(RUN_VENV)/bin/mod_wsgi-express $(APACHE_MODULE) ## Serve through Apache/mod_wsgi on this host at http://127.0.0.1:8000 (no Docker)
	@[ -n "$$(ls -A "$(MODELHOST_MODEL_REPOSITORY)" 2>/dev/null)" ] || $(RUN_VENV)/bin/flask --app app train-demo
	MODELHOST_HOST=$${MODELHOST_HOST:-127.0.0.1} MODELHOST_PORT=$${MODELHOST_PORT:-$(HOST_PORT)} \
	  MODELHOST_VENV=$(abspath $(RUN_VENV)) MODELHOST_APACHE_MODULE=$(abspath $(APACHE_MODULE)) exec docker/modelhost-start

.PHONY: base-image
BASE_IMAGE_SCRIPT ?= docker/base-image.sh
base-image: ## Build the base image debian:bookworm-slim locally with debootstrap (no registry needed)
	$(BASE_IMAGE_SCRIPT) $(BASE_IMAGE)

# The base image: pulled where a registry answers, built here with debootstrap where none does
# (an air-gapped host), so the Quick start works on either kind of host.
PULL_TIMEOUT ?= 300
.PHONY: base-image-present
base-image-present:
	@$(DOCKER) image inspect $(BASE_IMAGE) >/dev/null 2>&1 || { \
	  echo "Base image $(BASE_IMAGE) is not here: pulling it"; \
	  timeout $(PULL_TIMEOUT) $(DOCKER) pull $(BASE_IMAGE) || { \
	    echo "Base image $(BASE_IMAGE) cannot be pulled (no registry access?): building it here with make base-image"; \
	    $(MAKE) --no-print-directory base-image; }; }

DOCKER_BUILD = $(DOCKER) build -f docker/Dockerfile \
	  $(if $(CA_BUNDLE),--build-arg CA_BUNDLE_PEM="$$(docker/extra-ca-certs.sh $(CA_BUNDLE))") \
	  --build-arg REVISION="$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	  --build-arg CREATED="$$(date -u +%Y-%m-%dT%H:%M:%SZ)"

.PHONY: docker-build
docker-build: base-image-present ## Build the container image modelhost:latest (and the base image if it cannot be pulled)
	$(DOCKER_BUILD) --target serve -t $(IMAGE) .

TRAIN_IMAGE ?= $(IMAGE)-train
.PHONY: docker-build-train
docker-build-train: base-image-present ## Build modelhost:latest-train: the server plus the training extras, for flask train in a container
	$(DOCKER_BUILD) --target train -t $(TRAIN_IMAGE) .

BALANCER_IMAGE ?= modelhost-balancer:latest
.PHONY: docker-build-balancer
docker-build-balancer: base-image-present ## Build modelhost-balancer:latest: Apache's mod_proxy_balancer in front of replicas
	$(DOCKER_BUILD) --target balancer -t $(BALANCER_IMAGE) .

.PHONY: docker-run
docker-run: ## Run the image in the foreground on http://127.0.0.1:8000 (Ctrl-C stops it)
	@$(DOCKER) image inspect $(IMAGE) >/dev/null 2>&1 || $(MAKE) --no-print-directory docker-build
	$(DOCKER) run --rm --name $(CONTAINER) $$([ -t 0 ] && echo -it) \
	  -p 127.0.0.1:$(HOST_PORT):8000 $(DOCKER_RUN_ARGS) $(IMAGE)

.PHONY: docker-stop
docker-stop: ## Stop the container started by make docker-run
	$(DOCKER) stop $(CONTAINER)

.PHONY: docker-logs
docker-logs: ## Follow the logs of the container started by make docker-run
	$(DOCKER) logs --follow $(CONTAINER)

.PHONY: integration
integration: venv ## Build the image, run it, and test it over HTTP (or test BASE_URL when set)
	integration/run.sh

# --- More than one machine (README.md, "More than one machine") --------------------------------
# Replicas behind the balancer with Compose (deploy/compose.yaml): Compose v2 where the docker
# CLI has it, else v1 (docker-compose, Debian's package).
COMPOSE ?= $(shell $(DOCKER) compose version >/dev/null 2>&1 && echo "$(DOCKER) compose" || echo docker-compose)
CLUSTER ?= modelhost
REPLICAS ?= 3
CLUSTER_PORT ?= 8000
CLUSTER_MODELS ?= $(abspath $(MODEL_REPOSITORY))
CLUSTER_ENV = MODELHOST_IMAGE=$(IMAGE) MODELHOST_BALANCER_IMAGE=$(BALANCER_IMAGE) \
	  MODELHOST_CLUSTER_MODELS=$(CLUSTER_MODELS) MODELHOST_CLUSTER_PORT=$(CLUSTER_PORT) CLUSTER=$(CLUSTER)
CLUSTER_COMPOSE = $(COMPOSE) -p $(CLUSTER) -f deploy/compose.yaml

.PHONY: cluster-up
cluster-up: ## Start REPLICAS (3) replicas behind the balancer on http://127.0.0.1:8000, sharing the model repository
	@command -v $(firstword $(COMPOSE)) >/dev/null || { echo "Docker Compose is missing: apt-get install docker-compose (or Docker's compose plugin)"; exit 1; }
	@$(DOCKER) image inspect $(IMAGE) >/dev/null 2>&1 || $(MAKE) --no-print-directory docker-build
	@$(DOCKER) image inspect $(BALANCER_IMAGE) >/dev/null 2>&1 || $(MAKE) --no-print-directory docker-build-balancer
	deploy/cluster.sh models $(CLUSTER_MODELS) $(IMAGE)
	$(CLUSTER_ENV) $(CLUSTER_COMPOSE) up -d --scale modelhost=$(REPLICAS)
	$(CLUSTER_ENV) deploy/cluster.sh wait http://127.0.0.1:$(CLUSTER_PORT) $(REPLICAS)

.PHONY: cluster-down
cluster-down: ## Stop and remove the replicas and the balancer (the model repository stays)
	$(CLUSTER_ENV) $(CLUSTER_COMPOSE) down --remove-orphans

.PHONY: cluster-update
cluster-update: ## Replace the replicas one at a time with the current IMAGE (after make docker-build): no failed request
	$(CLUSTER_ENV) CLUSTER_COMPOSE="$(CLUSTER_COMPOSE)" deploy/cluster.sh update $(CLUSTER) $(IMAGE) http://127.0.0.1:$(CLUSTER_PORT)

.PHONY: cluster-test
cluster-test: venv ## Test replicas behind the balancer under load: docker stop, rolling update, kill, model rollout
	$(MAKE) --no-print-directory docker-build docker-build-balancer
	IMAGE=$(IMAGE) BALANCER_IMAGE=$(BALANCER_IMAGE) $(BIN)/python -m pytest integration/cluster

# --- Into an existing Apache (README.md, "Into an existing Apache") -----------------------------
# A distribution's Apache with its mod_wsgi: the application in APP_PREFIX, the site
# docker/apache/system-apache.conf.example. APACHE_USER (www-data or apache, found by itself),
# SYSTEM_PYTHON (/usr/bin/python3) and DEMO_MODELS=no change the install.
APP_PREFIX ?= /opt/modelhost

.PHONY: install-apache
install-apache: ## Install into APP_PREFIX (/opt/modelhost) for a system Apache with the distribution's mod_wsgi; again to upgrade
	APP_PREFIX=$(APP_PREFIX) deploy/install-system-apache.sh

.PHONY: integration-system-apache
integration-system-apache: venv ## Run the README's install-apache steps in a container of Debian's apache2 and test it over HTTP
	integration/system-apache.sh

.PHONY: bench
bench: venv ## Benchmark modelhost (container, host) against a naive Flask/gunicorn baseline with wrk
	IMAGE=$(IMAGE) $(BIN)/python bench/bench.py

# Not part of CI: 10 minutes by default. DURATION, WARMUP, CONNECTIONS, SAMPLE_INTERVAL,
# MAX_MEMORY_GROWTH and the MODELHOST_* tuning variables change the run (bench/soak.py).
.PHONY: soak
soak: venv ## Soak the container: 10 min at 64 connections of valid, invalid and CSV requests; fails on errors or memory growth
	IMAGE=$(IMAGE) $(BIN)/python bench/soak.py
