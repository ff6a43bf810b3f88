"""zego_push.Client against the real zego-mock: replies, exceptions, async, threads."""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import zego_push
from zego_push import ConfigurationError, InvalidInput, TransportError, ZegoApiError, ZegoError
from zego_push._native import validate_registration

FCM_TOKEN = "fcm_device_token_here"
APNS_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def client(mock):
    return zego_push.Client(mock.app_id, mock.secret, base_url=mock.base_url)


def test_register_returns_reply_dict(client, mock):
    reply = client.register_push_token("user123", FCM_TOKEN, "android")

    assert reply["Code"] == 0
    assert reply["Message"] == "success"
    assert isinstance(reply["RequestId"], str)
    registrations = mock.registrations()
    assert len(registrations) == 1
    assert registrations[0]["user_id"] == "user123"
    assert registrations[0]["push_id"] == FCM_TOKEN
    assert registrations[0]["push_provider"] == 1


def test_register_ios_apns_and_ios_fcm(client, mock):
    client.register_push_token("u1", APNS_TOKEN.upper(), "iOS")
    client.register_push_token("u2", "fcm:token-from-firebase", "ios", "fcm")

    first, second = mock.registrations()
    assert first["push_id"] == APNS_TOKEN
    assert first["push_provider"] == 2
    assert second["push_id"] == "fcm:token-from-firebase"
    assert second["push_provider"] == 1


def test_v2_scheme_is_accepted(mock):
    client = zego_push.Client(int(mock.app_id), mock.secret, base_url=mock.base_url, scheme="v2")

    assert client.register_push_token("user123", FCM_TOKEN, "android")["Code"] == 0
    assert mock.registrations()[0]["scheme"] == "v2"


def test_repr_hides_secret(mock):
    client = zego_push.Client(mock.app_id, mock.secret, base_url=mock.base_url)

    text = repr(client)
    assert mock.secret not in text
    assert "server_secret='****'" in text
    assert f"app_id={mock.app_id}" in text
    assert client.app_id == int(mock.app_id)
    assert client.base_url == mock.base_url
    assert client.scheme == "guide"


def test_default_base_url_is_zego():
    # Building a client sends nothing, so the default can be checked offline.
    client = zego_push.Client(1234567890, "secret")

    assert client.base_url == "https://rtc-api.zego.im"
    assert zego_push.DEFAULT_BASE_URL == "https://rtc-api.zego.im"


INVALID_INPUTS = [
    ("a" * 33, FCM_TOKEN, "android", None, "user_id", "at most 32 bytes"),
    ("user 1", FCM_TOKEN, "android", None, "user_id", "printable ASCII"),
    ("u1", "bad/token", "android", None, "fcm_token", "A-Z, a-z, 0-9"),
    ("u1", FCM_TOKEN, "web", None, "platform", '"android" or "ios"'),
    ("u1", FCM_TOKEN, "android", "hms", "provider", '"fcm" or "apns"'),
    ("u1", "fcm:token-from-firebase", "ios", None, "fcm_token", 'pass provider="fcm"'),
]


@pytest.mark.parametrize(("user_id", "token", "platform", "provider", "field", "rule"), INVALID_INPUTS)
def test_invalid_input_names_field(client, mock, user_id, token, platform, provider, field, rule):
    with pytest.raises(InvalidInput, match=rule) as caught:
        client.register_push_token(user_id, token, platform, provider)

    assert caught.value.field == field
    assert rule in caught.value.message
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ZegoError)
    assert mock.calls() == []


@pytest.mark.parametrize(("user_id", "token", "platform", "provider", "field", "rule"), INVALID_INPUTS)
def test_validate_registration_matches_client(client, user_id, token, platform, provider, field, rule):
    with pytest.raises(InvalidInput) as from_client:
        client.register_push_token(user_id, token, platform, provider)
    with pytest.raises(InvalidInput) as from_check:
        validate_registration(user_id, token, platform, provider)

    assert from_check.value.field == field
    assert str(from_check.value) == str(from_client.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((42, FCM_TOKEN, "android"), "user_id must be a str, not int"),
        (("u1", None, "android"), "token must be a str, not NoneType"),
        (("u1", FCM_TOKEN, 1), "platform must be a str, not int"),
        (("u1", FCM_TOKEN, "android", True), "provider must be a str, not bool"),
    ],
)
def test_type_error_names_argument(client, mock, arguments, message):
    calls = [
        lambda: client.register_push_token(*arguments),
        lambda: client.register_push_token_async(*arguments),
        lambda: validate_registration(*arguments),
    ]
    for call in calls:
        with pytest.raises(TypeError) as caught:
            call()
        assert str(caught.value) == message

    assert mock.calls() == []


def test_validate_registration_accepts_valid_fields():
    assert validate_registration("u1", FCM_TOKEN, "ANDROID") is None


