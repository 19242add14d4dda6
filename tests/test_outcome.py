"""An outcome's exit code follows from what it holds (design §11), like black's Report."""

from tokenbook.outcome import Outcome, busy, failed, unusable
from tokenbook.problems import problem


def test_exit_code_follows_from_what_the_outcome_holds():
    warning = problem("expired-stock", "在庫", 2, "使用期限", "E", "2026-01-01", expires_on="2026-01-01")
    error = problem("bad-postal-code", "申込", 3, "送付先郵便番号", "N", "12-345")
    assert Outcome(["done"]).exit_code == 0
    assert Outcome(["warned"], problems=(warning,)).exit_code == 0  # warnings alone do not change it
    assert Outcome(["found"], problems=(warning, error)).exit_code == 1
    assert failed("エラー: 送れませんでした").exit_code == 1
    assert unusable("ファイルがありません").exit_code == 2
    assert busy("Excel で開かれています").exit_code == 3
    # a refusal wins over anything else the outcome holds
    assert Outcome(problems=(error,), failures=("x",), refused=busy("x").refused).exit_code == 3
