# Entry points for users, README and CI. Each target sets itself up: a local .venv and node_modules.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20,22
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: demo screenshot test lint typecheck unit unit-fast synth cfn-lint checkov bench clean setup

setup: $(VENV)/.stamp node_modules/.stamp

# The venv is rebuilt when the pinned requirements or the package metadata change.
$(VENV)/.stamp: requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

# checkov pins boto3 and packaging versions that conflict with ours: it lives in its own venv.
CHECKOV_VENV := $(VENV)/checkov
$(CHECKOV_VENV)/.stamp: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

node_modules/.stamp: package.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

demo: setup
	$(BIN)/responder demo --out out/demo

# The README's picture: the top of the demo's report.html (summary and timeline), 1280 px wide, in
# Debian's Chromium (apt-get install -y chromium); the rest of the page is tables, better read live.
screenshot: demo
	$(BIN)/python -m workstation.screenshot out/demo/report.html docs/report.png --width 1280 --max-height 2000

lint: $(VENV)/.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.stamp
	$(BIN)/mypy

# The organization deployment's stacks (hub, member, forwarders), with example ids, linted beside the
# single-account stack.
ORGANIZATION_EXAMPLE := -c responder:deployment=organization -c responder:organizationId=o-a1b2c3d4e5 \
	-c responder:memberOrganizationalUnits=ou-ab12-cdef3456 -c responder:hubRegion=us-east-1 \
	-c responder:regions=us-east-1,eu-west-1

synth: setup
	rm -rf cdk.out cdk.out.organization
	npx --no-install cdk synth --quiet --app "$(BIN)/python app.py" > /dev/null
	npx --no-install cdk synth --quiet --app "$(BIN)/python app.py" -o cdk.out.organization \
		$(ORGANIZATION_EXAMPLE) > /dev/null

cfn-lint: synth
	$(BIN)/cfn-lint cdk.out/*.template.json cdk.out.organization/*.template.json

# Every skipped check carries its reason next to the resource (stacks/constructs/*: checkov metadata).
# BC_SKIP_MAPPING and --skip-download keep checkov offline.
checkov: synth $(CHECKOV_VENV)/.stamp
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -d cdk.out --framework cloudformation --quiet --compact --skip-download
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -d cdk.out.organization --framework cloudformation --quiet --compact --skip-download

unit: $(VENV)/.stamp
	$(BIN)/python -m pytest -n 2

# The inner loop: every unit test, without the suites that synthesize the app or run the whole
# workflow on emulated AWS (about a quarter of the time; `make test` runs everything).
unit-fast: $(VENV)/.stamp
	$(BIN)/python -m pytest -n 2 -m "not synth and not e2e"

test: lint typecheck cfn-lint checkov unit

bench: $(VENV)/.stamp
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules cdk.out cdk.out.organization out .mypy_cache .ruff_cache .pytest_cache
