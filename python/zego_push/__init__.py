"""Register mobile push tokens (FCM, APNs) with ZEGO's offline push service.

The work is done by the Rust core in `zego_push._native`, with the GIL
released. `Client` is the full interface; `generate_zego_signature` and
`register_zego_push_token` replace the integration guide's functions of the
same names; `zego_push.flask` and `zego_push.django` serve the guide's
`POST /api/register-push-token` endpoint. `generate_token04` and
`parse_token04` make and decode the login tokens of ZEGO's client SDKs, and
`verify_callback_signature` checks the callbacks ZEGO's servers send.
"""

from zego_push._errors import ConfigurationError, InvalidInput, TransportError, ZegoApiError, ZegoError
from zego_push._guide import client_from_env, generate_zego_signature, register_zego_push_token
from zego_push._native import (
    DEFAULT_BASE_URL,
    Client,
    TokenInfo,
    __version__,
    generate_token04,
    parse_token04,
    verify_callback_signature,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "Client",
    "ConfigurationError",
    "InvalidInput",
    "TokenInfo",
    "TransportError",
    "ZegoApiError",
    "ZegoError",
    "__version__",
    "client_from_env",
    "generate_token04",
    "generate_zego_signature",
    "parse_token04",
    "register_zego_push_token",
    "verify_callback_signature",
]
