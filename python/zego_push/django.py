"""A Django view and URL pattern that serve the guide's `POST /api/register-push-token`.

    from zego_push.django import register_push_token_path

    urlpatterns = [
        register_push_token_path(lambda request: str(request.user.pk) if request.user.is_authenticated else None),
    ]

The request and response bodies are those of zego-push-server (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Callable
from django.http import HttpRequest, HttpResponse, JsonResponse  # type: ignore[import-untyped]
from django.urls import URLPattern, path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt as exempt_from_csrf  # type: ignore[import-untyped]

from zego_push._endpoint import MAX_BODY_BYTES, ROUTE, _error, handle_registration
from zego_push._native import Client

__all__ = ["register_push_token_path", "register_push_token_view"]


def register_push_token_view(
    get_user_id: Callable[[HttpRequest], str | int | None],
    *,
    client: Client | None = None,
    csrf_exempt: bool = False,
) -> Callable[[HttpRequest], HttpResponse]:
    """Create a view that serves `POST /api/register-push-token`.

    `get_user_id(request)` returns the id of the user that the request is
    authenticated as, a str or an int (compared as its decimal text), or
    None (HTTP 401). Any other type gets HTTP 500 and an error in the log.
    A body whose `user_id` differs gets HTTP 403. `client` None means one built from `ZEGO_APP_ID`,
    `ZEGO_SERVER_SECRET` and `ZEGO_BASE_URL` when a request comes.

    The view keeps Django's CSRF check unless `csrf_exempt` is true. Exempt
    it only when `get_user_id` reads a credential that a browser does not
    send by itself (an `Authorization` header), not a session cookie.
    """

    def view(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            result = _error(405, "method_not_allowed", f"{request.method} is not allowed here; use POST")
            response = JsonResponse(result.body, status=result.status)
            response["Allow"] = "POST"
            return response

        body = request.read(MAX_BODY_BYTES + 1)
        result = handle_registration(client, get_user_id(request), request.content_type, body)
        response = JsonResponse(result.body, status=result.status)
        for name, value in result.headers.items():
            response[name] = value
        return response

    if csrf_exempt:
        view = exempt_from_csrf(view)
    return view


def register_push_token_path(
    get_user_id: Callable[[HttpRequest], str | int | None],
    *,
    client: Client | None = None,
    csrf_exempt: bool = False,
    route: str = ROUTE.lstrip("/"),
    name: str = "zego-push-register-push-token",
) -> URLPattern:
    """Return a URL pattern for `register_push_token_view`, at the guide's route by default."""
    view = register_push_token_view(get_user_id, client=client, csrf_exempt=csrf_exempt)
    return path(route, view, name=name)
