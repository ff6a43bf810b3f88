"""Drop-in replacements for the integration guide's two Python functions.

They take the same arguments and return the same values as the guide's
`generate_zego_signature` and `register_zego_push_token`, so a project
switches by changing one import. docs/python.md lists the differences.
The main ones: the credentials and base URL come from the environment at
call time, and invalid input raises `InvalidInput` before anything is sent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from zego_push._errors import ConfigurationError, ZegoApiError
from zego_push._native import Client, guide_signature

ENV_APP_ID = "ZEGO_APP_ID"
ENV_SERVER_SECRET = "ZEGO_SERVER_SECRET"
# The base URL of PushRegister calls; unset means ZEGO's own host (DEFAULT_BASE_URL).
ENV_BASE_URL = "ZEGO_BASE_URL"


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(
            f"environment variable {name} is not set; set it to the value shown on the ZEGO console's project page"
        )
    return value


def generate_zego_signature(params: Mapping[Any, Any]) -> str:
    """Return the guide's signature of `params`.

    The result is the lowercase hex HMAC-SHA256 of `k1=v1&k2=v2...` over the
    sorted keys, keyed by the ServerSecret from `ZEGO_SERVER_SECRET`. Keys
    and values are written as the guide's f-string writes them.
    """
    return guide_signature(_required_env(ENV_SERVER_SECRET), params)


# Clients by (AppId, ServerSecret, base URL), so that calls reuse their connections.
_clients: dict[tuple[str, str, str | None], Client] = {}
_clients_lock = threading.Lock()
# More configurations than this in one process means the variables keep
# changing; the cache is then emptied instead of growing.
_MAX_CACHED_CLIENTS = 8


def client_from_env() -> Client:
    """Return a `Client` configured from `ZEGO_APP_ID`, `ZEGO_SERVER_SECRET` and `ZEGO_BASE_URL`.

    Clients are cached per configuration, so repeated calls reuse their
    connections; changing a variable gives a new client.
    """
    key = (_required_env(ENV_APP_ID), _required_env(ENV_SERVER_SECRET), os.environ.get(ENV_BASE_URL) or None)
    client = _clients.get(key)
    if client is not None:
        return client

    app_id, server_secret, base_url = key
    client = Client(app_id, server_secret, base_url=base_url)
    with _clients_lock:
        if len(_clients) >= _MAX_CACHED_CLIENTS:
            _clients.clear()
        return _clients.setdefault(key, client)


def register_zego_push_token(
    user_id: str, fcm_token: str, platform: str, *, provider: str | None = None
) -> dict[str, Any]:
    """Register a push token with ZEGO and return ZEGO's reply as a dict.

    As in the guide, a reply with a non-zero `Code` is returned, not raised,
    after busy and rate-limit codes were retried with backoff. Unlike the
    guide, the platform matches in any case, anything but android or ios
    raises `InvalidInput`, and an iOS token that is not hex raises
    `InvalidInput` unless `provider="fcm"` marks it as an FCM token.
    Unreachable or slow ZEGO raises `TransportError`.
    """
    # Checked here so that the message names this function's fcm_token, not the client's token.
    for name, value in (("user_id", user_id), ("fcm_token", fcm_token), ("platform", platform)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")

    client = client_from_env()
    try:
        return client.register_push_token(user_id, fcm_token, platform, provider)
    except ZegoApiError as error:
        return error.reply
