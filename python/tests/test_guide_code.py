"""The integration guide's Python code, run against zego-mock.

generate_zego_signature and register_zego_push_token are the guide's code
with two changes: the request goes to the module-level ZEGO_PUSH_REGISTER_URL
instead of https://rtc-api.zego.im/?Action=PushRegister, and an assert right
before the request stops anything from leaving 127.0.0.1. The `guide` fixture
sets ZEGO_APP_ID, ZEGO_SERVER_SECRET and that URL to the mock's values.
"""

import hashlib
import hmac
import time
import uuid

import pytest
import requests

ZEGO_APP_ID = "YOUR_ZEGO_APP_ID"
ZEGO_SERVER_SECRET = "YOUR_ZEGO_SERVER_SECRET"
ZEGO_PUSH_REGISTER_URL = None

LOOPBACK_URL_PREFIX = "http://127.0.0.1:"


def generate_zego_signature(params):
    # Sort keys alphabetically
    sorted_keys = sorted(params.keys())
    # Create query string: key1=val1&key2=val2...
    query_string = "&".join([f"{k}={params[k]}" for k in sorted_keys])

    # HMAC-SHA256 signature
    signature = hmac.new(
        ZEGO_SERVER_SECRET.encode('utf-8'),
        query_string.encode('utf-8'),
        hashlib.sha256
    ).hexdigest()
    return signature


def register_zego_push_token(user_id, fcm_token, platform):
    params = {
        "AppId": ZEGO_APP_ID,
        "UserId": user_id,
        "PushID": fcm_token,
        "PushProvider": 1 if platform == "android" else 2, # 1=FCM, 2=APNs
        "Timestamp": int(time.time()),
        "Nonce": str(uuid.uuid4())[:8],
    }

    signature = generate_zego_signature(params)

    headers = {
        "Content-Type": "application/json",
        "AppId": ZEGO_APP_ID,
        "Signature": signature
    }

    # This assert is not in the guide. It keeps the request on the local mock.
    assert isinstance(ZEGO_PUSH_REGISTER_URL, str) and ZEGO_PUSH_REGISTER_URL.startswith(LOOPBACK_URL_PREFIX), (
        f"rejected PushRegister URL {ZEGO_PUSH_REGISTER_URL!r}: tests send only to zego-mock on 127.0.0.1"
    )
    response = requests.post(
        ZEGO_PUSH_REGISTER_URL,
        json=params,
        headers=headers
    )

    return response.json()


# requests reads these, and a proxy would carry the request off the machine.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")

FCM_TOKEN = "fcm_device_token_here"
APNS_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

SUCCESS = 0
SIGNATURE_EXPIRED = 100000004
SIGNATURE_ERROR = 100000005


@pytest.fixture
def guide(mock, monkeypatch):
    """The reset mock, with the guide's settings pointing at it and proxies turned off."""
    monkeypatch.setitem(globals(), "ZEGO_APP_ID", mock.app_id)
    monkeypatch.setitem(globals(), "ZEGO_SERVER_SECRET", mock.secret)
    monkeypatch.setitem(globals(), "ZEGO_PUSH_REGISTER_URL", f"{mock.base_url}/?Action=PushRegister")
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    return mock


def test_android_registration_succeeds(guide):
    before = int(time.time())
    result = register_zego_push_token("user123", FCM_TOKEN, "android")

    assert result["Code"] == SUCCESS
    assert result["Message"] == "success"
    assert result["RequestId"]

    registrations = guide.registrations()
    assert len(registrations) == 1
    registration = registrations[0]
    assert registration["app_id"] == int(guide.app_id)
    assert registration["user_id"] == "user123"
    assert registration["push_id"] == FCM_TOKEN
    assert registration["push_provider"] == 1
    assert registration["scheme"] == "guide"
    assert registration["request_id"] == result["RequestId"]
    assert len(registration["nonce"]) == 8
    assert before <= registration["timestamp"] <= int(time.time())


def test_ios_registration_uses_apns(guide):
    result = register_zego_push_token("user456", APNS_TOKEN, "ios")

    assert result["Code"] == SUCCESS
    assert result["Message"] == "success"

    registrations = guide.registrations()
    assert len(registrations) == 1
    assert registrations[0]["user_id"] == "user456"
    assert registrations[0]["push_id"] == APNS_TOKEN
    assert registrations[0]["push_provider"] == 2


def test_wrong_secret_gets_signature_error(guide, monkeypatch):
    monkeypatch.setitem(globals(), "ZEGO_SERVER_SECRET", "f" * 32)

    result = register_zego_push_token("user123", FCM_TOKEN, "android")

    assert result["Code"] == SIGNATURE_ERROR
    assert guide.registrations() == []
    assert [call["outcome"] for call in guide.calls()] == ["signature_error"]


def test_timestamp_11_minutes_old_expires(guide, monkeypatch):
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 11 * 60)

    result = register_zego_push_token("user123", FCM_TOKEN, "android")

    assert result["Code"] == SIGNATURE_EXPIRED
    assert guide.registrations() == []
    assert [call["outcome"] for call in guide.calls()] == ["signature_expired"]


def test_timestamp_9_minutes_old_accepted(guide, monkeypatch):
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 9 * 60)

    result = register_zego_push_token("user123", FCM_TOKEN, "android")

    assert result["Code"] == SUCCESS
    assert len(guide.registrations()) == 1


def test_injected_code_returned_once(guide):
    active = guide.set_faults({"code": {"code": 1, "message": "server busy", "count": 1}})
    assert active["code"]["code"] == 1

    first = register_zego_push_token("user123", FCM_TOKEN, "android")
    second = register_zego_push_token("user123", FCM_TOKEN, "android")

    assert first["Code"] == 1
    assert first["Message"] == "server busy"
    assert second["Code"] == SUCCESS
    assert len(guide.registrations()) == 1
    assert [call["outcome"] for call in guide.calls()] == ["injected_code", "ok"]


@pytest.mark.parametrize("app_id", ["1234567890", 1234567890])
def test_signature_matches_published_vector(app_id, monkeypatch):
    monkeypatch.setitem(globals(), "ZEGO_SERVER_SECRET", "0123456789abcdef0123456789abcdef")
    params = {
        "AppId": app_id,
        "UserId": "user123",
        "PushID": "fcm_device_token_here",
        "PushProvider": 1,
        "Timestamp": 1700000000,
        "Nonce": "1a2b3c4d",
    }

    signature = generate_zego_signature(params)

    assert signature == "4b051f8877638c81884a2e894c033100b5dcc6336b8e6541545da8b67eb17424"
