"""Configuration: every problem reported with its key path; secrets from files; env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_config

GOOD = """
[matrix]
homeserver = "http://127.0.0.1:8008"
user_id = "@bot:example.org"
password_file = "{secret}"

[rooms]
support = "!support:example.org"
staff = "!staff:example.org"
"""


def write(tmp_path: Path, text: str) -> Path:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    path = tmp_path / "bot.toml"
    path.write_text(text.replace("{secret}", str(secret)))
    return path


def test_valid_config_reads_secret_file_and_env_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKCHANNEL_BOT__COMMAND_PREFIX", "?")
    config = load_config(write(tmp_path, GOOD))
    assert config.matrix.password == "s3cret"
    assert config.bot.command_prefix == "?"


def test_every_problem_is_reported_with_its_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = GOOD.replace('staff = "!staff:example.org"', 'staff = "general"') + (
        '\n[roles]\nadmins = ["bob"]\nengineeers = []\n\n[web]\nlisten = "everywhere"\n'
    )
    path = write(tmp_path, bad)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    where = {p.where for p in exc.value.problems}
    assert {"rooms.staff", "roles.engineeers", "web.listen"} <= where
    assert any(p.where == "roles.admins.0" and "bob" in p.message for p in exc.value.problems)

    with pytest.raises(SystemExit) as code:
        main(["check-config", str(path)])
    assert code.value.code == 2
    err = capsys.readouterr().err
    for key in ("rooms.staff", "roles.engineeers", "web.listen"):
        assert key in err


def test_missing_secret_file_and_bad_toml(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("{secret}", "/nonexistent/pw"))
    (tmp_path / "pw").unlink()
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "bot.toml")
    assert any("password_file" in p.message for p in exc.value.problems)
    path.write_text("[matrix\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "not valid TOML" in exc.value.problems[0].message


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(write(tmp_path, GOOD))]) == 0
    assert "OK" in capsys.readouterr().out


def test_the_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "config" / "backchannel.example.toml"
    secret = tmp_path / "pw"
    secret.write_text("x")
    text = example.read_text().replace("/run/secrets/backchannel-password", str(secret))
    path = tmp_path / "example.toml"
    path.write_text(text)
    config = load_config(path)
    assert config.rooms.support.startswith("!")
