"""A Flask blueprint that serves the guide's `POST /api/register-push-token`.

    from zego_push.flask import create_blueprint

    app.register_blueprint(create_blueprint(lambda request: session.get("user_id")))

The request and response bodies are those of zego-push-server (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Callable

import flask

from zego_push._endpoint import MAX_BODY_BYTES, ROUTE, EndpointResponse, _error, handle_registration
from zego_push._native import Client

__all__ = ["create_blueprint"]

# The methods that get HTTP 405 method_not_allowed. HEAD is added by Flask
# along with GET. Methods outside this list get Werkzeug's HTML 405.
OTHER_METHODS = ("GET", "PUT", "PATCH", "DELETE", "OPTIONS")


def create_blueprint(
    get_user_id: Callable[[flask.Request], str | int | None],
    *,
    client: Client | None = None,
    name: str = "zego_push",
    url_prefix: str | None = None,
) -> flask.Blueprint:
    """Create a blueprint with the route `POST /api/register-push-token`.

    `get_user_id(request)` returns the id of the user that the request is
    authenticated as, a str or an int (compared as its decimal text), or
    None (HTTP 401). Any other type gets HTTP 500 and an error in the log.
    A body whose `user_id` differs gets HTTP 403. `client` None means one built from `ZEGO_APP_ID`,
    `ZEGO_SERVER_SECRET` and `ZEGO_BASE_URL` when a request comes.

    Flask has no CSRF protection of its own. If `get_user_id` trusts a
    session cookie, protect the route (for example with Flask-WTF's
    CSRFProtect), or another site could register its own token for your user.
    """
    blueprint = flask.Blueprint(name, __name__, url_prefix=url_prefix)

    # The other methods are routed here too, so that they get the JSON 405
    # of the Django view. A 405 from Flask's routing would be Werkzeug's
    # HTML page, and a blueprint cannot handle routing errors. OPTIONS is
    # listed, which turns off Flask's automatic OPTIONS reply, as in Django.
    @blueprint.route(ROUTE, methods=["POST", *OTHER_METHODS])
    def register_push_token() -> flask.Response:
        request = flask.request
        if request.method != "POST":
            result = _error(
                405, "method_not_allowed", f"{request.method} is not allowed here; use POST", headers={"Allow": "POST"}
            )
            return _json_response(result)

        body = request.stream.read(MAX_BODY_BYTES + 1)
        result = handle_registration(client, get_user_id(request), request.content_type, body)
        return _json_response(result)

    return blueprint


def _json_response(result: EndpointResponse) -> flask.Response:
    response = flask.jsonify(result.body)
    response.status_code = result.status
    response.headers.update(result.headers)
    return response
