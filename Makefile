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

.PHONY: install run serve test test-data lint bench models deb deb-test deb-arm64-verify clean

# Debian packages come from scripts/apt_deps.sh: `run` needs python3-venv only, `test` also
# needs mosquitto, curl and the .deb build/boot tools.

$(VENV)/.installed: setup.cfg pyproject.toml
	PYTHON=$(PYTHON) bash scripts/apt_deps.sh run
	test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/edge-alpr run $(CONFIG_ARG)

serve: install
	$(VENV)/bin/edge-alpr serve --host $(HOST) --port $(PORT) $(CONFIG_ARG)

# pytest exits 5 when it collected no test: that is a broken suite here, not a pass.
# `test` runs every test but those marked `data`: they read real images from the fixture set in
# tests/data, so a plain clone passes.  `test-data` runs the `data` tests on the full data
# (../shared/data beside the checkout, or EDGE_ALPR_DATA) and fails when it is not there;
# .ci/run runs both.
DATA_DIR := $(or $(EDGE_ALPR_DATA),$(abspath $(CURDIR)/../shared/data))
# A second interpreter with numpy<2 and BOTH TFLite runtimes (tflite-runtime cannot share an
# environment with numpy 2): tests/test_models.py checks that the two give the same outputs.
PARITY_VENV ?= .venv-parity
$(PARITY_VENV)/.installed:
	test -x $(PARITY_VENV)/bin/python || $(PYTHON) -m venv $(PARITY_VENV)
	$(PARITY_VENV)/bin/pip install -q --disable-pip-version-check 'numpy<2' ai-edge-litert tflite-runtime Pillow
	touch $@

test: install $(PARITY_VENV)/.installed
	@PYTHON=$(PYTHON) bash scripts/apt_deps.sh test
	@EDGE_ALPR_PARITY_PYTHON=$(CURDIR)/$(PARITY_VENV)/bin/python $(PY) -m pytest -m "not data" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): failing"; exit 1; fi; \
	exit $$rc

test-data: install
	@test -d "$(DATA_DIR)/detection" || { echo "make test-data: no full data at $(DATA_DIR) (../shared/data beside the checkout, or set EDGE_ALPR_DATA): failing"; exit 1; }
	@EDGE_ALPR_DATA="$(DATA_DIR)" $(PY) -m pytest -m data $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-data: pytest collected no tests (exit 5): failing"; exit 1; fi; \
	exit $$rc

lint: install
	$(PY) -m ruff check edge_alpr tests scripts
	$(PY) -m mypy edge_alpr

bench: install
	$(PY) scripts/bench_models.py && $(PY) scripts/bench_api.py && $(PY) scripts/bench_loop.py

models:
	bash scripts/make_models.sh

# The .deb (debian/, issue 5): built with dpkg-buildpackage -us -uc -b under env -i in a copy of
# the tree (build/deb/<arch>/), then copied into dist/.  ARCH=arm64 builds in an arm64 bookworm
# chroot through qemu-user-static (root).  deb-test: the CI test (debootstrap + systemd-nspawn -b,
# root); deb-arm64-verify: the same on arm64 under qemu (~10 min, not in default CI).
ARCH ?=
deb:
	PYTHON=$(PYTHON) bash scripts/apt_deps.sh test
	ARCH=$(ARCH) sh debian/build-deb.sh

deb-test: install
	@PYTHON=$(PYTHON) bash scripts/apt_deps.sh test
	$(PY) -m pytest -x -q -s tests/test_deb.py

deb-arm64-verify:
	PYTHON=$(PYTHON) bash scripts/apt_deps.sh test
	bash scripts/verify_arm64.sh

clean:
	rm -rf $(VENV) $(PARITY_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
