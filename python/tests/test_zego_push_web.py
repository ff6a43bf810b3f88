"""zego_push.flask and zego_push.django through their real test clients, against zego-mock."""

from __future__ import annotations

import json

import django
import flask
import pytest
from django.conf import settings

import zego_push
from zego_push.django import register_push_token_path
from zego_push.flask import create_blueprint

FCM_TOKEN = "fcm_device_token_here"
USER_HEADER = "X-Test-User"
ROUTE = "/api/register-push-token"


def user_from_header(request) -> str | None:
    """The test apps' authentication: the user id is the X-Test-User header."""
    return request.headers.get(USER_HEADER)


def typed_user_from_header(request) -> object:
    """Return the X-Test-User header as an int when it is all digits, as True for "True", else as it is."""
    value = request.headers.get(USER_HEADER)
    if value == "True":
        return True
    if value is not None and value.isdigit():
        return int(value)
    return value


# Routes whose user-id function returns typed_user_from_header's values.
TYPED_ROUTE = "/typed" + ROUTE

# Django reads its settings once per process; the URL patterns are in this module.
urlpatterns = [
    register_push_token_path(user_from_header),
    register_push_token_path(user_from_header, csrf_exempt=True, route="exempt/register-push-token", name="exempt"),
    register_push_token_path(typed_user_from_header, route=TYPED_ROUTE.lstrip("/"), name="typed"),
]
if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
        SECRET_KEY="test-only-not-secret",
        USE_TZ=True,
    )
    django.setup()


class FlaskApp:
    """A Flask test client whose post() matches DjangoApp.post()."""

    def __init__(self) -> None:
        app = flask.Flask(__name__)
        app.register_blueprint(create_blueprint(user_from_header))
        app.register_blueprint(create_blueprint(typed_user_from_header, name="typed", url_prefix="/typed"))
        self.client = app.test_client()

    def post(self, body, *, user: str | None, content_type: str = "application/json", path: str = ROUTE):
        headers = {USER_HEADER: user} if user is not None else {}
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        response = self.client.post(path, data=data, content_type=content_type, headers=headers)
        return response.status_code, response.get_json(), response.headers


class DjangoApp:
    def __init__(self, **options) -> None:
        from django.test import Client

        self.client = Client(**options)

    def post(self, body, *, user: str | None, content_type: str = "application/json", path: str = ROUTE):
        headers = {USER_HEADER: user} if user is not None else {}
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        response = self.client.post(path, data=data, content_type=content_type, headers=headers)
        # Django's own CSRF rejection is an HTML page, not JSON.
        is_json = response.headers.get("Content-Type") == "application/json"
        return response.status_code, json.loads(response.content) if is_json else None, response.headers


@pytest.fixture(params=["flask", "django"])
def app(request, zego_env):
    return FlaskApp() if request.param == "flask" else DjangoApp()


def guide_body(user_id: str = "test_user_001", **extra) -> dict:
    return {"fcm_token": FCM_TOKEN, "platform": "android", "user_id": user_id, **extra}


def test_guide_request_succeeds(app, zego_env):
    status, body, _ = app.post(guide_body(), user="test_user_001")

    assert status == 200
    assert body["success"] is True
    assert body["status"] == "registered"
    assert body["data"]["Code"] == 0
    assert body["data"]["Message"] == "success"
    registrations = zego_env.registrations()
    assert [(r["user_id"], r["push_id"], r["push_provider"]) for r in registrations] == [
        ("test_user_001", FCM_TOKEN, 1)
    ]


def test_other_user_is_forbidden(app, zego_env):
    status, body, _ = app.post(guide_body("victim"), user="attacker")

    assert status == 403
    assert body["success"] is False
    assert body["error"]["code"] == "forbidden"
    assert body["error"]["field"] == "user_id"
    assert zego_env.calls() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (guide_body("victim", platform="web"), "platform"),
        (guide_body("victim", fcm_token="bad token"), "fcm_token"),
        (guide_body("v" * 33), "user_id"),
    ],
)
def test_invalid_field_precedes_forbidden(app, zego_env, body, field):
    status, got_body, _ = app.post(body, user="attacker")

    assert status == 400
    assert got_body["error"]["code"] == "invalid_field"
    assert got_body["error"]["field"] == field
    assert zego_env.calls() == []


def test_unauthenticated_is_401(app, zego_env):
    status, body, headers = app.post(guide_body(), user=None)

    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert headers["WWW-Authenticate"] == 'Bearer realm="zego-push"'
    assert zego_env.calls() == []


def test_int_user_id_compares_as_text(app, zego_env):
    status, body, _ = app.post(guide_body("42"), user="42", path=TYPED_ROUTE)

    assert status == 200
    assert body["data"]["Code"] == 0

    status, body, _ = app.post(guide_body("43"), user="42", path=TYPED_ROUTE)

    assert status == 403
    assert body["error"]["code"] == "forbidden"


