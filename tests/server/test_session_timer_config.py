"""The session-timer settings (docs/session-timers.md): TOML file, environment, flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from drachtio.cli import main
from drachtio.server import ConfigError, load_config
from drachtio.server.session_timer import SessionTimerConfig


def test_defaults_are_those_of_the_rfc() -> None:
    config = load_config(secrets=["x"])
    assert config.session_timers == SessionTimerConfig(True, 1800, 90, "uac", 2)
    assert config.session_timer_scale == 1.0


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "drachtio.toml"
    path.write_text(
        'secret = "x"\n'
        "session_expires = 600\n"
        "min_se = 120\n"
        'session_refresher = "uas"\n'
        "max_422_retries = 1\n"
        "session_timer_scale = 0.01\n"
    )
    config = load_config(config_file=path)
    assert config.session_timers == SessionTimerConfig(True, 600, 120, "uas", 1)
    assert config.session_timer_scale == 0.01
    env = {
        "DRACHTIO_SESSION_TIMER": "off",
        "DRACHTIO_SESSION_EXPIRES": "900",
        "DRACHTIO_MIN_SE": "300",
        "DRACHTIO_SESSION_REFRESHER": "uac",
        "DRACHTIO_MAX_422_RETRIES": "0",
    }
    config = load_config(config_file=path, env=env)
    assert config.session_timers == SessionTimerConfig(False, 900, 300, "uac", 0)
    config = load_config(
        config_file=path,
        env=env,
        session_timer=True,
        session_expires=1000,
        min_se=100,
        session_refresher="uas",
        max_422_retries=3,
    )
    assert config.session_timers == SessionTimerConfig(True, 1000, 100, "uas", 3)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('session_timer = "yes"\n', "session_timer: must be true or false, got 'yes'"),
        ("session_expires = 1.5\n", "session_expires: must be an integer, got 1.5"),
        ("session_expires = 60\n", r"session_expires: must be at least min_se \(90\), got 60"),
        ("min_se = 89\n", "min_se: must be at least 90 seconds"),
        ('min_se = "2"\n', "min_se: must be an integer, got '2'"),
        ('session_refresher = "me"\n', "session_refresher: must be uac or uas, got 'me'"),
        ("max_422_retries = -1\n", "max_422_retries: must be 0 or more, got -1"),
        ("session_timer_scale = 0\n", "session_timer_scale: must be a positive number"),
    ],
)
def test_each_bad_value_names_its_setting(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml + 'secret = "x"\n')
    with pytest.raises(ConfigError, match=message):
        load_config(config_file=path)


def test_bad_environment_values_name_the_setting() -> None:
    with pytest.raises(ConfigError, match="session_timer: must be true or false, got 'maybe'"):
        load_config(secrets=["x"], env={"DRACHTIO_SESSION_TIMER": "maybe"})
    with pytest.raises(ConfigError, match="min_se: must be an integer, got 'lots'"):
        load_config(secrets=["x"], env={"DRACHTIO_MIN_SE": "lots"})


def test_serve_flags_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--secret", "x", "--min-se", "30"]) == 2
    assert capsys.readouterr().err == (
        "drachtio: min_se: must be at least 90 seconds (RFC 4028 §5), got 30\n"
    )
    assert main(["serve", "--secret", "x", "--session-refresher", "both"]) == 2
    assert capsys.readouterr().err == (
        "drachtio: session_refresher: must be uac or uas, got 'both'\n"
    )
    assert main(["serve", "--secret", "x", "--session-expires", "100", "--min-se", "120"]) == 2
    assert "session_expires: must be at least min_se (120), got 100" in capsys.readouterr().err
