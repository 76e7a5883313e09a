"""map_ccxt_errors: every ccxt exception class has an explicit entry and lands in the arbscan tree."""

import gc
import importlib
import inspect

import pytest

from adapters.base import map_ccxt_errors
from adapters.ccxt.errors import CCXT_ERROR_MAP, translate_ccxt_error
from arbscan import errors as ae

ccxt_errors = importlib.import_module("ccxt.base.errors")


def _ccxt_error_classes():
    """Every exception class ccxt defines in its error module, found by walking it, not from a list."""
    importlib.import_module("ccxt.async_support")  # load every part of ccxt that could define a subclass
    importlib.import_module("ccxt.pro")
    found = {c for _, c in inspect.getmembers(ccxt_errors, inspect.isclass) if issubclass(c, ccxt_errors.BaseError)}
    stack = list(found)
    while stack:  # and every subclass defined anywhere ccxt has loaded
        for sub in stack.pop().__subclasses__():
            if sub.__module__.startswith("ccxt") and sub not in found:
                found.add(sub)
                stack.append(sub)
    return sorted(found, key=lambda c: c.__name__)


def test_every_ccxt_error_class_has_an_explicit_entry():
    missing = [c.__name__ for c in _ccxt_error_classes() if c.__name__ not in CCXT_ERROR_MAP]
    assert missing == []


def test_the_walk_finds_ccxt_hierarchy():
    names = {c.__name__ for c in _ccxt_error_classes()}
    assert {"BaseError", "ExchangeError", "NetworkError", "InvalidOrder", "RateLimitExceeded"} <= names
    assert len(names) >= 40


def test_table_has_no_stale_names():
    names = {c.__name__ for c in _ccxt_error_classes()}
    assert set(CCXT_ERROR_MAP) - names == set()