def test_bool_user_id_is_500(app, zego_env, caplog):
    status, body, _ = app.post(guide_body("1"), user="True", path=TYPED_ROUTE)

    assert status == 500
    assert body["error"]["code"] == "server_misconfigured"
    assert "returned bool; it must return a str or an int" in caplog.text
    assert zego_env.calls() == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "field"),
    [
        (b"{not json", "application/json", 400, "malformed_json", None),
        (b"[1, 2]", "application/json", 400, "malformed_json", None),
        ({"platform": "android", "user_id": "u1"}, "application/json", 400, "missing_field", "fcm_token"),
        ({"fcm_token": FCM_TOKEN, "user_id": "u1"}, "application/json", 400, "missing_field", "platform"),
        ({"fcm_token": 5, "platform": "android", "user_id": "u1"}, "application/json", 400, "invalid_field", "fcm_token"),
        ({"fcm_token": FCM_TOKEN, "platform": "web", "user_id": "u1"}, "application/json", 400, "invalid_field", "platform"),
        ({"fcm_token": "fcm:x", "platform": "ios", "user_id": "u1"}, "application/json", 400, "invalid_field", "fcm_token"),
        (guide_body("u1"), "text/plain", 415, "unsupported_media_type", None),
        (json.dumps(guide_body("u1", padding="x" * 17000)), "application/json", 413, "body_too_large", None),
    ],
)
def test_rejects_bad_requests(app, zego_env, body, content_type, status, code, field):
    got_status, got_body, _ = app.post(body, user="u1", content_type=content_type)

    assert got_status == status
    assert got_body["success"] is False
    assert got_body["error"]["code"] == code
    assert got_body["error"].get("field") == field
    assert zego_env.calls() == []


def test_ios_fcm_token_hint_names_json_field(app, zego_env):
    status, body, _ = app.post({"push_token": "fcm:token", "platform": "iOS", "user_id": "u1"}, user="u1")

    assert status == 400
    assert body["error"]["field"] == "fcm_token"
    assert body["error"]["message"].endswith('send "provider": "fcm"')
    assert "provider=" not in body["error"]["message"]
    assert zego_env.calls() == []


def test_ios_fcm_token_with_provider(app, zego_env):
    status, body, _ = app.post(
        {"push_token": "fcm:token", "platform": "iOS", "provider": "fcm", "user_id": "u1"}, user="u1"
    )

    assert status == 200
    assert body["data"]["Code"] == 0
    assert zego_env.registrations()[0]["push_provider"] == 1


def test_zego_rejection_is_502(app, zego_env):
    zego_env.set_faults({"code": {"code": 660200001, "message": "user not exist", "count": 1}})

    status, body, _ = app.post(guide_body(), user="test_user_001")

    assert status == 502
    assert body["error"]["code"] == "zego_rejected"
    assert body["data"]["Code"] == 660200001


def test_unreachable_zego_is_503(app, zego_env):
    zego_env.set_faults({"drop_connections": 3})

    status, body, headers = app.post(guide_body(), user="test_user_001")

    assert status == 503
    assert body["error"]["code"] == "zego_unavailable"
    assert headers["Retry-After"] == "5"


def test_missing_credentials_is_500(app, zego_env, monkeypatch):
    monkeypatch.delenv("ZEGO_SERVER_SECRET")

    status, body, _ = app.post(guide_body(), user="test_user_001")

    assert status == 500
    assert body["error"]["code"] == "server_misconfigured"


def test_django_keeps_csrf_check_by_default(zego_env):
    app = DjangoApp(enforce_csrf_checks=True)

    status, _, _ = app.post(guide_body(), user="test_user_001")
    assert status == 403
    assert zego_env.calls() == []

    status, body, _ = app.post(guide_body(), user="test_user_001", path="/exempt/register-push-token")
    assert status == 200
    assert body["data"]["Code"] == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("framework", ["flask", "django"])
def test_other_methods_get_json_405(zego_env, framework, method):
    if framework == "flask":
        response = FlaskApp().client.open(ROUTE, method=method)
        content = response.get_data()
    else:
        from django.test import Client

        response = Client().generic(method, ROUTE)
        content = response.content

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(content)["error"]["code"] == "method_not_allowed"
    assert zego_env.calls() == []


def test_flask_head_is_405(zego_env):
    response = FlaskApp().client.head(ROUTE)

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_blueprint_uses_given_client(zego_env, monkeypatch):
    client = zego_push.Client(zego_env.app_id, zego_env.secret, base_url=zego_env.base_url)
    monkeypatch.delenv("ZEGO_SERVER_SECRET")
    app = flask.Flask(__name__)
    app.register_blueprint(create_blueprint(user_from_header, client=client, url_prefix="/push"))

    response = app.test_client().post("/push" + ROUTE, json=guide_body(), headers={USER_HEADER: "test_user_001"})

    assert response.status_code == 200
    assert response.get_json()["data"]["Code"] == 0
