# triton-stack: `make up` and `make test` from a fresh clone; each installs what it needs first (stamp files make
# that a no-op of about two seconds once done). Everything installs into the checkout (.venv, .tools,
# node_modules); Debian packages are installed only when running as root. `make setup` installs it all at once.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
CHECKOV_VENV := $(TOOLS)/checkov
LOCUST_VENV := $(TOOLS)/locust
LOCUST := $(LOCUST_VENV)/bin/locust
HELM3 := $(TOOLS)/bin/helm3
HELM4 := $(TOOLS)/bin/helm4
CHARTS := triton-common triton-server triton-routing triton-batch triton-monitoring triton-logging triton-stack triton-loadtest
PYTEST_ARGS ?= -n 2 --dist loadscope
DEBIAN_PACKAGES := prometheus libb64-0d

.PHONY: help setup system-packages venv checkov locust helm node perf-analyzer dependencies test test-cluster test-render test-local e2e lock bump package check-values lint docs up loadtest calibrate bench bench-render bench-batching bench-startup bench-loadgen bench-batch bench-model-analyzer mutate dashboards clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: system-packages venv checkov locust helm node perf-analyzer dependencies ## Install everything the tests need (idempotent)
	@echo "setup done: $$($(HELM3) version --short), $$($(HELM4) version --short), $$($(PY) --version)"

system-packages: ## Debian packages (promtool, libb64 for perf_analyzer); as root only
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "Debian packages present: $(DEBIAN_PACKAGES)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null && echo "installed $$missing"; \
	else echo "NOTE: not root; install these Debian packages yourself: sudo apt-get install $$missing"; fi

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

venv: $(VENV)/.installed ## Python virtualenv with the pinned requirements

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

checkov: $(CHECKOV_VENV)/.installed ## checkov in its own virtualenv (it pins libraries the test venv also uses)