@pytest.mark.parametrize(
    ("app_id", "secret", "options", "rule"),
    [
        (0, "secret", {}, "AppId"),
        ("YOUR_ZEGO_APP_ID", "secret", {}, "AppId"),
        (2**32, "secret", {}, "out of range"),
        (1.5, "secret", {}, "int or a string of digits"),
        (1, "", {}, "ServerSecret"),
        (1, "secret", {"base_url": "ftp://127.0.0.1"}, "must start with https://"),
        (1, "secret", {"timeout": 0}, "timeout must be a positive number"),
        (1, "secret", {"scheme": "sha1"}, "unknown signature scheme"),
        (1, "secret", {"max_attempts": 0}, "max_attempts 0 is out of range; give 1 to 10"),
        (1, "secret", {"max_attempts": -1}, "max_attempts -1 is out of range; give 1 to 10"),
        (1, "secret", {"max_attempts": 11}, "max_attempts 11 is out of range; give 1 to 10"),
        (1, "secret", {"max_attempts": 2**70}, "out of range; give 1 to 10"),
        (True, "secret", {}, "int or a string of digits, not bool"),
        (False, "secret", {}, "int or a string of digits, not bool"),
    ],
)
def test_configuration_error(app_id, secret, options, rule):
    with pytest.raises(ConfigurationError, match=rule):
        zego_push.Client(app_id, secret, **options)


@pytest.mark.parametrize("max_attempts", [1, 10])
def test_max_attempts_limits_accepted(max_attempts):
    assert zego_push.Client(1, "secret", max_attempts=max_attempts).app_id == 1


@pytest.mark.parametrize(("max_attempts", "type_name"), [(True, "bool"), ("3", "str"), (3.0, "float"), (None, "NoneType")])
def test_max_attempts_type_error_names_argument(max_attempts, type_name):
    with pytest.raises(TypeError) as caught:
        zego_push.Client(1, "secret", max_attempts=max_attempts)

    assert str(caught.value) == f"max_attempts must be an int, not {type_name}"


def test_configuration_error_hides_secret():
    with pytest.raises(ConfigurationError) as caught:
        zego_push.Client(1, "two words")

    assert "two words" not in str(caught.value)


def test_permanent_code_raises_api_error(client, mock):
    mock.set_faults({"code": {"code": 660200001, "message": "user not exist", "count": 1}})

    with pytest.raises(ZegoApiError, match="Code 660200001") as caught:
        client.register_push_token("user123", FCM_TOKEN, "android")

    error = caught.value
    assert error.code == 660200001
    assert error.message == "user not exist"
    assert isinstance(error.request_id, str)
    assert error.retryable is False
    assert error.attempts == 1
    assert error.reply["Code"] == 660200001
    assert error.reply["RequestId"] == error.request_id


def test_retryable_code_is_retried_then_raised(mock):
    client = zego_push.Client(mock.app_id, mock.secret, base_url=mock.base_url, max_attempts=2)
    mock.set_faults({"code": {"code": 1, "message": "server busy", "count": 2}})

    with pytest.raises(ZegoApiError) as caught:
        client.register_push_token("user123", FCM_TOKEN, "android")

    assert caught.value.code == 1
    assert caught.value.retryable is True
    assert caught.value.attempts == 2
    assert [call["outcome"] for call in mock.calls()] == ["injected_code", "injected_code"]


def test_retryable_code_then_success(client, mock):
    mock.set_faults({"code": {"code": 7, "message": "rate limited", "count": 1}})

    reply = client.register_push_token("user123", FCM_TOKEN, "android")

    assert reply["Code"] == 0
    assert [call["outcome"] for call in mock.calls()] == ["injected_code", "ok"]


def test_wrong_secret_raises_signature_error(mock):
    client = zego_push.Client(mock.app_id, "f" * 32, base_url=mock.base_url)

    with pytest.raises(ZegoApiError) as caught:
        client.register_push_token("user123", FCM_TOKEN, "android")

    assert caught.value.code == 100000005
    assert caught.value.retryable is False


def test_dropped_connections_raise_transport_error(mock):
    client = zego_push.Client(mock.app_id, mock.secret, base_url=mock.base_url, max_attempts=2)
    mock.set_faults({"drop_connections": 2})

    with pytest.raises(TransportError) as caught:
        client.register_push_token("user123", FCM_TOKEN, "android")

    error = caught.value
    assert error.attempts == 2
    assert error.is_timeout is False
    assert error.retryable is True
    assert error.endpoint == mock.base_url + "/"


def test_slow_reply_raises_timeout(mock):
    client = zego_push.Client(mock.app_id, mock.secret, base_url=mock.base_url, timeout=0.2, max_attempts=1)
    mock.set_faults({"latency_ms": 1000})

    with pytest.raises(TransportError, match="did not reply within") as caught:
        client.register_push_token("user123", FCM_TOKEN, "android")

    assert caught.value.is_timeout is True
    assert caught.value.attempts == 1


