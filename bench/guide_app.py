"""The offline push integration guide's backend code, served with Flask.

This is the baseline for bench/load.sh: the guide's Python code behind the
POST /api/register-push-token endpoint that the guide describes. It differs
from the guide only where a "DEVIATION:" comment marks it.

Run it under gunicorn, for example:

    ZEGO_APP_ID=1234567890 ZEGO_SERVER_SECRET=... \\
    ZEGO_BASE_URL=http://127.0.0.1:PORT \\
    gunicorn --chdir bench guide_app:app
"""

import hashlib
import hmac
import os
import time
import urllib.parse
import uuid

import requests
from flask import Flask, jsonify, request


# DEVIATION: the guide hard-codes https://rtc-api.zego.im. The benchmark
# reads the base URL from the environment and accepts only a plain-HTTP URL
# on 127.0.0.1 (a local zego-mock), so this app can never send to ZEGO or to
# any other host.
def _read_local_base_url():
    base_url = os.environ.get("ZEGO_BASE_URL", "")
    parsed = urllib.parse.urlsplit(base_url)
    if parsed.scheme != "http" or parsed.hostname != "127.0.0.1":
        raise SystemExit(
            f"guide_app: ZEGO_BASE_URL must be http://127.0.0.1:PORT (a local zego-mock), "
            f"got {base_url!r}; set it to the URL that zego-mock prints"
        )
    return base_url.rstrip("/")


ZEGO_BASE_URL = _read_local_base_url()

# DEVIATION: the guide has placeholder literals here. The benchmark reads
# the local zego-mock's test app from the environment.
ZEGO_APP_ID = os.environ["ZEGO_APP_ID"]
ZEGO_SERVER_SECRET = os.environ["ZEGO_SERVER_SECRET"]


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

    response = requests.post(
        # DEVIATION: the guide's URL is "https://rtc-api.zego.im/?Action=PushRegister".
        f"{ZEGO_BASE_URL}/?Action=PushRegister",
        json=params,
        headers=headers
    )

    return response.json()


# The endpoint that the guide specifies for the backend. It takes the
# guide's request body and returns the guide's success response.
app = Flask(__name__)


@app.route("/api/register-push-token", methods=["POST"])
def register_push_token():
    body = request.get_json()
    result = register_zego_push_token(body["user_id"], body["fcm_token"], body["platform"])
    return jsonify({"success": True, "data": result})
