# Two commands for a fresh machine: `make demo` and `make test` (each sets up .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test workbook bench

$(BIN)/tokenbook: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/tokenbook
	$(BIN)/tokenbook demo --dir demo

# pytest exits 5 when it collected no tests: that is a failure here, never a pass.
test: $(BIN)/tokenbook
	$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest ran no tests" >&2; exit 1; fi; exit $$status

workbook: $(BIN)/tokenbook
	$(BIN)/tokenbook new-workbook workbook/tokenbook.xlsm --force

bench: $(BIN)/tokenbook
	$(BIN)/python tests/bench/read_validate.py
