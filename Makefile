# Everything a fresh machine needs: `make drill`, `make test` and `make bench` create .venv
# and install the project with its extras first. Nothing has to be installed by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test drill bench install clean chromium scan scan-env

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# checkov in a virtualenv of its own: it pins boto3/botocore and more, which clash with ours.
CHECKOV_VERSION := 3.3.30
SCAN_VENV       := .venv-scan
SCAN_STAMP      := $(SCAN_VENV)/.checkov-$(CHECKOV_VERSION)

$(SCAN_STAMP):
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(SCAN_STAMP)

scan-env: $(SCAN_STAMP)

# checkov's rules on the Pulumi program (both stacks, offline); see docs/scan.md.
scan: $(STAMP) $(SCAN_STAMP)
	$(PY) -m infra.scan $(SCAN_ARGS)

# The drill report's HTML is rendered by headless Chromium in the tests (Debian's package;
# CI and fresh machines run as root, so apt-get works as it is).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (for the drill report rendering test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) chromium scan
	$(PY) -m pytest $(PYTEST_ARGS)

# The main job, offline: sandbox up, a checkpointed training job, a regional-outage drill,
# sandbox down, the verdict (exit 0 only when the drill passed).
drill: $(STAMP)
	$(PY) -m infra.drill_job $(DRILL_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(SCAN_VENV) .pytest_cache build *.egg-info
