# Two commands on a fresh clone: `make run` and `make test`. Both install into .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bundle bundle-clean bundle-archive clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[train,dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/malaria-desktop

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -ra

# Lint and types, configured in pyproject.toml ([tool.ruff], [tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The frozen clinic build (dist/malaria-desktop/). Rebuilt only when an input changed: PyInstaller takes
# minutes on a busy 2-core machine. `make bundle-clean` forces a from-scratch build.
BUNDLE_EXE := dist/malaria-desktop/malaria-desktop
BUNDLE_INPUTS := build.spec $(shell find malaria_desktop resources -type f -not -path '*/__pycache__/*' 2>/dev/null) \
	$(wildcard trained_model/model.onnx trained_model/model_card.json)

bundle: $(BUNDLE_EXE)

$(BUNDLE_EXE): $(STAMP) $(BUNDLE_INPUTS)
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build build.spec
	$(BIN)/python benchmarks/bundle_size.py dist/malaria-desktop --top 10
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
