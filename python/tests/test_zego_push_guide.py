"""zego_push's drop-in replacements for the integration guide's functions.

The guide's own code is in test_guide_code.py; these tests compare against it.
"""

from __future__ import annotations

import enum
import math
import random
import string
from collections import OrderedDict
from types import MappingProxyType

import pytest

import test_guide_code as guide
import zego_push
from zego_push import ConfigurationError, InvalidInput, TransportError

FCM_TOKEN = "fcm_device_token_here"
APNS_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
GENERATED_CASES = 2000


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 2


class Tagged:
    def __str__(self) -> str:
        return "tagged<&=>"


def random_text(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "_-:&=?/ %+.é中😀\u0000\t"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))


def random_value(rng: random.Random) -> object:
    kind = rng.randrange(12)
    if kind < 4:
        return random_text(rng)
    if kind < 6:
        return rng.randint(-(2**40), 2**40)
    choices = [
        rng.randint(-(2**100), 2**100),
        rng.choice([True, False]),
        None,
        rng.choice([0.0, -0.0, 1.5, 1e300, 1e-7, math.inf, -math.inf, math.nan, rng.random() * 10**rng.randint(-5, 20)]),
        rng.choice([Color.RED, Level.HIGH, Tagged(), b"bytes", (1, "a"), [1.0, None]]),
        2**63,
    ]
    return choices[kind - 6]


def random_secret(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 64)))


def random_params(rng: random.Random) -> dict[object, object]:
    if rng.random() < 0.05:
        # Keys of one non-str type sort as numbers, not as text.
        return {rng.randint(-1000, 1000): random_value(rng) for _ in range(rng.randint(0, 8))}
    return {random_text(rng): random_value(rng) for _ in range(rng.randint(0, 10))}


def test_signature_matches_guide_on_generated_inputs(monkeypatch):
    rng = random.Random(20261204)
    for case in range(GENERATED_CASES):
        secret = random_secret(rng)
        params = random_params(rng)
        monkeypatch.setattr(guide, "ZEGO_SERVER_SECRET", secret)
        monkeypatch.setenv("ZEGO_SERVER_SECRET", secret)

        expected = guide.generate_zego_signature(params)
        actual = zego_push.generate_zego_signature(params)

        assert actual == expected, f"case {case}: params={params!r}"


def test_signature_matches_published_vector(monkeypatch):
    monkeypatch.setenv("ZEGO_SERVER_SECRET", "0123456789abcdef0123456789abcdef")
    params = {
        "AppId": "1234567890",
        "UserId": "user123",
        "PushID": "fcm_device_token_here",
        "PushProvider": 1,
        "Timestamp": 1700000000,
        "Nonce": "1a2b3c4d",
    }

    assert zego_push.generate_zego_signature(params) == "4b051f8877638c81884a2e894c033100b5dcc6336b8e6541545da8b67eb17424"


@pytest.mark.parametrize("wrap", [OrderedDict, MappingProxyType, dict])
def test_signature_accepts_mappings(monkeypatch, wrap):
    secret = "0123456789abcdef0123456789abcdef"
    monkeypatch.setattr(guide, "ZEGO_SERVER_SECRET", secret)
    monkeypatch.setenv("ZEGO_SERVER_SECRET", secret)
    params = wrap({"b": 2, "a": "x", "c": True, "d": None, "e": 0.1})

    assert zego_push.generate_zego_signature(params) == guide.generate_zego_signature(params)


def test_signature_raises_like_guide(monkeypatch):
    monkeypatch.setattr(guide, "ZEGO_SERVER_SECRET", "secret")
    monkeypatch.setenv("ZEGO_SERVER_SECRET", "secret")

    for params, error in [
        ({"a": 1, 2: "b"}, TypeError),
        ({"a": "\ud800"}, UnicodeEncodeError),
        (["not", "a", "mapping"], AttributeError),
    ]:
        with pytest.raises(error):
            guide.generate_zego_signature(params)
        with pytest.raises(error):
            zego_push.generate_zego_signature(params)


def test_signature_needs_secret_in_environment():
    with pytest.raises(ConfigurationError, match="ZEGO_SERVER_SECRET is not set"):
        zego_push.generate_zego_signature({"a": 1})


