"""Configuration: environment, .env and TOML sources, secrets hidden, bad values as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gapfill.cli import app
from gapfill.config import load_settings
from gapfill.errors import UserError

runner = CliRunner()


def show() -> dict:
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_defaults_put_everything_under_the_data_dir(isolated_env: Path) -> None:
    config = show()
    data = isolated_env / "data"
    assert config["data_dir"] == str(data)
    assert config["effective_database_url"] == f"sqlite:///{data / 'catalog.sqlite3'}"
    assert config["effective_output_dir"] == str(data / "synthetic")


def test_sources_in_order_env_over_dotenv_over_toml(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_env / "gapfill.toml").write_text(
        "workers = 3\nmax_span_seconds = 120\n[detect]\nfreeze_min_seconds = 4.0\n"
    )
    (isolated_env / ".env").write_text("GAPFILL_WORKERS=5\n")
    config = show()
    assert config["workers"] == 5 and config["max_span_seconds"] == 120
    assert config["detect"]["freeze_min_seconds"] == 4.0
    monkeypatch.setenv("GAPFILL_WORKERS", "7")
    monkeypatch.setenv("GAPFILL_DETECT__BLACK_PICTURE_RATIO", "0.9")
    config = show()
    assert config["workers"] == 7 and config["detect"]["black_picture_ratio"] == 0.9


def test_config_option_names_the_toml_file(isolated_env: Path) -> None:
    other = isolated_env / "site.toml"
    other.write_text("workers = 9\n")
    result = runner.invoke(app, ["--config", str(other), "config", "show", "--json"])
    assert json.loads(result.stdout)["workers"] == 9


def test_secrets_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAPFILL_DATABASE_URL", "postgresql+psycopg://gapfill:hunter2@db/gapfill")
    monkeypatch.setenv("GAPFILL_SECRET_KEY", "very-secret")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0
    assert "hunter2" not in result.stdout and "very-secret" not in result.stdout
    assert "***" in result.stdout


def test_bad_values_are_one_line_user_errors(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPFILL_WORKERS", "many")
    with pytest.raises(UserError, match="workers"):
        load_settings()
    monkeypatch.delenv("GAPFILL_WORKERS")
    (isolated_env / "gapfill.toml").write_text("workers = [unclosed\n")
    with pytest.raises(UserError, match=r"gapfill\.toml"):
        load_settings()
