"""cli.py: ``ml-connector mappings check`` output and exit codes, in-process and as the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ml_connector.cli import main
from ml_connector.settings import REPO_ROOT, include_dir

GOOD = include_dir() / "mappings" / "bigcommerce_to_peoplesoft.yaml"


def broken_copy(tmp_path: Path) -> Path:
    path = tmp_path / "bigcommerce_to_peoplesoft.yaml"
    text = GOOD.read_text().replace('HW-1001: {ACCOUNT: "400110"', 'HW-1001: {ACCOUNT: "12345678901"')
    path.write_text(text.replace('  rounding: {ACCOUNT: "799900"}\n', ""))
    return path


def test_valid_files_print_ok_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mappings", "check", str(GOOD)]) == 0
    out, err = capsys.readouterr()
    assert out == f"ok: {GOOD} (13 roles)\n" and err == ""


def test_every_error_is_printed_and_the_exit_code_is_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = broken_copy(tmp_path)
    assert main(["mappings", "check", str(GOOD), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == f"ok: {GOOD} (13 roles)\n"
    assert err.splitlines() == [
        f"{bad}: roles.revenue.by_sku.HW-1001.ACCOUNT: expected a string of at most 10 characters, got '12345678901'",
        f"{bad}: roles.rounding: expected a rule for this required role",
    ]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["mappings", "check"])
    assert caught.value.code == 2
    assert "FILE" in capsys.readouterr().err


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "ml-connector"
    ok = subprocess.run([str(script), "mappings", "check", "include/mappings/bigcommerce_to_jde.yaml"],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (ok.returncode, ok.stdout) == (0, "ok: include/mappings/bigcommerce_to_jde.yaml (13 roles)\n")
    failed = subprocess.run([str(script), "mappings", "check", str(broken_copy(tmp_path))],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert failed.returncode == 1
    assert "roles.rounding: expected a rule for this required role" in failed.stderr
