# edge-alpr developer and CI entry points.  Everything installs into .venv (it sees the
# system's packages, so a prepared machine installs little; a fresh one gets all from PyPI).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?=
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?= -q
CONFIG_ARG := $(if $(CONFIG),--config $(CONFIG),)

.PHONY: install run serve test test-parity test-deb test-deb-upgrade test-browser test-data lint config-doc bench models deb deb-test deb-arm64-verify clean lock help

# Debian packages come from scripts/package/apt_deps.sh: `run` needs python3-venv only, `test` also
# needs mosquitto, curl, iproute2 and e2fsprogs, `deb` only the package build's tools (dpkg-dev, debhelper...;
# debootstrap for another SUITE or ARCH), `test-deb` all of these and the boot test's tools.

# Quiet: one progress line per step, the output in $(INSTALL_LOG) (its tail and path are printed
# when a step fails; VERBOSE=1 shows it all as it runs).  pip writes its Collecting/Downloading
# lines there (no -q): on a terminal the step's line shows the latest while it runs.
INSTALL_LOG ?= $(CURDIR)/build/install.log
export INSTALL_LOG

$(VENV)/.installed: setup.cfg pyproject.toml
	@PYTHON=$(PYTHON) bash scripts/package/apt_deps.sh run
	@test -x $(PY) || bash scripts/package/step.sh "virtualenv $(VENV) ($(PYTHON))" $(PYTHON) -m venv --system-site-packages $(VENV)
	@bash scripts/package/step.sh "pip install -e '.[test]' into $(VENV)" \
	  $(PY) -m pip install --progress-bar off --disable-pip-version-check -e '.[test]'
	@touch $@
	@echo "installed: $(VENV)/bin/edge-alpr (log: $(INSTALL_LOG))"

install: $(VENV)/.installed

# run and serve: HOST and PORT given on make's command line (make run PORT=8081) take the place of
# the config's api.host/api.port; not given, the config's are used (127.0.0.1 and 8080, the
# defaults above, unless the config says otherwise).  Not from the environment: tcsh exports
# HOST (the machine's name) and many platforms PORT, which would move the API unasked.
ADDR_ARGS = $(if $(and $(filter command line,$(origin HOST)),$(HOST)),--host $(HOST)) \
	$(if $(and $(filter command line,$(origin PORT)),$(PORT)),--port $(PORT))

# what these two start knows it was started by them (an error's fix names ``make run PORT=N``);
# make's own MAKELEVEL reaches everything make starts (``make test``'s tests, a build's tools)
run serve: export EDGE_ALPR_VIA_MAKE = 1

run: install
	$(VENV)/bin/edge-alpr run $(CONFIG_ARG) $(ADDR_ARGS)

serve: install
	$(VENV)/bin/edge-alpr serve $(CONFIG_ARG) $(ADDR_ARGS)

# Test tiers (docs/testing.md).  pytest exits 5 when it collected no test: that is a broken
# suite here, not a pass (PYTEST_RUN turns it into a failure).
#   test         unit + integration through real parts (server socket, mosquitto, SQLite, the
#                bundled models, tests/data): every test not marked data, parity or deb; passes
#                in a plain clone.
#   test-parity  the two TFLite runtimes agree (marked parity), in a second interpreter with
#                numpy<2 and tflite-runtime from wheels (scripts/package/parity_venv.sh); where PyPI has
#                no such wheels for this Python (3.12+) the test is reported SKIPPED with why.
#   test-deb     builds the .deb and boots it in a debootstrap container (tests/test_deb.py,
#                marked deb; root).
#   test-data    the tests marked data on the full data (../shared/data beside the checkout, or
#                EDGE_ALPR_DATA); fails when it is not there.
# .ci/run runs all four.
DATA_DIR := $(or $(EDGE_ALPR_DATA),$(abspath $(CURDIR)/../shared/data))
PARITY_VENV ?= .venv-parity
PARITY_PYTHON ?= $(PYTHON)
PYTEST_RUN = rc=$$?; if [ $$rc -eq 5 ]; then echo "make $@: pytest collected no tests (exit 5): failing"; exit 1; fi; exit $$rc

test: install
	@PYTHON=$(PYTHON) bash scripts/package/apt_deps.sh test
	@$(PY) -m pytest -m "not data and not parity and not deb" $(PYTEST_ARGS); $(PYTEST_RUN)

test-parity: install
	@PYTHON=$(PARITY_PYTHON) bash scripts/package/parity_venv.sh $(PARITY_VENV)
	@if [ -f $(PARITY_VENV)/.unavailable ]; then export EDGE_ALPR_PARITY_UNAVAILABLE="$$(cat $(PARITY_VENV)/.unavailable)"; \
	else export EDGE_ALPR_PARITY_PYTHON=$(CURDIR)/$(PARITY_VENV)/bin/python; fi; \
	$(PY) -m pytest -m parity $(PYTEST_ARGS); $(PYTEST_RUN)

test-deb: install
	@PYTHON=$(PYTHON) bash scripts/package/apt_deps.sh deb
	@EDGE_ALPR_DEB_SUITE=$(SUITE) $(PY) -m pytest -m deb -x -s $(PYTEST_ARGS) tests/test_deb.py; $(PYTEST_RUN)

deb-test: test-deb

