# Two commands for a fresh machine: `make demo` and `make test` (each sets up .venv first).
# Each step says what it does (in Japanese, like everything a user reads); pip itself stays quiet.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test workbook bench examples

$(BIN)/tokenbook: pyproject.toml setup.py
	@echo "準備 1/3: 仮想環境を作成しています（$(VENV)）…"
	@$(PYTHON) -m venv $(VENV)
	@echo "準備 2/3: pip を最新にしています…"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "準備 3/3: tokenbook と依存パッケージ（python-calamine, xlsxwriter, pydantic, typer, xlwings ほか）、"
	@echo "          テスト用パッケージ（pytest, hypothesis, openpyxl, oletools, aiosmtpd ほか）をインストールしています（初回は 30 秒ほど）…"
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@
	@echo "準備ができました: $(BIN)/tokenbook"

demo: $(BIN)/tokenbook
	@echo "デモ: サンプル台帳を作り、週次バッチと月次処理を ./demo に実行します（メールは送りません）…"
	@$(BIN)/tokenbook demo --dir demo

# The tests run in parallel, one process per CPU (pytest-xdist; `make test WORKERS=0` for none),
# handed out one test at a time (`--dist loadgroup`: tests marked xdist_group share a process).
# pytest exits 5 when it collected no tests: that is a failure here, never a pass.
WORKERS ?= auto
test: $(BIN)/tokenbook
	@echo "テスト: すべてのテストを実行します（LibreOffice を使うものを含め、数分かかります）…"
	@$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup; status=$$?; \
	if [ $$status -eq 5 ]; then echo "テストが 1 件も実行されませんでした（pytest の終了コード 5）" >&2; exit 1; fi; exit $$status

workbook: $(BIN)/tokenbook
	$(BIN)/tokenbook new-workbook workbook/tokenbook.xlsm --force

bench: $(BIN)/tokenbook
	$(BIN)/python tests/bench/read_validate.py

# The pictures in workbook/examples/: the demo as `make demo` makes it, at a fixed day, printed by
# LibreOffice (needs soffice, pdftoppm, fonts-ipaexfont and fonts-crosextra-carlito).
examples: $(BIN)/tokenbook
	@echo "見本: デモ（2026/12/01）を作り、印刷される各ページを workbook/examples/ に PNG で書き出します（数分かかります）…"
	@$(BIN)/python tests/tools/render_examples.py
