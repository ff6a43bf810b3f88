"""zego_push's Token04 helpers and callback check, through the built extension.

The vectors are ZEGO's format applied to the plaintext
`{"app_id":1,"user_id":"demo","nonce":123456789,"ctime":1700000000,
"expire":1700003600,"payload":""}` with the secret below, checked with
Python's `cryptography` package.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

import zego_push

SECRET = "fa94dd0f974cf2e293728a526b028271"
OTHER_SECRET = "00000000000000000000000000000000"
GCM_VECTOR = "04AAAAAGVT/xAADAABAgMEBQYHCAkKCwBzlo4HRoGUdkuLbKIoOhbZY6YpcMaBTLWHRtiSNdXNuWkV2JYrMFwLwjjq6aFvxM5vMUW1ucoWpme7Vck+JCYUW5+rbF2LagnFZkRVec2ODtmU4F4kKEo7U2F+thJs5COIYlau+pkGhJGWuIAhD9RBltNqvwE="
CBC_VECTOR = "04AAAAAGVT/xAAEDAxMjM0NTY3ODlhYmNkZWYAcPDOWcZeMCPxbh1dpHzCTREIwK2oIO5x78Qlcu9iUMPYkqBI5TvjB3JwCxC9+klE8/eu//t2uE7+o7gQ53yB/JkIFUA6xyD5rb5rd5NER5knvdDJH2auGOam8ZKJG5qT/1t+UUUnbL8ghIsUgkbwAAg="


@pytest.mark.parametrize(("vector", "token_format"), [(GCM_VECTOR, "gcm"), (CBC_VECTOR, "cbc")])
def test_parse_published_vectors(vector: str, token_format: str) -> None:
    claims = zego_push.parse_token04(vector, SECRET)
    assert claims == {
        "app_id": 1,
        "user_id": "demo",
        "nonce": 123456789,
        "ctime": 1700000000,
        "expire": 1700003600,
        "payload": "",
        "format": token_format,
    }


def test_generate_parses_back() -> None:
    before = int(time.time())
    info = zego_push.generate_token04(1234567890, "alice", SECRET, 600, '{"room_id":"r1"}')
    after = int(time.time())
    assert info.error_code == 0
    assert info.error_message == "success"
    assert info.token.startswith("04")

    claims = zego_push.parse_token04(info.token, SECRET)
    assert claims["app_id"] == 1234567890
    assert claims["user_id"] == "alice"
    assert claims["payload"] == '{"room_id":"r1"}'
    assert claims["format"] == "gcm"
    assert before <= claims["ctime"] <= after
    assert claims["expire"] - claims["ctime"] == 600
    assert -(2**31) <= claims["nonce"] < 2**31


def test_generate_payload_defaults_empty() -> None:
    info = zego_push.generate_token04(1, "bob", SECRET, 60)
    assert info.error_code == 0
    assert zego_push.parse_token04(info.token, SECRET)["payload"] == ""


def test_generate_uses_fresh_nonces() -> None:
    tokens = {zego_push.generate_token04(1, "bob", SECRET, 60).token for _ in range(20)}
    assert len(tokens) == 20


@pytest.mark.parametrize(
    ("app_id", "user_id", "secret", "seconds", "code"),
    [
        (0, "u", SECRET, 60, 1),
        (-1, "u", SECRET, 60, 1),
        (2**32, "u", SECRET, 60, 1),
        (1, "", SECRET, 60, 3),
        (1, "u", "short-secret", 60, 5),
        (1, "u", "", 60, 5),
        (1, "u", SECRET + "0", 60, 5),
        (1, "u", SECRET, 0, 6),
        (1, "u", SECRET, -5, 6),
    ],
)
def test_generate_reports_zego_codes(app_id: int, user_id: str, secret: str, seconds: int, code: int) -> None:
    info = zego_push.generate_token04(app_id, user_id, secret, seconds, "")
    assert info.error_code == code
    assert info.token == ""
    assert info.error_message
    assert info.error_message != "success"


def test_token_info_repr_shows_fields() -> None:
    info = zego_push.generate_token04(0, "u", SECRET, 60)
    assert repr(info).startswith("TokenInfo(token=\"\", error_code=1, ")


@pytest.mark.parametrize("vector", [GCM_VECTOR, CBC_VECTOR])
def test_parse_rejects_wrong_secret(vector: str) -> None:
    with pytest.raises(ValueError, match="ServerSecret is wrong"):
        zego_push.parse_token04(vector, OTHER_SECRET)


def test_parse_rejects_tampered_token() -> None:
    index = 40
    replacement = "B" if GCM_VECTOR[index] == "A" else "A"
    tampered = GCM_VECTOR[:index] + replacement + GCM_VECTOR[index + 1 :]
    with pytest.raises(ValueError, match="invalid token"):
        zego_push.parse_token04(tampered, SECRET)


@pytest.mark.parametrize(("token", "reason"), [("03abc", '"04"'), ("04***", "base64"), ("04AAAA", "truncated")])
def test_parse_rejects_malformed_token(token: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        zego_push.parse_token04(token, SECRET)


def signature_of(secret: str, timestamp: str, nonce: str) -> str:
    """Sign a callback as ZEGO documents it, independently of the extension."""
    return hashlib.sha1("".join(sorted([secret, timestamp, nonce])).encode()).hexdigest()


def test_callback_published_example() -> None:
    signature = "5bd59fd62953a8059fb7eaba95720f66d19e4517"
    assert signature_of("secret", "1470820198", "123412") == signature
    assert zego_push.verify_callback_signature("secret", "1470820198", "123412", signature, now=1470820198)


def test_callback_secret_whitespace_ignored() -> None:
    signature = signature_of("secret", "1470820198", "123412")
    assert zego_push.verify_callback_signature("secret\n", "1470820198", "123412", signature, now=1470820198)
    assert zego_push.verify_callback_signature(" secret ", "1470820198", "123412", signature, now=1470820198)


def test_callback_valid_with_clock() -> None:
    timestamp = str(int(time.time()))
    signature = signature_of("callback-secret", timestamp, "n1")
    assert zego_push.verify_callback_signature("callback-secret", timestamp, "n1", signature)
    assert zego_push.verify_callback_signature("callback-secret", timestamp, "n1", signature.upper())


def test_callback_wrong_signature() -> None:
    timestamp = str(int(time.time()))
    signature = signature_of("other-secret", timestamp, "n1")
    assert not zego_push.verify_callback_signature("callback-secret", timestamp, "n1", signature)


def test_callback_stale_timestamp() -> None:
    signature = signature_of("secret", "1000", "n")
    assert zego_push.verify_callback_signature("secret", "1000", "n", signature, now=1300)
    assert not zego_push.verify_callback_signature("secret", "1000", "n", signature, now=1301)
    assert not zego_push.verify_callback_signature("secret", "1000", "n", signature, now=699)
    assert zego_push.verify_callback_signature("secret", "1000", "n", signature, window_seconds=301, now=1301)


def test_callback_non_numeric_timestamp() -> None:
    signature = signature_of("secret", "soon", "n")
    assert not zego_push.verify_callback_signature("secret", "soon", "n", signature, now=0)


@pytest.mark.parametrize("secret", ["", " ", "\t\n"])
def test_callback_empty_secret_raises(secret: str) -> None:
    timestamp = str(int(time.time()))
    forged = signature_of(secret, timestamp, "n1")
    with pytest.raises(zego_push.ConfigurationError, match="CallbackSecret") as caught:
        zego_push.verify_callback_signature(secret, timestamp, "n1", forged)
    assert "empty" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_callback_accepts_int_fields() -> None:
    signature = signature_of("secret", "1470820198", "123412")
    assert zego_push.verify_callback_signature("secret", 1470820198, 123412, signature, now=1470820198)
    assert zego_push.verify_callback_signature("secret", "1470820198", 123412, signature, now=1470820198)
    assert zego_push.verify_callback_signature("secret", 1470820198, "123412", signature, now=1470820198)


def test_callback_int_nonce_outside_64_bits() -> None:
    nonce = 2**64
    signature = signature_of("secret", "1000", str(nonce))
    assert zego_push.verify_callback_signature("secret", "1000", str(nonce), signature, now=1000)
    assert not zego_push.verify_callback_signature("secret", "1000", nonce, signature, now=1000)
    large = 2**64 - 1
    signature = signature_of("secret", "1000", str(large))
    assert zego_push.verify_callback_signature("secret", "1000", large, signature, now=1000)


def test_callback_other_json_types() -> None:
    """Values a JSON body can hold that ZEGO does not send return False."""
    signature = signature_of("secret", "1000", "True")
    assert not zego_push.verify_callback_signature("secret", "1000", True, signature, now=1000)
    signature = signature_of("secret", "1000", "1.5")
    assert not zego_push.verify_callback_signature("secret", "1000", 1.5, signature, now=1000)
    signature = signature_of("secret", "1000.0", "n")
    assert not zego_push.verify_callback_signature("secret", 1000.0, "n", signature, now=1000)
    signature = signature_of("secret", "1000", "n")
    for missing in [None, [], {}]:
        assert not zego_push.verify_callback_signature("secret", missing, "n", signature, now=1000)
        assert not zego_push.verify_callback_signature("secret", "1000", missing, signature, now=1000)
        assert not zego_push.verify_callback_signature("secret", "1000", "n", missing, now=1000)
    assert zego_push.verify_callback_signature("secret", "1000", "n", signature, now=1000)


def test_callback_guide_example_body() -> None:
    """The docs' example reads the fields from a JSON body with numbers."""
    now = int(time.time())
    body = json.loads(json.dumps({"timestamp": now, "nonce": 5, "signature": signature_of("s", str(now), "5")}))
    assert zego_push.verify_callback_signature("s", body.get("timestamp"), body.get("nonce"), body.get("signature"))
    body.pop("nonce")
    assert not zego_push.verify_callback_signature(
        "s", body.get("timestamp"), body.get("nonce"), body.get("signature")
    )


def test_callback_secret_must_be_str() -> None:
    with pytest.raises(TypeError, match="callback_secret"):
        zego_push.verify_callback_signature(None, "1000", "n", "00")  # type: ignore[arg-type]


def test_exports_listed_in_all() -> None:
    for name in ["TokenInfo", "generate_token04", "parse_token04", "verify_callback_signature"]:
        assert name in zego_push.__all__
        assert hasattr(zego_push, name)