$(LOCUST_VENV)/.installed: requirements-locust.txt
	$(PYTHON) -m venv $(LOCUST_VENV)
	$(LOCUST_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-locust.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

locust: $(LOCUST_VENV)/.installed ## Locust 2.47 (with --processes) and tritonclient[grpc] in their own virtualenv

helm: ## Helm 3 and Helm 4 into .tools/bin (see ci/setup/install-helm.sh for where they come from)
	PYTHON=$(PYTHON) ci/setup/install-helm.sh

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: node_modules/.installed ## readme-generator-for-helm (README value tables)

perf-analyzer: venv ## perf_analyzer from the tritonclient 2.41.0 wheel into .tools/perf_analyzer
	PYTHON=$(PYTHON) ci/setup/install-perf-analyzer.sh

dependencies: helm ## Package the file:// subcharts for the charts that depend on them
	for chart in triton-server triton-routing triton-batch triton-monitoring triton-logging triton-stack triton-loadtest; do $(HELM3) dependency build --skip-refresh charts/$$chart >/dev/null; done

# Installs first: every target of setup is a stamp-file or version check, so a second run costs seconds.
test: setup ## Run the whole suite (installs what it needs first)
	$(PY) -m pytest $(PYTEST_ARGS)

# The kind tier's Kubernetes minor (a node image pinned in ci/cluster/versions.env) and the values file it installs.
KUBE_MINOR ?= 1.29
KIND_VALUES ?= values/ci-kind.yaml

test-cluster: ## The kind tier: create the cluster (ci/cluster/up.sh), then tests/cluster (KUBE_MINOR=1.29|1.36, KIND_VALUES=values/ci-kind.yaml)
	KUBE_MINOR=$(KUBE_MINOR) ci/cluster/up.sh
	PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH KUBECONFIG=$(CURDIR)/.cache/kind/kubeconfig TRITON_STACK_KIND_VALUES=$(KIND_VALUES) \
	  $(PY) -m pytest -m cluster tests/cluster -p no:xdist

e2e: test-cluster ## Same as test-cluster: the kind tier end to end, where Docker and Go (for kind) exist

test-render: ## Only the offline render tiers (schema, render, policy, lint)
	$(PY) -m pytest -m "not local and not cluster" $(PYTEST_ARGS)

test-local: ## Only the local tier (the real tritonserver and Prometheus on loopback)
	$(PY) -m pytest -m local $(PYTEST_ARGS)

lock: dependencies ## Regenerate Chartfile.lock from every chart (refuses a changed chart whose version was not bumped)
	$(PY) -m ci.lock.chartfile

bump: dependencies ## Bump the patch version of every chart changed since the base lock (and its pins), then write Chartfile.lock
	$(PY) -m ci.lock.chartfile --bump

package: dependencies ## helm package every chart into dist/ (what the release workflow pushes as OCI artifacts)
	rm -rf dist && for chart in $(CHARTS); do $(HELM3) package charts/$$chart --destination dist >/dev/null; done; ls dist

lint: ## helm lint --strict (Helm 3 and 4), yamllint, README/schema drift, workflow schemas, Chartfile.lock
	for helm in $(HELM3) $(HELM4); do for chart in $(CHARTS); do \
	  $$helm lint --strict charts/$$chart >/dev/null || { $$helm lint --strict charts/$$chart; exit 1; }; \
	  for f in values/*.yaml; do [ $$chart = triton-stack ] || continue; $$helm lint --strict charts/$$chart -f $$f >/dev/null || { $$helm lint --strict charts/$$chart -f $$f; exit 1; }; done; \
	done; echo "helm lint --strict: $$($$helm version --short) ok"; done
	$(VENV)/bin/yamllint --strict .
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yaml
	$(VENV)/bin/check-jsonschema --builtin-schema custom.github-workflows-require-timeout .github/workflows/*.yaml
	$(PY) -m ci.lock.chartfile --check
	$(PY) -m pytest -q tests/schema

check-values: venv helm ## Explain every problem of a values file, with what to do (FILE=my-values.yaml), then helm lint and render it
	@test -n "$(FILE)" || { echo "usage: make check-values FILE=path/to/values.yaml [FILE2 ...]"; exit 2; }
	HELM=$(HELM3) $(PY) -m ci.hooks.check_values $(FILE)

docs: ## Regenerate the value tables in each chart's README from the @param comments
	for chart in $(CHARTS); do [ $$chart = triton-common ] || node_modules/.bin/readme-generator --values charts/$$chart/values.yaml --readme charts/$$chart/README.md >/dev/null; done
	$(PY) -m ci.docs.real_defaults $(foreach chart,$(filter-out triton-common,$(CHARTS)),charts/$(chart))
	$(PY) -m ci.docs.sync_readme

mutate: ## Mutation run: each mutation of ci/mutate/catalogue.yaml alone in a throwaway copy, offline tiers; lists survivors (known killers first)
	$(PY) -m ci.mutate.run

VALUES ?= values/local.yaml
# A model repository directory of one's own for `make up` (every model in it is served); empty: models/.
MODELS ?=
# CPUs the model-analyzer benchmark gives the server: request (what values/local.yaml requests), a number, or all.
CPUS ?= request

# Only what the server needs: the virtualenv (tritonserver comes in nvidia-pytriton), Helm and the packaged subcharts.
up: venv helm dependencies ## Run the stack without a cluster: the real Triton exactly as the pod would (VALUES=values/local.yaml, MODELS=dir)
	$(PY) ci/local/up.py $(VALUES) $(if $(MODELS),--models "$(MODELS)")

# Where `make loadtest` writes its CSV, HTML and slo.json; extra Locust arguments go in ARGS.
REPORT_DIR ?= reports/loadtest
ARGS ?=

loadtest: locust ## Locust against `make up` (127.0.0.1:8000): the default profile of loadtests/locust.conf; ARGS="--headless -u 8 -t 15s"
	$(LOCUST) --config loadtests/locust.conf --csv $(REPORT_DIR)/locust --html $(REPORT_DIR)/report.html $(ARGS)

calibrate: locust ## Step ramp on the rendered server until p95 crosses the SLO; prints capacity and the autoscaling target
	$(PY) ci/loadtest/calibrate.py $(ARGS)

bench: bench-render bench-batching bench-startup bench-loadgen bench-batch ## All benchmarks

bench-render: ## Unique renders, offline-tier wall time and the raw helm floor
	$(PY) ci/bench/render.py

bench-batching: ## perf_analyzer: shipped config (dynamic batching) vs batching off, concurrency sweep
	$(PY) ci/bench/batching.py

bench-startup: ## Time to ready, first request after ready vs steady-state p50
	$(PY) ci/bench/startup.py

bench-loadgen: locust ## Load-generator headroom: Locust (HTTP and gRPC, --processes) vs perf_analyzer at the same concurrency
	$(PY) ci/bench/loadgen.py

bench-batch: ## Batch client (one shard of 4000 PNGs, end to end) vs perf_analyzer at the same concurrency, one server
	$(PY) ci/bench/batch.py

bench-model-analyzer: ## Optional: triton-model-analyzer's search vs the shipped config (own venv, ~3 min; CPUS=all unpins)
	$(PY) ci/bench/model_analyzer.py --cpus $(CPUS)

dashboards: ## Redraw docs/images/dashboard-*.png: each Grafana dashboard's queries on a live Prometheus over two local Tritons (~2 min)
	$(PY) -m ci.monitoring.screenshots

clean: ## Remove what setup installed
	rm -rf $(VENV) $(TOOLS) node_modules .cache
