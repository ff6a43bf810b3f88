"""The guide's `POST /api/register-push-token`, independent of the web framework.

`zego_push.flask` and `zego_push.django` turn a request into a call of
`handle_registration` and its `EndpointResponse` into a response. The
request and response bodies are those of zego-push-server (docs/api.md),
without its registry: a registration that ZEGO cannot take now gets HTTP 503
and `Retry-After`, and the client sends it again later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zego_push._errors import ConfigurationError, InvalidInput, TransportError, ZegoApiError
from zego_push._guide import client_from_env
from zego_push._native import Client, validate_registration

ROUTE = "/api/register-push-token"
MAX_BODY_BYTES = 16 * 1024
RETRY_AFTER_SECONDS = 5

# InvalidInput's hint for an iOS app that uses Firebase names the Python
# keyword argument; a caller of this endpoint sends the JSON field instead.
PYTHON_PROVIDER_HINT = 'pass provider="fcm"'
JSON_PROVIDER_HINT = 'send "provider": "fcm"'

logger = logging.getLogger("zego_push")

# The hook the host application gives: it returns the id of the user that
# the request is authenticated as (a str, or an int such as a primary key),
# or None when it is not authenticated.
UserIdHook = Callable[[Any], "str | int | None"]

# The challenge of the 401 reply, as zego-push-server sends it (docs/api.md).
WWW_AUTHENTICATE = 'Bearer realm="zego-push"'


@dataclass(frozen=True)
class EndpointResponse:
    """An HTTP status, a JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: str, message: str, field_name: str | None = None, **extra: Any) -> EndpointResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field_name is not None:
        error["field"] = field_name
    headers = extra.pop("headers", {})
    return EndpointResponse(status, {"success": False, "error": error, **extra}, headers)


def content_type_is_json(content_type: str | None) -> bool:
    """Tell whether a Content-Type header names `application/json`, parameters aside."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def _string_field(body: dict[str, Any], name: str, *, required: bool) -> str | None | EndpointResponse:
    value = body.get(name)
    if value is None:
        if required:
            return _error(400, "missing_field", f"missing {name}: the request body must contain it", name)
        return None
    if not isinstance(value, str):
        return _error(400, "invalid_field", f"invalid {name}: must be a string, not {type(value).__name__}", name)
    return value


def _user_id_text(value: object) -> str | None | EndpointResponse:
    """Return the user-id function's result as text, or a 500 reply for an unusable type."""
    if value is None or isinstance(value, str):
        return value
    # bool is an int subclass, but True is no user id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    logger.error(
        "the user-id function given to zego_push returned %s; it must return a str or an int "
        "(the authenticated user's id), or None when the request is not authenticated",
        type(value).__name__,
    )
    return _error(500, "server_misconfigured", "this server's user-id function is unusable; see its log")


def handle_registration(
    client: Client | None,
    authenticated_user_id: object,
    content_type: str | None,
    body: bytes,
) -> EndpointResponse:
    """Check one registration request in the server's order, then register it.

    `authenticated_user_id` is the user-id function's result: a str, an int
    (compared as its decimal text) or None. `body` is at most
    `MAX_BODY_BYTES + 1` bytes of the request body, so a longer body is
    detected without reading all of it. `client` None means
    `client_from_env()`.
    """
    authenticated = _user_id_text(authenticated_user_id)
    if isinstance(authenticated, EndpointResponse):
        return authenticated
    if authenticated is None:
        return _error(
            401,
            "unauthorized",
            "authentication required: log in before registering a push token",
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    if not content_type_is_json(content_type):
        return _error(415, "unsupported_media_type", "the Content-Type must be application/json")
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")

    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        return _error(400, "malformed_json", f"the body is not valid JSON: {error}")
    if not isinstance(parsed, dict):
        return _error(400, "malformed_json", "the body must be a JSON object")

    fields: dict[str, str | None] = {}
    for name, required in (
        ("user_id", True),
        ("fcm_token", False),
        ("push_token", False),
        ("platform", True),
        ("provider", False),
    ):
        value = _string_field(parsed, name, required=required)
        if isinstance(value, EndpointResponse):
            return value
        fields[name] = value

    token = fields["fcm_token"] if fields["fcm_token"] is not None else fields["push_token"]
    if token is None:
        return _error(400, "missing_field", "missing fcm_token: send the device token as fcm_token or push_token", "fcm_token")
    if fields["push_token"] is not None and fields["fcm_token"] not in (None, fields["push_token"]):
        return _error(400, "invalid_field", "invalid push_token: fcm_token and push_token differ; send one of them", "push_token")

    user_id = fields["user_id"]
    assert user_id is not None and fields["platform"] is not None
    # The server's order: an invalid field (400) is reported before the
    # check that the caller may act for user_id (403).
    try:
        validate_registration(user_id, token, fields["platform"], fields["provider"])
    except InvalidInput as error:
        return _invalid_field(error)
    if user_id != authenticated:
        return _error(403, "forbidden", "user_id is not the authenticated user; a user may register only their own tokens", "user_id")

    return _register(client, user_id, token, fields["platform"], fields["provider"])


def _invalid_field(error: InvalidInput) -> EndpointResponse:
    message = str(error).replace(PYTHON_PROVIDER_HINT, JSON_PROVIDER_HINT)
    return _error(400, "invalid_field", message, error.field)


def _register(client: Client | None, user_id: str, token: str, platform: str, provider: str | None) -> EndpointResponse:
    try:
        active_client = client if client is not None else client_from_env()
        reply = active_client.register_push_token(user_id, token, platform, provider)
    except InvalidInput as error:
        return _invalid_field(error)
    except ConfigurationError as error:
        logger.error("zego_push is misconfigured, so push tokens cannot be registered: %s", error)
        return _error(500, "server_misconfigured", "this server's ZEGO configuration is unusable; see its log")
    except ZegoApiError as error:
        if error.retryable:
            logger.warning("ZEGO is busy for user %s after %d attempt(s): %s", user_id, error.attempts, error)
            return _unavailable(f"ZEGO is busy (Code {error.code}); send the registration again later")
        logger.warning("ZEGO rejected the registration of user %s: %s", user_id, error)
        return _error(502, "zego_rejected", str(error), data=error.reply)
    except TransportError as error:
        logger.warning("ZEGO could not be reached for user %s: %s", user_id, error)
        reason = "ZEGO did not reply in time" if error.is_timeout else "ZEGO could not be reached"
        return _unavailable(f"{reason}; send the registration again later")
    return EndpointResponse(200, {"success": True, "data": reply, "status": "registered"})


def _unavailable(message: str) -> EndpointResponse:
    return _error(503, "zego_unavailable", message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
