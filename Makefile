# The two commands of the README:
#   make run    - the main job: the quickstart notebook, headless, on the embedded tiny model
#   make test   - every test
# Both first build a virtual environment inside the repo (.venv) with pinned versions.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench venv clean

venv: $(STAMP)

# torch is pinned to the CPU wheel this machine ships; a GPU user installs their own torch first.
$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c requirements/constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/run_notebook.py examples/notebooks/quickstart.ipynb

# The browser test (tests/notebooks/test_browser.py) drives Debian's chromium; playwright cannot
# download its own browser here. Without apt-get (or root) the test is skipped.
CHROMIUM_STAMP := $(VENV)/.chromium

$(CHROMIUM_STAMP): $(STAMP)
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || echo "No /usr/bin/chromium: tests/notebooks/test_browser.py will be skipped."
	@if test -x /usr/bin/chromium; then touch $@; fi

test: $(STAMP) $(CHROMIUM_STAMP)
	$(PY) -m pytest tests

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) outputs
