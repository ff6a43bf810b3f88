"""The compiled core of zego_push (crates/zego-push-py). Import from `zego_push`, not from here."""

from collections.abc import Awaitable, Mapping
from typing import Any, Final, final

__all__ = [
    "DEFAULT_BASE_URL",
    "Client",
    "TokenInfo",
    "__version__",
    "generate_token04",
    "guide_signature",
    "parse_token04",
    "validate_registration",
    "verify_callback_signature",
]

DEFAULT_BASE_URL: Final[str]
"""ZEGO's unified RTC API address, where PushRegister calls go by default."""

__version__: Final[str]

@final
class Client:
    """A PushRegister client for one ZEGO project.

    Safe to share between threads. Blocking calls keep one connection pool
    per thread; awaitables share one pool on one tokio runtime. `repr()`
    shows the ServerSecret as `****`.

    Raises `ConfigurationError` when the AppId (an int other than a bool, or
    a string of digits), the ServerSecret, `base_url`, `scheme` (`"guide"`
    or `"v2"`), a timeout or `max_attempts` (1 to 10) is unusable, and
    `TypeError` when `max_attempts` is not an int.
    """

    def __new__(
        cls,
        app_id: int | str,
        server_secret: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        scheme: str = "guide",
        max_attempts: int = 3,
    ) -> Client: ...
    def register_push_token(
        self, user_id: str, token: str, platform: str, provider: str | None = None
    ) -> dict[str, Any]:
        """Register one push token and return ZEGO's reply (`Code` 0) as a dict.

        The GIL is released while the request is signed and sent and its reply read.
        Raises `InvalidInput`, `ZegoApiError` or `TransportError`.
        """
    def register_push_token_async(
        self, user_id: str, token: str, platform: str, provider: str | None = None
    ) -> Awaitable[dict[str, Any]]:
        """Return an awaitable that registers one push token, for asyncio code.

        Call it inside a coroutine: the awaitable is an `asyncio.Future` bound
        to the running event loop, and without one the call raises
        `RuntimeError`. `InvalidInput` is raised at once; the other errors when awaited.
        """
    @property
    def app_id(self) -> int: ...
    @property
    def base_url(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def timeout(self) -> float: ...

def validate_registration(user_id: str, token: str, platform: str, provider: str | None = None) -> None:
    """Check a registration's fields as `Client.register_push_token` does, without sending it.

    Raises `InvalidInput` for the first field that breaks a rule.
    """

def guide_signature(server_secret: str, params: Mapping[Any, Any]) -> str:
    """Return the guide's HMAC-SHA256 signature of `params` under `server_secret`."""

@final
class TokenInfo:
    """The outcome of `generate_token04`, shaped as `TokenInfo` in ZEGO's `token04.py`.

    On success `token` is the Token04, `error_code` is 0 and `error_message`
    is `"success"`. On an invalid input `token` is empty and `error_code` is
    ZEGO's code: 1 AppId invalid, 3 user id empty, 5 secret not 32 bytes,
    6 effective time not positive. Code 7, which ZEGO's helpers lack, means
    the user id and payload encrypt to more than 65,535 bytes.
    """

    @property
    def token(self) -> str: ...
    @property
    def error_code(self) -> int: ...
    @property
    def error_message(self) -> str: ...

def generate_token04(
    app_id: int, user_id: str, secret: str, effective_time_in_seconds: int, payload: str = ""
) -> TokenInfo:
    """Generate an AES-256-GCM Token04 valid for `effective_time_in_seconds` from now.

    Invalid inputs are reported in the result, not raised. An int outside
    the 64-bit range raises `OverflowError`.
    """

def parse_token04(token: str, secret: str) -> dict[str, Any]:
    """Decode a Token04 with the secret.

    Returns `app_id`, `user_id`, `nonce`, `ctime`, `expire` (Unix seconds),
    `payload` and `format` (`"gcm"` or `"cbc"`). Raises `ValueError` when the
    token is malformed, was changed, or was encrypted with another secret.
    Only the GCM format detects every change; a changed CBC token can decode
    to other claims.
    """

def verify_callback_signature(
    callback_secret: str,
    timestamp: str | int | None,
    nonce: str | int | None,
    signature: str | None,
    *,
    window_seconds: int = 300,
    now: int | None = None,
) -> bool:
    """Return whether a ZEGO callback is authentic and fresh.

    True when `signature` is the hex SHA-1 of the sorted, concatenated
    secret, timestamp and nonce, and `timestamp` is within `window_seconds`
    of `now` (Unix seconds, the system clock by default). `timestamp` and
    `nonce` may be a str or an int, as ZEGO sends either; an int is signed as
    its decimal digits. A mismatch, a stale or non-numeric timestamp, or a
    field that is None or of another type returns False. Whitespace around
    `callback_secret` is ignored, as zego-push-server does. Raises
    `ConfigurationError` when `callback_secret` is empty or whitespace.
    """
