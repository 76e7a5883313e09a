"""``[[alerts]]`` settings: typed, every key checked, and no secret read from (or repeated out of) the file."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from arbscan.config.alerts import EVENTS, AlertConfig
from arbscan.alerts.destinations import Destination, Request, Secret, load_secret
from arbscan.alerts.events import Alert
from arbscan.config.settings import parse_settings
from arbscan.errors import ConfigError

PLANTED_URL = "https://hooks.slack.com/services/T0PLANTED/B0PLANTED/PLANTEDsecretPART"
PLANTED_TOKEN = "123456789:PLANTEDtelegramTOKENpart"


def alerts(*tables):
    return parse_settings({"alerts": list(tables)}).alerts


def refused(table) -> str:
    with pytest.raises(ConfigError) as info:
        alerts(table)
    return str(info.value)


def test_a_full_table_of_each_kind_is_read_with_its_types():
    slack, tg = alerts(
        {"name": "desk", "kind": "slack", "url_env": "DESK_SLACK_URL", "events": ["episode_opened", "halt_raised"],
         "min_net_bps": 25, "min_profit": "1.5", "unreachable_after_s": 600, "stale_after_s": 30,
         "trade_statuses": ["failed", "unknown"], "max_per_minute": 10, "timeout_s": 5, "max_attempts": 3,
         "retry_backoff_s": 0.5, "queue_size": 50},
        {"name": "phone", "kind": "telegram", "token_env": "TG_TOKEN", "chat_id": -1001234, "api_url": "http://127.0.0.1:8081"},
    )
    assert slack == AlertConfig("desk", "slack", url_env="DESK_SLACK_URL", events=("episode_opened", "halt_raised"),
                                min_net_bps=D(25), min_profit=D("1.5"), unreachable_after_s=600.0, stale_after_s=30.0,
                                trade_statuses=("failed", "unknown"), max_per_minute=10, timeout_s=5.0, max_attempts=3,
                                retry_backoff_s=0.5, queue_size=50)
    assert (tg.kind, tg.token_env, tg.chat_id, tg.api_url, tg.events) == (
        "telegram", "TG_TOKEN", "-1001234", "http://127.0.0.1:8081", EVENTS)
    assert slack.secret_env == "DESK_SLACK_URL" and tg.secret_env == "TG_TOKEN"


@pytest.mark.parametrize("key", ["url", "webhook_url", "webhook", "token", "bot_token", "api_key", "secret"])
def test_a_secret_in_the_file_is_refused_without_repeating_it(key):
    message = refused({"name": "desk", "kind": "slack", key: PLANTED_URL})
    assert f"alerts[0].{key}: secrets are not read from the config file" in message
    assert "PLANTED" not in message


@pytest.mark.parametrize("key, value", [("url_env", PLANTED_URL), ("token_env", PLANTED_TOKEN)])
def test_the_secret_pasted_where_its_variable_name_goes_is_refused_without_repeating_it(key, value):
    table = {"name": "x", "kind": "telegram", "chat_id": 1} if key == "token_env" else {"name": "x", "kind": "webhook"}
    message = refused({**table, key: value})
    assert message.startswith(f"alerts[0].{key}: must be the NAME of an environment variable")
    assert "PLANTED" not in message


@pytest.mark.parametrize("api_url", [f"https://api.telegram.org/bot{PLANTED_TOKEN}", "http://user:PLANTED@h:1", "ftp://h"])
def test_telegram_api_url_is_only_an_origin(api_url):
    message = refused({"name": "p", "kind": "telegram", "token_env": "T", "chat_id": 1, "api_url": api_url})
    assert message.startswith("alerts[0].api_url: must be only a scheme, host and port") and "PLANTED" not in message


@pytest.mark.parametrize("table, message", [
    ({"kind": "slack"}, "alerts[0].name: missing"),
    ({"name": "a", "kind": "pager"}, "alerts[0].kind: must be one of webhook, slack, discord, telegram, got 'pager'"),
    ({"name": "a", "kind": "slack", "colour": "red"}, "alerts[0].colour: unknown setting"),
    ({"name": "a", "kind": "slack", "events": ["episode_open"]}, "alerts[0].events[0]: unknown event 'episode_open'"),
    ({"name": "a", "kind": "slack", "trade_statuses": ["open"]}, "alerts[0].trade_statuses[0]: unknown status 'open'"),
    ({"name": "a", "kind": "slack", "chat_id": 1}, "alerts[0].chat_id: not a setting of a slack destination"),
    ({"name": "a", "kind": "telegram", "token_env": "T"}, "alerts[0].chat_id: missing"),
    ({"name": "a", "kind": "discord", "max_attempts": 0}, "alerts[0].max_attempts: must be at least 1, got 0"),
    ({"name": "a", "kind": "discord", "stale_after_s": -1}, "alerts[0].stale_after_s: must be at least 0.0, got -1"),
    ({"name": "a", "kind": "webhook", "min_profit": "lots"}, "alerts[0].min_profit: must be a number, got 'lots'"),
])
def test_every_key_is_checked(table, message):
    assert refused(table).startswith(message)


def test_a_name_listed_twice_is_refused():
    with pytest.raises(ConfigError, match=r"alerts\[1\].name: 'a' is listed twice"):
        alerts({"name": "a", "kind": "slack"}, {"name": "a", "kind": "discord"})


def test_the_secret_comes_from_the_named_variable_and_never_shows():
    cfg = alerts({"name": "desk", "kind": "slack", "url_env": "DESK_URL"})[0]
    secret = load_secret(cfg, {"DESK_URL": PLANTED_URL})
    assert secret.reveal() == PLANTED_URL
    dest = Destination(cfg, secret)
    req = dest.request(Alert("halt_raised", 0.0, "t"))
    for shown in (repr(secret), str(secret), repr(dest), str(dest), repr(req), repr(cfg), f"{secret}"):
        assert "PLANTED" not in shown
    assert req.url == PLANTED_URL
    assert secret.scrub(f"failed posting to {PLANTED_URL}") == "failed posting to ***"


@pytest.mark.parametrize("table, environ, message", [
    ({"name": "desk", "kind": "slack", "url_env": "DESK_URL"}, {},
     "alerts 'desk': environment variable DESK_URL is not set and there is no keyring entry arbscan-alerts/desk"),
    ({"name": "desk", "kind": "slack", "url_env": "DESK_URL"}, {"DESK_URL": "PLANTED-not-a-url"},
     "alerts 'desk': DESK_URL does not hold an http(s) URL"),
    ({"name": "p", "kind": "telegram", "token_env": "TG", "chat_id": 1}, {"TG": "PLANTED token"},
     "alerts 'p': TG does not hold a Telegram bot token"),
])
def test_a_missing_or_malformed_secret_names_the_variable_not_the_value(table, environ, message):
    cfg = alerts(table)[0]
    with pytest.raises(ConfigError) as info:
        load_secret(cfg, environ)
    assert str(info.value).startswith(message) and "PLANTED" not in str(info.value)


def test_secrets_cannot_be_pickled():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret(PLANTED_TOKEN))
    assert "url" not in repr(Request("http://x/PLANTED", b"{}", {}))