@pytest.mark.parametrize("cls", _ccxt_error_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("sending", [False, True])
def test_each_class_maps_into_the_tree(cls, sending):
    with pytest.raises(ae.ArbscanError) as info:
        with map_ccxt_errors(sending_order=sending):
            raise cls("bitstamp something went wrong")
    assert type(info.value) is CCXT_ERROR_MAP[cls.__name__][1 if sending else 0]
    assert info.value.__cause__ is None and info.value.__suppress_context__


# hand-written expectations from the issue, independent of the table
EXPECTED = {
    "RateLimitExceeded": (ae.RateLimited, ae.RateLimited),
    "DDoSProtection": (ae.RateLimited, ae.RateLimited),
    "NetworkError": (ae.ExchangeUnavailable, ae.OrderOutcomeUnknown),
    "ExchangeNotAvailable": (ae.ExchangeUnavailable, ae.OrderOutcomeUnknown),
    "RequestTimeout": (ae.ExchangeUnavailable, ae.OrderOutcomeUnknown),
    "AuthenticationError": (ae.AuthError, ae.AuthError),
    "PermissionDenied": (ae.AuthError, ae.AuthError),
    "AccountSuspended": (ae.AuthError, ae.AuthError),
    "InsufficientFunds": (ae.InsufficientFunds, ae.InsufficientFunds),
    "InvalidOrder": (ae.OrderRejected, ae.OrderRejected),
    "OrderNotFillable": (ae.OrderRejected, ae.OrderRejected),
    "OrderNotFound": (ae.OrderNotFound, ae.OrderNotFound),
    "BadResponse": (ae.UnexpectedPayload, ae.OrderOutcomeUnknown),
    "NullResponse": (ae.UnexpectedPayload, ae.OrderOutcomeUnknown),
    "BadSymbol": (ae.ConfigError, ae.OrderRejected),
    "DuplicateOrderId": (ae.OrderRejected, ae.OrderOutcomeUnknown),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_issue_examples(name):
    cls = getattr(ccxt_errors, name)
    general, sending = EXPECTED[name]
    assert type(translate_ccxt_error(cls("x"))) is general
    assert type(translate_ccxt_error(cls("x"), sending_order=True)) is sending


def test_rate_limited_carries_retry_after():
    err = translate_ccxt_error(ccxt_errors.RateLimitExceeded("429"), retry_after=2.5)
    assert isinstance(err, ae.RateLimited) and err.retry_after == 2.5


def test_secrets_are_scrubbed_and_message_is_one_line():
    with pytest.raises(ae.AuthError) as info:
        with map_ccxt_errors(secrets=("MYKEY123", "c2VjcmV0")):
            raise ccxt_errors.AuthenticationError('bitstamp {"error": "key MYKEY123\nsig c2VjcmV0 invalid"}')
    text = str(info.value)
    assert "MYKEY123" not in text and "c2VjcmV0" not in text and "\n" not in text
    assert text.startswith("AuthenticationError: ")


def test_non_ccxt_errors_pass_through():
    with pytest.raises(KeyError):
        with map_ccxt_errors():
            raise KeyError("not ours")


def test_a_new_unlisted_ccxt_class_is_detected():
    # a subclass ccxt might add tomorrow: the walk must see it and the table must not list it
    new = type("FancyNewError", (ccxt_errors.ExchangeError,), {"__module__": "ccxt.base.errors"})
    try:
        assert "FancyNewError" in {c.__name__ for c in _ccxt_error_classes()}
        assert "FancyNewError" not in CCXT_ERROR_MAP
    finally:
        del new
        gc.collect()


# -- messages: a network cause reads as the cause alone (issue 13, item 8) -------------------------


def test_an_http_error_status_reads_as_status_and_url_without_the_query():
    # ccxt's handle_http_status_code text: "<id> <METHOD> <url> <status> <reason> <body>"
    exc = ccxt_errors.ExchangeNotAvailable(
        "binance GET https://api.binance.com/api/v3/account?timestamp=1&signature=5ec12e7 503 Service Unavailable "
        "<html><body>maintenance</body></html>"
    )
    err = translate_ccxt_error(exc)
    assert type(err) is ae.ExchangeUnavailable
    assert str(err) == "HTTP 503 Service Unavailable from https://api.binance.com/api/v3/account"


def test_an_http_error_status_keeps_a_short_venue_answer_but_no_secret():
    exc = ccxt_errors.ExchangeNotAvailable(
        'binance GET https://api.binance.com/api/v3/account 403 Forbidden {"code":-2015,"msg":"Invalid API-key '
        'MYKEY123, IP, or permissions for action."}'
    )
    err = translate_ccxt_error(exc, secrets=("MYKEY123",))
    assert str(err) == ('HTTP 403 Forbidden from https://api.binance.com/api/v3/account: {"code":-2015,"msg":"Invalid '
                        'API-key ***, IP, or permissions for action."}')


def test_http_429_is_rate_limited_with_its_status():
    exc = ccxt_errors.RateLimitExceeded("bitstamp GET https://www.bitstamp.net/api/v2/order_book/ethusd/ 429 Too Many Requests ")
    err = translate_ccxt_error(exc, retry_after=3.0)
    assert type(err) is ae.RateLimited and err.retry_after == 3.0
    assert str(err) == "HTTP 429 Too Many Requests from https://www.bitstamp.net/api/v2/order_book/ethusd/"


def test_a_cause_in_the_chain_is_named_and_the_request_line_dropped():
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
        except OSError as inner:
            raise ccxt_errors.ExchangeNotAvailable("bitstamp POST https://127.0.0.1:9/api/v2/balance/?key=MYKEY123") from inner
    except ccxt_errors.BaseError as exc:
        err = translate_ccxt_error(exc, sending_order=True, timeout_s=10.0)
    assert type(err) is ae.OrderOutcomeUnknown  # while sending, what ccxt calls unavailable stays unknown
    assert str(err) == "connection refused by 127.0.0.1:9"


def test_a_request_timeout_says_how_long_and_where():
    try:
        try:
            raise TimeoutError()
        except TimeoutError as inner:
            raise ccxt_errors.RequestTimeout("kraken GET https://api.kraken.com/0/public/Depth?pair=XXBTZUSD") from inner
    except ccxt_errors.BaseError as exc:
        err = translate_ccxt_error(exc, timeout_s=10.0)
    assert (type(err), str(err)) == (ae.ExchangeUnavailable, "timed out after 10 s waiting for api.kraken.com")


def test_an_error_without_a_network_cause_keeps_ccxts_class_name():
    err = translate_ccxt_error(ccxt_errors.OnMaintenance("bitstamp is on maintenance until 12:00"))
    assert str(err) == "OnMaintenance: bitstamp is on maintenance until 12:00"
