"""The compiled core of zego_push (crates/zego-push-py). Import from `zego_push`, not from here."""

from collections.abc import Awaitable, Mapping
from typing import Any, Final, final

__all__ = ["DEFAULT_BASE_URL", "Client", "__version__", "guide_signature"]

DEFAULT_BASE_URL: Final[str]
"""ZEGO's unified RTC API address, where PushRegister calls go by default."""

__version__: Final[str]

@final
class Client:
    """A PushRegister client for one ZEGO project.

    Safe to share between threads. Blocking calls keep one connection pool
    per thread; awaitables share one pool on one tokio runtime. `repr()`
    shows the ServerSecret as `****`.

    Raises `ConfigurationError` when the AppId (an int, or a string of
    digits), the ServerSecret, `base_url`, `scheme` (`"guide"` or `"v2"`)
    or a timeout is unusable.
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

        `InvalidInput` is raised at once; the other errors when awaited.
        """
    @property
    def app_id(self) -> int: ...
    @property
    def base_url(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def timeout(self) -> float: ...

def guide_signature(server_secret: str, params: Mapping[Any, Any]) -> str:
    """Return the guide's HMAC-SHA256 signature of `params` under `server_secret`."""
