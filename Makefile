# Two commands on a fresh clone: `make run` and `make test`. Both install into .venv when needed, from the lock
# (requirements/lock.txt: every dependency of the app and the train/dev/cluster extras, exact versions with
# hashes). `make lock` refreshes it; `make check-latest` tries the newest allowed versions. docs/dependencies.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements/lock.txt
EXTRAS := --extra train --extra dev --extra cluster
UV ?= $(if $(wildcard $(BIN)/uv),$(BIN)/uv,uv)
LOCK_ARGS := pyproject.toml $(EXTRAS) --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" -q

.PHONY: install run test test-fast lint bundle bundle-clean bundle-archive clean lock lock-upgrade check-latest

# The lock is checked before anything is installed (a missing or damaged lock: a clear message, exit 2), and
# pip's --require-hashes resolves and verifies every file before it installs any. The stamp is written last,
# so a failed install is retried on the next make instead of leaving a half-installed environment in use.
$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) requirements/check_lock.py $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f $(STAMP)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

# Refresh the lock after changing a range in pyproject.toml (keeps every other pin); lock-upgrade moves every
# pin to the newest allowed version (a deliberate step: run `make check-latest` first, then the full suite).
lock:
	$(UV) pip compile $(LOCK_ARGS) -o $(LOCK)

lock-upgrade:
	$(UV) pip compile $(LOCK_ARGS) --upgrade -o $(LOCK)

# Not in CI: the newest versions pyproject.toml allows, in a throw-away environment, with the suite run on them
# and what changed against the lock printed first. Needs the registry.
check-latest: $(STAMP)
	rm -rf build/latest && mkdir -p build/latest
	$(UV) pip compile pyproject.toml $(EXTRAS) --python-version 3.11 --upgrade -q -o build/latest/requirements.txt
	$(BIN)/python requirements/diff_locks.py $(LOCK) build/latest/requirements.txt
	$(PYTHON) -m venv build/latest/venv
	build/latest/venv/bin/python -m pip install -q -r build/latest/requirements.txt
	build/latest/venv/bin/python -m pip install -q --no-deps -e .
	QT_QPA_PLATFORM=offscreen build/latest/venv/bin/python -m pytest -q -ra -p no:cacheprovider -m "not bundle"

run: $(STAMP)
	$(BIN)/malaria-desktop

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -ra

# The edit-test loop (under a minute on 2 cores): no training, no frozen build, nothing marked slow.
test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -x -m "not slow and not bundle" --ignore=tests/training

# Lint, types and import contracts, configured in pyproject.toml ([tool.ruff], [tool.mypy]) and .importlinter.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The frozen clinic build (dist/malaria-desktop/). Rebuilt only when an input changed: PyInstaller takes
# minutes on a busy 2-core machine. `make bundle-clean` forces a from-scratch build.
BUNDLE_EXE := dist/malaria-desktop/malaria-desktop
BUNDLE_INPUTS := build.spec $(shell find malaria_desktop packaging -type f -not -path '*/__pycache__/*' 2>/dev/null) \
	$(wildcard trained_model/model.onnx trained_model/model_card.json)

bundle: $(BUNDLE_EXE)

# Built in the lock-installed .venv: the bundle carries exactly the locked versions (recorded in its
# build_info.json; tests/test_bundle.py compares them with the lock).
$(BUNDLE_EXE): $(STAMP) $(BUNDLE_INPUTS) $(LOCK)
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build build.spec
	$(BIN)/python -m benchmarks.bundle_size dist/malaria-desktop --top 10
	touch $@

bundle-clean:
	rm -rf build dist
	$(MAKE) bundle

# What the technician receives on Linux: the folder as one archive (tar keeps the Qt library symlinks).
bundle-archive: $(BUNDLE_EXE)
	tar -C dist -czf dist/malaria-desktop-$$($(BIN)/python -c "import malaria_desktop as m; print(m.__version__)")-linux-$$(uname -m).tar.gz malaria-desktop
	ls -l dist/*.tar.gz

clean:
	rm -rf build dist .pytest_cache
