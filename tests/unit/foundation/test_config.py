from __future__ import annotations

from pathlib import Path

import pytest

from zvans.config import load_settings
from zvans.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ZVANS_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    s = load_settings()
    assert s.database_url == "sqlite:///var/zvans.db"
    assert (s.host, s.port, s.sip_port) == ("127.0.0.1", 8000, 5060)


def test_toml_overrides_defaults_and_env_overrides_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "zvans.toml").write_text('port = 9000\nsip_port = 5070\n')
    s = load_settings()
    assert (s.port, s.sip_port) == (9000, 5070)
    monkeypatch.setenv("ZVANS_PORT", "9100")
    s = load_settings()
    assert (s.port, s.sip_port) == (9100, 5070)


def test_postgres_url_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZVANS_DATABASE_URL", "postgresql://u@127.0.0.1:5432/zv")
    assert load_settings().database_url == "postgresql+psycopg://u@127.0.0.1:5432/zv"


@pytest.mark.parametrize(
    ("key", "value", "expect"),
    [
        ("ZVANS_PORT", "99999", "port"),
        ("ZVANS_PORT", "eighty", "port"),
        ("ZVANS_DATABASE_URL", "mysql://x", "database_url"),
        ("ZVANS_LANGUAGE", "de", "language"),
    ],
)
def test_bad_value_names_the_key(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, expect: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert f"configuration error: {expect}:" in err.value.message


def test_unknown_key_in_toml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "zvans.toml").write_text('prot = 9000\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "prot" in err.value.message


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "zvans.toml").write_text('port = = 1\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "configuration" in err.value.message


def test_rtp_range_must_be_ordered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZVANS_RTP_PORT_MIN", "30000")
    monkeypatch.setenv("ZVANS_RTP_PORT_MAX", "20000")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "rtp_port_max" in err.value.message
