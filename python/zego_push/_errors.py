"""The exceptions that zego_push raises.

The Rust extension builds them (crates/zego-push-py/src/errors.rs), with the
description as the only positional argument and every attribute as a keyword.
"""

from __future__ import annotations

from typing import Any


def _rebuild(cls: type[ZegoError], args: tuple[Any, ...], fields: dict[str, Any]) -> ZegoError:
    return cls(*args, **fields)


class ZegoError(Exception):
    """The base class of every zego_push exception."""

    def __init__(self, description: str, **fields: Any) -> None:
        super().__init__(description)
        self._fields = fields

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle the keyword attributes too, so that the exception survives
        # a trip through multiprocessing or a task queue.
        return (_rebuild, (type(self), self.args, self._fields))


class InvalidInput(ZegoError, ValueError):
    """A user id, token, platform or provider broke an input rule; nothing was sent.

    `field` is the field's name in the endpoint's JSON body: `user_id`,
    `fcm_token` (for any token), `platform` or `provider`. `message` is the
    rule that failed and, where it helps, the fix.
    """

    field: str
    message: str

    def __init__(self, description: str, *, field: str, message: str) -> None:
        super().__init__(description, field=field, message=message)
        self.field = field
        self.message = message


class ConfigurationError(ZegoError, ValueError):
    """The AppId, ServerSecret, base URL, scheme or a timeout is unusable, or a
    variable that the guide's functions read is missing; nothing was sent."""

    def __init__(self, description: str) -> None:
        super().__init__(description)


class ZegoApiError(ZegoError):
    """ZEGO replied with a non-zero `Code`.

    `retryable` is true for the codes that mean busy or rate-limited; those
    were already retried with backoff before this was raised. `reply` is
    ZEGO's whole reply as a dict.
    """

    code: int
    message: str
    request_id: str | None
    retryable: bool
    attempts: int
    reply: dict[str, Any]

    def __init__(
        self,
        description: str,
        *,
        code: int,
        message: str,
        request_id: str | None,
        retryable: bool,
        attempts: int,
        reply: dict[str, Any],
    ) -> None:
        super().__init__(
            description,
            code=code,
            message=message,
            request_id=request_id,
            retryable=retryable,
            attempts=attempts,
            reply=reply,
        )
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retryable = retryable
        self.attempts = attempts
        self.reply = reply


class TransportError(ZegoError):
    """No usable reply from ZEGO: the connection failed, timed out, got HTTP 5xx
    without a ZEGO reply, or got a body that is not a ZEGO reply.

    `retryable` is false only for a body that is not a ZEGO reply.
    `attempts` counts the requests sent.
    """

    endpoint: str
    attempts: int
    is_timeout: bool
    retryable: bool

    def __init__(self, description: str, *, endpoint: str, attempts: int, is_timeout: bool, retryable: bool) -> None:
        super().__init__(
            description, endpoint=endpoint, attempts=attempts, is_timeout=is_timeout, retryable=retryable
        )
        self.endpoint = endpoint
        self.attempts = attempts
        self.is_timeout = is_timeout
        self.retryable = retryable