def test_register_returns_guide_reply(zego_env, monkeypatch):
    monkeypatch.setattr(guide, "ZEGO_APP_ID", zego_env.app_id)
    monkeypatch.setattr(guide, "ZEGO_SERVER_SECRET", zego_env.secret)
    monkeypatch.setattr(guide, "ZEGO_PUSH_REGISTER_URL", f"{zego_env.base_url}/?Action=PushRegister")

    expected = guide.register_zego_push_token("user123", FCM_TOKEN, "android")
    actual = zego_push.register_zego_push_token("user123", FCM_TOKEN, "android")

    assert type(actual) is dict
    assert actual.keys() == expected.keys()
    assert actual["Code"] == expected["Code"] == 0
    assert actual["Message"] == expected["Message"]
    first, second = zego_env.registrations()
    assert (first["user_id"], first["push_id"], first["push_provider"]) == (
        second["user_id"],
        second["push_id"],
        second["push_provider"],
    )


def test_register_accepts_any_platform_case(zego_env):
    assert zego_push.register_zego_push_token("u1", FCM_TOKEN, "Android")["Code"] == 0
    assert zego_push.register_zego_push_token("u2", APNS_TOKEN, "IOS")["Code"] == 0

    providers = [registration["push_provider"] for registration in zego_env.registrations()]
    assert providers == [1, 2]


def test_register_returns_nonzero_code_like_guide(zego_env):
    zego_env.set_faults({"code": {"code": 660200001, "message": "user not exist", "count": 1}})

    reply = zego_push.register_zego_push_token("user123", FCM_TOKEN, "android")

    assert reply["Code"] == 660200001
    assert reply["Message"] == "user not exist"


def test_register_rejects_ios_fcm_token(zego_env):
    with pytest.raises(InvalidInput, match='pass provider="fcm"') as caught:
        zego_push.register_zego_push_token("user123", "fcm:token-from-firebase", "ios")

    assert caught.value.field == "fcm_token"
    assert '"provider": "fcm"' not in str(caught.value)
    assert '"provider": "fcm"' not in caught.value.message
    assert zego_env.calls() == []
    reply = zego_push.register_zego_push_token("user123", "fcm:token-from-firebase", "ios", provider="fcm")
    assert reply["Code"] == 0


def test_register_rejects_unknown_platform(zego_env):
    # The guide sends anything but "android" as APNs.
    with pytest.raises(InvalidInput) as caught:
        zego_push.register_zego_push_token("user123", FCM_TOKEN, "web")

    assert caught.value.field == "platform"
    assert zego_env.calls() == []


@pytest.mark.parametrize("missing", ["ZEGO_APP_ID", "ZEGO_SERVER_SECRET"])
def test_register_needs_credentials(zego_env, monkeypatch, missing):
    monkeypatch.delenv(missing)

    with pytest.raises(ConfigurationError, match=f"{missing} is not set"):
        zego_push.register_zego_push_token("user123", FCM_TOKEN, "android")


def test_register_default_url_is_loopback_guard(mock, monkeypatch):
    # The autouse fixture points ZEGO_BASE_URL at a closed loopback port.
    monkeypatch.setenv("ZEGO_APP_ID", mock.app_id)
    monkeypatch.setenv("ZEGO_SERVER_SECRET", mock.secret)

    with pytest.raises(TransportError) as caught:
        zego_push.register_zego_push_token("user123", FCM_TOKEN, "android")

    assert caught.value.endpoint.startswith("http://127.0.0.1:9")


def test_register_reuses_client_per_configuration(zego_env, monkeypatch):
    first = zego_push.client_from_env()
    assert zego_push.client_from_env() is first

    monkeypatch.setenv("ZEGO_SERVER_SECRET", "f" * 32)
    assert zego_push.client_from_env() is not first


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((42, FCM_TOKEN, "android"), "user_id must be a str, not int"),
        (("user123", b"token", "android"), "fcm_token must be a str, not bytes"),
        (("user123", FCM_TOKEN, None), "platform must be a str, not NoneType"),
    ],
)
def test_register_rejects_non_str_arguments(zego_env, arguments, message):
    with pytest.raises(TypeError) as caught:
        zego_push.register_zego_push_token(*arguments)

    assert str(caught.value) == message
    assert zego_env.calls() == []