# An upgrade from a real older build (tests/test_deb_upgrade.py; root; not in CI: it builds a
# second .deb): FROM=<commit> (built in a clone) or FROM=<path of a .deb>; that build installed and
# used (an edited config, events in the history, events queued for a webhook that is down), this
# checkout's .deb installed over it unattended, then FROM's again (a downgrade).
FROM ?=
# CI=true: a test that cannot run (a mistyped FROM, no root) fails here, asked for by name, not skips
test-deb-upgrade: install
	@test -n "$(FROM)" || { echo "make test-deb-upgrade: name the older build: FROM=<commit> or FROM=<file.deb>"; exit 1; }
	@PYTHON=$(PYTHON) bash scripts/package/apt_deps.sh deb
	@CI=true EDGE_ALPR_DEB_SUITE=$(SUITE) EDGE_ALPR_DEB_FROM=$(FROM) \
	  $(PY) -m pytest -m deb -x -s $(PYTEST_ARGS) tests/test_deb_upgrade.py; $(PYTEST_RUN)

# the console in headless Chromium (tests marked browser; make test runs them too, skipped where
# chromium is missing); EDGE_ALPR_CONSOLE_SCREENSHOT=docs/console.png keeps the screenshot of
# tests/test_console_scene.py, the docs' picture
test-browser: install
	@$(PY) -m pytest -m browser $(PYTEST_ARGS); $(PYTEST_RUN)

test-data: install
	@test -d "$(DATA_DIR)/detection" || { echo "make test-data: no full data at $(DATA_DIR) (../shared/data beside the checkout, or set EDGE_ALPR_DATA): failing"; exit 1; }
	@EDGE_ALPR_DATA="$(DATA_DIR)" $(PY) -m pytest -m data $(PYTEST_ARGS); $(PYTEST_RUN)

lint: install
	$(PY) -m ruff check edge_alpr tests scripts debian
	$(PY) -m mypy edge_alpr

# docs/config.md, the configuration reference generated from the config dataclasses (a test
# fails when it is out of date)
config-doc: install
	$(PY) -m edge_alpr.configref --write docs/config.md

bench: install
	$(PY) -m scripts.bench.bench_models && $(PY) -m scripts.bench.bench_api && $(PY) -m scripts.bench.bench_loop

# The .deb's locks (debian/requirements-py311.txt, -py313.txt, -build.txt): setup.cfg's
# install_requires pinned with the hashes of every platform's wheel, per Python, for amd64 and
# arm64 (debian/lock.py, with uv; needs PyPI).  Run after changing install_requires or
# debian/constraints.txt, or to take new releases; tests/test_lock.py fails while they disagree.
UV_VERSION := $(shell sed -n 's/^UV_VERSION = "\(.*\)"$$/\1/p' debian/lock.py)
lock: install
	@$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(PY) debian/lock.py --uv $(VENV)/bin/uv

models:
	bash scripts/train/make_models.sh

# The .deb (debian/): built with dpkg-buildpackage -us -uc -b under env -i in a copy of the tree
# (build/deb/<suite>-<arch>/), then copied into dist/ as edge-alpr_<version>+deb12_<arch>.deb
# (bookworm; +deb13 trixie: debian/release-changelog.sh); it depends on the building release's
# python3.X.  SUITE=trixie (another release) or ARCH=arm64 (through qemu-user-static) build in a
# debootstrap chroot of that release (root; default: this machine's).  test-deb (above, with
# SUITE= too; deb-test is the old name) is the CI test;
# deb-arm64-verify: the same on arm64 under qemu (~10 min, not in default CI).  Quiet as install
# is: one line per step, the build's output in build/deb/<suite>-<arch>/build.log (VERBOSE=1).
ARCH ?=
SUITE ?=
deb:
	@ARCH=$(ARCH) SUITE=$(SUITE) bash scripts/package/apt_deps.sh build
	@ARCH=$(ARCH) SUITE=$(SUITE) sh debian/build-deb.sh

deb-arm64-verify:
	PYTHON=$(PYTHON) bash scripts/package/apt_deps.sh arm64
	SUITE=$(SUITE) bash scripts/package/verify_arm64.sh

clean:
	rm -rf $(VENV) $(PARITY_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# `make help`: the targets, in a line each (a new user's first guess; README.md's Development has more)
help:
	@echo "make install          .venv with edge-alpr and the test tools (pip, from PyPI; as root also python3-venv)"
	@echo "make run              edge-alpr run: the sample images as a camera, the API and console on"
	@echo "                      http://127.0.0.1:8080/ (CONFIG=file, HOST=, PORT=)"
	@echo "make serve            edge-alpr serve: the API only (CONFIG=file, HOST=, PORT=)"
	@echo "make test             the unit and integration tests (about 20 min on 2 cores; as root installs their tools)"
	@echo "make test-parity      the two TFLite runtimes agree (CPython <= 3.11, else SKIPPED)"
	@echo "make test-deb         build the .deb and boot it in a container (root; deb-test is the old name)"
	@echo "make test-deb-upgrade FROM=<commit>: an older commit's .deb, used, then upgraded to this one (root)"
	@echo "make test-browser     the console in headless Chromium"
	@echo "make test-data        model checks on the full data (../shared/data or EDGE_ALPR_DATA)"
	@echo "make lint             ruff and mypy"
	@echo "make config-doc       regenerate docs/config.md from the config's keys"
	@echo "make bench            the model, API and camera loop benchmarks"
	@echo "make models           rebuild the int8 models (the train extra; hours on a CPU)"
	@echo "make deb              the .deb in dist/ (SUITE=trixie, ARCH=arm64 build in a chroot)"
	@echo "make deb-arm64-verify the arm64 .deb built and booted under qemu (~10 min)"
	@echo "make lock             refresh debian/requirements-*.txt after changing install_requires"
	@echo "make clean            remove .venv, build/, dist/ and the caches"