def test_closed_port_raises_transport_error(mock):
    client = zego_push.Client(mock.app_id, mock.secret, base_url="http://127.0.0.1:9", max_attempts=1)

    with pytest.raises(TransportError, match="no reply from ZEGO"):
        client.register_push_token("user123", FCM_TOKEN, "android")


def test_exceptions_survive_pickle(client, mock):
    mock.set_faults({"code": {"code": 2, "message": "bad parameter", "count": 1}})
    with pytest.raises(ZegoApiError) as caught:
        client.register_push_token("user123", FCM_TOKEN, "android")

    copy = pickle.loads(pickle.dumps(caught.value))

    assert type(copy) is ZegoApiError
    assert str(copy) == str(caught.value)
    assert copy.code == 2
    assert copy.reply == caught.value.reply


def test_async_and_sync_agree(client, mock):
    sync_reply = client.register_push_token("user123", FCM_TOKEN, "android")

    async def register():
        return await client.register_push_token_async("user123", FCM_TOKEN, "android")

    async_reply = asyncio.run(register())

    assert sync_reply.keys() == async_reply.keys()
    assert async_reply["Code"] == sync_reply["Code"] == 0
    assert async_reply["Message"] == sync_reply["Message"]
    first, second = mock.registrations()
    assert {key: value for key, value in first.items() if key not in ("nonce", "timestamp", "request_id")} == {
        key: value for key, value in second.items() if key not in ("nonce", "timestamp", "request_id")
    }


def test_async_outside_event_loop_explains(client, mock):
    with pytest.raises(RuntimeError) as caught:
        asyncio.run(client.register_push_token_async("user123", FCM_TOKEN, "android"))

    assert "needs a running asyncio event loop: call it inside a coroutine" in str(caught.value)
    assert mock.calls() == []


@pytest.mark.asyncio
async def test_async_raises_same_exceptions(client, mock):
    with pytest.raises(InvalidInput) as invalid:
        await client.register_push_token_async("u1", FCM_TOKEN, "web")
    assert invalid.value.field == "platform"

    mock.set_faults({"code": {"code": 660200001, "message": "user not exist", "count": 1}})
    with pytest.raises(ZegoApiError) as api:
        await client.register_push_token_async("u1", FCM_TOKEN, "android")
    assert api.value.code == 660200001


@pytest.mark.asyncio
async def test_async_calls_run_concurrently(client, mock):
    mock.set_faults({"latency_ms": 200})
    calls = 8

    started = time.perf_counter()
    replies = await asyncio.gather(
        *(client.register_push_token_async(f"user{index}", FCM_TOKEN, "android") for index in range(calls))
    )
    elapsed = time.perf_counter() - started

    assert [reply["Code"] for reply in replies] == [0] * calls
    # Sequential calls would take at least calls * 0.2 s = 1.6 s.
    assert elapsed < calls * 0.2 / 2, f"{calls} concurrent calls took {elapsed:.2f} s"


def test_threads_run_in_parallel(client, mock):
    """The GIL is released while Rust waits, so threads overlap their calls.

    With 200 ms of latency per call, 8 sequential calls take at least 1.6 s;
    8 threads take about 0.2 s plus overhead. The check allows half of the
    sequential time, so it fails only when the calls do not overlap.
    """
    mock.set_faults({"latency_ms": 200})
    calls = 8

    started = time.perf_counter()
    for index in range(calls):
        client.register_push_token(f"seq{index}", FCM_TOKEN, "android")
    sequential = time.perf_counter() - started

    barrier = threading.Barrier(calls)

    def register(index: int) -> int:
        barrier.wait()
        return client.register_push_token(f"thread{index}", FCM_TOKEN, "android")["Code"]

    with ThreadPoolExecutor(max_workers=calls) as pool:
        started = time.perf_counter()
        codes = list(pool.map(register, range(calls)))
        threaded = time.perf_counter() - started

    assert codes == [0] * calls
    assert sequential >= calls * 0.2
    assert threaded < sequential / 2, f"threads took {threaded:.2f} s, sequential calls {sequential:.2f} s"
    assert len(mock.registrations()) == 2 * calls


def test_docstrings_have_no_rust_links():
    """Docstrings built from Rust doc comments must not show rustdoc links, which mean nothing in Python."""
    objects = [getattr(zego_push._native, name) for name in zego_push._native.__all__]
    objects += [getattr(zego_push.Client, name) for name in dir(zego_push.Client) if not name.startswith("_")]

    for item in objects:
        doc = getattr(item, "__doc__", None) or ""
        assert "[`" not in doc, f"{item!r} has a rustdoc link in its docstring: {doc}"
