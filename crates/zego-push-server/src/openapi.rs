//! The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`.
//!
//! The handlers build their JSON with `serde_json::json!`, so the schema
//! types here exist only to describe those bodies. Each one must list the
//! same fields, with the same names, types and optionality, as the handler
//! that produces it. docs/api.md describes the same API in prose.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Required, Response, Type};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use crate::http::HEADER_LIMIT;
use crate::BODY_LIMIT;

/// The name of the bearer security scheme in the document.
pub const BEARER_SCHEME: &str = "bearer";

/// The OpenAPI document of every route that [`crate::app`] serves.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "zego-push",
        version = env!("CARGO_PKG_VERSION"),
        description = "Registers mobile push tokens (FCM and APNs) with ZEGO's offline push service. \
            The server binds a device's token to a user with ZEGO, stores every registration and its outcome, \
            retries registrations that ZEGO did not accept in time from an outbox, and removes tokens at logout. \
            Every response carries an `x-request-id` header."
    ),
    paths(
        crate::register::register_push_token,
        crate::devices::unregister_push_token,
        crate::devices::unregister_user,
        crate::devices::list_devices,
        crate::devices::resync,
        crate::zego_token::issue_token,
        crate::zego_callback::receive_callback,
        crate::healthz,
        crate::readyz,
        crate::metrics,
        serve,
    ),
    components(
        schemas(
            RegisterRequest,
            UnregisterRequest,
            RegisterReply,
            QueuedReply,
            ZegoReply,
            ErrorReply,
            ErrorDetail,
            ZegoRejectedReply,
            TokenRemovedReply,
            UserTokensRemovedReply,
            DeviceList,
            Device,
            Presence,
            TokenRequest,
            RtcPrivilegeRequest,
            TokenReply,
            TokenData,
            CallbackRequest,
            CallbackReply,
            ResyncReply,
            HealthReply,
            ReadyReply,
            NotReadyReply,
            ReadinessChecks,
        ),
        responses(
            Unauthorized,
            PayloadTooLarge,
            UnsupportedMediaType,
            HeadersTooLarge,
            RequestTimeout,
            StoreUnavailable,
            SubjectMismatch,
            RateLimited,
        ),
    ),
    modifiers(&BearerSecurity, &RequestIdHeader),
    tags(
        (name = "registration", description = "Binding push tokens to users with ZEGO"),
        (name = "devices", description = "A user's registered devices, unregistration and resync"),
        (name = "tokens", description = "Token04 login tokens for ZEGO's client SDKs"),
        (name = "callbacks", description = "ZEGO's server callbacks: login state and call invitations"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// Serves this API's OpenAPI document at `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi_document",
    summary = "The OpenAPI document of this API",
    description = "Returns this document. It is generated from the server's code, and its `info.version` is the server's version.",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this server", body = Object,
            content_type = "application/json"),
        (status = 408, response = RequestTimeout),
        (status = 431, response = HeadersTooLarge),
    )
)]
pub async fn serve() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// The body of `POST /api/register-push-token`, a JSON object of at most 16 KiB.
/// Unknown fields are ignored, and `null` counts as absent.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"user_id": "alice", "fcm_token": "dQw4w9WgXcQ:APA91bH-example_token", "platform": "android"}))]
pub struct RegisterRequest {
    /// The ZEGO user id: 1 to 32 bytes of printable ASCII without whitespace.
    #[schema(min_length = 1, max_length = 32, pattern = "^[!-~]+$", example = "alice")]
    pub user_id: String,
    /// The device's push token. Required unless `push_token` is sent. An FCM token contains only
    /// `A-Z a-z 0-9 _ - :` and has 1 to 4096 characters. For an APNs token, spaces and `<` `>` are
    /// removed, and the rest must be an even number of 64 to 200 hex digits. The server stores and
    /// sends an APNs token in lowercase.
    pub fcm_token: Option<String>,
    /// Another name for `fcm_token`, because an APNs token is not an FCM token. When both are sent
    /// they must be equal.
    pub push_token: Option<String>,
    /// `android` or `ios`, in any letter case.
    #[schema(examples("android", "ios"))]
    pub platform: String,
    /// `fcm` or `apns`, in any letter case. The default is `fcm` for android and `apns` for ios.
    /// An iOS app that uses Firebase has an FCM token and sends `fcm`.
    #[schema(examples("fcm", "apns"))]
    pub provider: Option<String>,
    /// An app-chosen id that distinguishes one user's devices: 1 to 128 characters of printable
    /// ASCII without whitespace.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub device_id: Option<String>,
}

/// The body of `POST /api/unregister-push-token`, a JSON object of at most 16 KiB.
/// Unknown fields are ignored, and `null` counts as absent.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"user_id": "alice", "fcm_token": "dQw4w9WgXcQ:APA91bH-example_token"}))]
pub struct UnregisterRequest {
    /// The user whose token to remove: 1 to 32 bytes of printable ASCII without whitespace.
    #[schema(min_length = 1, max_length = 32, pattern = "^[!-~]+$", example = "alice")]
    pub user_id: String,
    /// The token to remove, as it was registered. Required unless `push_token` is sent. An APNs
    /// token also matches in its stored form (spaces and `<` `>` removed, lowercase).
    pub fcm_token: Option<String>,
    /// Another name for `fcm_token`. When both are sent they must be equal.
    pub push_token: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Success bodies
// ---------------------------------------------------------------------------------------------

/// The outcome of a registration that ZEGO accepted.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RegisterStatus {
    /// ZEGO was called and replied with Code 0.
    Registered,
    /// The same registration succeeded within the unchanged window, so ZEGO was not called.
    Unchanged,
}

/// The value `queued`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum QueuedStatus {
    Queued,
}

/// The value `removed`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RemovedStatus {
    Removed,
}

/// A reply of ZEGO's API. Any other fields in ZEGO's reply are passed on unchanged.
#[derive(Debug, ToSchema)]
pub struct ZegoReply {
    /// ZEGO's result code; 0 means success.
    #[schema(rename = "Code", example = 0)]
    pub code: i64,
    /// ZEGO's result message, when its reply has one.
    #[schema(rename = "Message", nullable = false, example = "success")]
    pub message: Option<String>,
    /// ZEGO's id of the request, when its reply has one.
    #[schema(rename = "RequestId", nullable = false)]
    pub request_id: Option<String>,
}

/// HTTP 200 from `POST /api/register-push-token`: ZEGO accepted the registration.
#[derive(Debug, ToSchema)]
pub struct RegisterReply {
    /// Always `true`.
    pub success: bool,
    /// ZEGO's reply as received for `registered`. For `unchanged` it is `{"Code": 0, "Message":
    /// "success"}` with the `RequestId` of the earlier successful call when ZEGO sent one.
    pub data: ZegoReply,
    #[schema(inline)]
    pub status: RegisterStatus,
}

/// HTTP 202 from `POST /api/register-push-token`: ZEGO was unreachable, slow or busy, or sent a
/// reply that is not a ZEGO reply. The registration is stored, and the outbox retries it with
/// backoff until ZEGO accepts or rejects it, or for at most 72 hours by default. This is a
/// success: the client must not send the registration again.
#[derive(Debug, ToSchema)]
pub struct QueuedReply {
    /// Always `true`.
    pub success: bool,
    #[schema(inline)]
    pub status: QueuedStatus,
    /// A fixed sentence saying that the registration is stored and will be retried.
    pub message: String,
    /// The reason the call to ZEGO failed, in a few words: `ZEGO did not reply in time`, `ZEGO could
    /// not be reached`, `ZEGO is busy (Code N)` or `ZEGO's reply could not be read`.
    pub reason: String,
    /// When the outbox tries next, as an RFC 3339 time in UTC.
    #[schema(example = "2026-01-01T00:00:02.000Z")]
    pub next_attempt_at: String,
}

/// HTTP 200 from `POST /api/unregister-push-token`.
#[derive(Debug, ToSchema)]
pub struct TokenRemovedReply {
    /// Always `true`.
    pub success: bool,
    #[schema(inline)]
    pub status: RemovedStatus,
}

/// HTTP 200 from `DELETE /api/users/{user_id}/push-tokens`.
#[derive(Debug, ToSchema)]
pub struct UserTokensRemovedReply {
    /// Always `true`.
    pub success: bool,
    #[schema(inline)]
    pub status: RemovedStatus,
    /// How many of the user's registrations were removed; 0 when the user had none.
    pub removed: u64,
}

/// The state of a registration in the registry.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DeviceState {
    /// Stored, but ZEGO has not confirmed it yet; the outbox retries it.
    Pending,
    /// ZEGO replied with Code 0.
    Registered,
    /// ZEGO rejected it with a permanent code, or the outbox gave up.
    Failed,
}

/// One registration of a user. Times are RFC 3339 in UTC with milliseconds.
#[derive(Debug, ToSchema)]
pub struct Device {
    /// The first 12 hex digits of the SHA-256 of the stored token; the token itself is never returned.
    #[schema(example = "3f2a9c0b71de")]
    pub token_hash: String,
    /// `fcm` or `apns`.
    #[schema(example = "fcm")]
    pub provider: String,
    /// `android` or `ios`.
    #[schema(example = "android")]
    pub platform: String,
    /// The `device_id` sent at registration, or `null`.
    #[schema(required = true)]
    pub device_id: Option<String>,
    #[schema(inline)]
    pub state: DeviceState,
    /// ZEGO requests sent since the last registration request or resync.
    pub attempts: i64,
    /// The Code of ZEGO's last reply: 0 after a success, else the code that rejected or delayed the
    /// registration. `null` before the first attempt, or when the last attempt got no ZEGO reply.
    #[schema(required = true)]
    pub last_code: Option<i64>,
    /// `success` after a success, else why the last attempt failed; `null` before the first attempt.
    #[schema(required = true)]
    pub last_message: Option<String>,
    /// When the latest registration request for this token arrived.
    #[schema(format = DateTime, example = "2026-01-01T00:00:00.000Z")]
    pub requested_at: String,
    /// When ZEGO accepted it, or `null`.
    #[schema(required = true, format = DateTime)]
    pub registered_at: Option<String>,
    /// When the outbox tries next, or `null` when no attempt is due.
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// `true` when the registration is pending but the outbox defers it, because the user logged
    /// out of ZEGO after the registration request. It is sent once the user logs in or registers again.
    pub held_by_logout: bool,
}

/// A user's state in ZEGO's in-app chat (ZIM), from the login and logout callback.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PresenceState {
    Online,
    LoggedOut,
    Offline,
}

/// The user's last known ZEGO state. Times are RFC 3339 in UTC with milliseconds.
#[derive(Debug, ToSchema)]
pub struct Presence {
    /// `online` after a login, `logged_out` after a logout, `offline` when the connection broke
    /// (the app was killed or lost the network): the state in which a push must wake the phone.
    #[schema(inline)]
    pub state: PresenceState,
    /// When the state changed, by ZEGO's clock.
    #[schema(format = DateTime)]
    pub changed_at: String,
    /// ZEGO's name of the device's operating system, such as `ANDROID` or `IOS_PHONE`, or `null`.
    #[schema(required = true)]
    pub os: Option<String>,
    /// When this server received the callback.
    #[schema(format = DateTime)]
    pub recorded_at: String,
}

/// HTTP 200 from `GET /api/users/{user_id}/devices`: the user's registrations that are not
/// removed, newest registration request first.
#[derive(Debug, ToSchema)]
pub struct DeviceList {
    /// Always `true`.
    pub success: bool,
    pub user_id: String,
    /// The user's last known ZEGO state, or `null` until a callback reports one.
    #[schema(required = true)]
    pub presence: Option<Presence>,
    pub devices: Vec<Device>,
}

/// The body of `POST /api/zego-token`, a JSON object of at most 16 KiB.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"user_id": "alice", "effective_time_in_seconds": 3600}))]
pub struct TokenRequest {
    /// The ZEGO user id the token is for: 1 to 32 bytes of printable ASCII without whitespace.
    /// A user's JWT may leave it out, and then gets a token for its `sub`.
    #[schema(min_length = 1, max_length = 32, pattern = "^[!-~]+$", example = "alice")]
    pub user_id: Option<String>,
    /// How long the token is valid, in seconds: 1 to the server's maximum (86400 by default).
    /// The server's default (3600) when absent.
    #[schema(minimum = 1, example = 3600)]
    pub effective_time_in_seconds: Option<u64>,
    /// ZEGO's RTC privilege payload. Only an API key may ask for it.
    pub rtc_privilege: Option<RtcPrivilegeRequest>,
}

/// The RTC privileges a token carries.
#[derive(Debug, ToSchema)]
pub struct RtcPrivilegeRequest {
    /// The room the token is for, 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128, example = "room-1")]
    pub room_id: String,
    /// Whether the token may log in to the room; `true` when absent.
    pub login_room: Option<bool>,
    /// Whether the token may publish streams; `true` when absent.
    pub publish_stream: Option<bool>,
    /// The stream ids the token may publish, at most 100; `null` or absent allows any.
    pub stream_ids: Option<Vec<String>>,
}

/// The token and what it holds. Times are RFC 3339 in UTC with milliseconds.
#[derive(Debug, ToSchema)]
pub struct TokenData {
    /// The Token04: `04` followed by base64.
    #[schema(example = "04AAAAAGVT...")]
    pub token: String,
    /// The AppId the token is for; the client SDK needs it too. AppIds go up
    /// to 4294967295, beyond a signed 32-bit integer.
    #[schema(value_type = i64, minimum = 1, maximum = 4_294_967_295_i64, example = 1_234_567_890)]
    pub app_id: u32,
    pub user_id: String,
    /// Always `gcm`: the current Token04 format.
    #[schema(example = "gcm")]
    pub format: String,
    pub effective_time_in_seconds: u64,
    #[schema(format = DateTime)]
    pub issued_at: String,
    /// When the token stops working; the client must fetch a new one before then.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// HTTP 200 from `POST /api/zego-token`.
#[derive(Debug, ToSchema)]
pub struct TokenReply {
    /// Always `true`.
    pub success: bool,
    pub data: TokenData,
}

/// A callback from ZEGO's servers, as ZEGO sends it. Only the fields this server reads are listed;
/// others are ignored.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"appid": "1234567890", "event": "user_action", "timestamp": 1_767_225_600,
    "nonce": "350176", "signature": "5bd59fd62953a8059fb7eaba95720f66d19e4517", "user_id": "alice",
    "action": 1, "os": "ANDROID", "logout_time": 1_767_225_600}))]
pub struct CallbackRequest {
    /// The AppId, as a string or number. A callback for another AppId is acknowledged and ignored.
    pub appid: Option<String>,
    /// `user_action`, `call_create`, `call_cancel`, `call_timeout`, or another event, which is acknowledged only.
    pub event: String,
    /// Unix seconds, as a number or string.
    pub timestamp: i64,
    /// A random value, as a string or number.
    pub nonce: String,
    /// The lowercase hex SHA-1 of the sorted CallbackSecret, timestamp and nonce.
    pub signature: String,
    /// `user_action`: the user.
    pub user_id: Option<String>,
    /// `user_action`: 0 logged in, 1 logged out, 2 offline.
    pub action: Option<i64>,
    /// `user_action`: the device's operating system.
    pub os: Option<String>,
    /// `user_action`: the session.
    pub session_id: Option<String>,
    /// `user_action`: Unix seconds of the login, logout or disconnection.
    pub login_time: Option<i64>,
    pub logout_time: Option<i64>,
    pub offline_time: Option<i64>,
    /// Call events: the call.
    pub call_id: Option<String>,
    /// Call events: the called users.
    pub user_ids: Option<Vec<String>>,
    /// `call_create`: the calling user.
    pub caller: Option<String>,
    /// `call_create`: when the call was created, Unix seconds.
    pub create_time: Option<i64>,
    /// `call_cancel`: why the call was cancelled.
    pub reason: Option<String>,
}

/// The value `recorded` or `ignored`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CallbackStatus {
    Recorded,
    Ignored,
}

/// HTTP 200 from `POST /api/zego/callback`.
#[derive(Debug, ToSchema)]
pub struct CallbackReply {
    /// Always `true`.
    pub success: bool,
    /// `recorded` when the event is stored, `ignored` for an event this server does not use or another AppId.
    #[schema(inline)]
    pub status: CallbackStatus,
    /// The callback's `event`.
    pub event: String,
    /// The reason the callback was ignored, for another AppId.
    pub reason: Option<String>,
}

/// HTTP 202 from `POST /api/resync`: every registered or pending registration is queued to be
/// sent to ZEGO again at the resync rate.
#[derive(Debug, ToSchema)]
pub struct ResyncReply {
    /// Always `true`.
    pub success: bool,
    #[schema(inline)]
    pub status: QueuedStatus,
    /// How many registrations were queued.
    pub queued: u64,
    /// Registrations per second the outbox sends.
    pub rate_per_second: u32,
    /// `queued / rate_per_second`, rounded up: about how long the resync takes.
    pub estimated_seconds: u64,
}

/// The value `ok`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// HTTP 200 from `GET /healthz`.
#[derive(Debug, ToSchema)]
pub struct HealthReply {
    #[schema(inline)]
    pub status: HealthStatus,
}

/// The value `ready`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ReadyStatus {
    Ready,
}

/// The value `not_ready`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum NotReadyStatus {
    NotReady,
}

/// The result of the registry database check.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum StoreCheck {
    Ok,
    Unavailable,
}

/// The result of the configuration check, which passes whenever the server runs.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ConfigurationCheck {
    Ok,
}

/// The registry database backend.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum StoreBackend {
    Sqlite,
    Postgres,
}

/// The individual readiness checks.
#[derive(Debug, ToSchema)]
pub struct ReadinessChecks {
    #[schema(inline)]
    pub store: StoreCheck,
    #[schema(inline)]
    pub configuration: ConfigurationCheck,
}

/// HTTP 200 from `GET /readyz`: the registry database responds.
#[derive(Debug, ToSchema)]
pub struct ReadyReply {
    #[schema(inline)]
    pub status: ReadyStatus,
    pub checks: ReadinessChecks,
    #[schema(inline)]
    pub store: StoreBackend,
    /// Registrations waiting in the outbox (state `pending`), or `null` when counting them failed.
    #[schema(required = true)]
    pub outbox_depth: Option<i64>,
}

/// HTTP 503 from `GET /readyz`: the registry database does not respond.
#[derive(Debug, ToSchema)]
pub struct NotReadyReply {
    #[schema(inline)]
    pub status: NotReadyStatus,
    pub checks: ReadinessChecks,
}

// ---------------------------------------------------------------------------------------------
// Error bodies and reusable responses
// ---------------------------------------------------------------------------------------------

/// What failed.
#[derive(Debug, ToSchema)]
pub struct ErrorDetail {
    /// A machine-readable code: `malformed_json`, `invalid_body`, `missing_field`, `invalid_field`
    /// (400), `unauthorized`, `token_expired`, `invalid_callback_signature`, `stale_callback`
    /// (401), `forbidden` (403), `token_not_found`, `not_found`, `callbacks_disabled` (404),
    /// `method_not_allowed` (405), `request_timeout` (408), `replayed_callback` (409),
    /// `body_too_large` (413), `unsupported_media_type` (415), `rate_limited` (429),
    /// `headers_too_large` (431), `server_misconfigured` (500), `zego_rejected` (502) or
    /// `store_unavailable` (503).
    #[schema(example = "invalid_field")]
    pub code: String,
    /// A description of what failed and how to fix it, for people.
    pub message: String,
    /// The request field at fault, named as the client sent it, when there is one.
    #[schema(nullable = false, example = "user_id")]
    pub field: Option<String>,
}

/// The body of every error response except HTTP 502, which adds ZEGO's reply.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"success": false, "error": {"code": "invalid_field", "message": "invalid user_id: is 33 bytes long; ZEGO accepts at most 32 bytes", "field": "user_id"}}))]
pub struct ErrorReply {
    /// Always `false`.
    pub success: bool,
    pub error: ErrorDetail,
}

/// HTTP 502 from `POST /api/register-push-token`: ZEGO rejected the registration with a permanent
/// non-zero Code. The registration is stored as failed and is not retried.
#[derive(Debug, ToSchema)]
pub struct ZegoRejectedReply {
    /// Always `false`.
    pub success: bool,
    /// `code` is `zego_rejected`.
    pub error: ErrorDetail,
    /// ZEGO's reply as received.
    pub data: ZegoReply,
}

/// HTTP 401: the `Authorization` header is missing, malformed, or carries an invalid or expired
/// JWT or an unknown API key. Never returned when the server runs with authentication mode none.
#[derive(Debug, ToResponse)]
#[response(
    example = json!({"success": false, "error": {"code": "unauthorized", "message": "the request has no Authorization header; send Authorization: Bearer <token>"}}),
    headers(("WWW-Authenticate" = String,
        description = "An RFC 6750 Bearer challenge with realm \"zego-push\"; error=\"invalid_request\" or error=\"invalid_token\" when a credential was sent"))
)]
pub struct Unauthorized(pub ErrorReply);

/// HTTP 413: the body is larger than 16 KiB; `error.code` is `body_too_large`.
#[derive(Debug, ToResponse)]
pub struct PayloadTooLarge(pub ErrorReply);

/// HTTP 415: the `Content-Type` is not `application/json`; `error.code` is `unsupported_media_type`.
#[derive(Debug, ToResponse)]
pub struct UnsupportedMediaType(pub ErrorReply);

/// HTTP 431: the request's header names and values add up to more than 16 KiB; `error.code` is
/// `headers_too_large`.
#[derive(Debug, ToResponse)]
pub struct HeadersTooLarge(pub ErrorReply);

/// HTTP 503: the registry database failed; `error.code` is `store_unavailable`. Try again later.
#[derive(Debug, ToResponse)]
pub struct StoreUnavailable(pub ErrorReply);

/// HTTP 403: the JWT's `sub` claim is not `user_id`; `error.code` is `forbidden` and `error.field`
/// is `user_id`.
#[derive(Debug, ToResponse)]
pub struct SubjectMismatch(pub ErrorReply);

/// HTTP 429: the rate limit per client address or per user was exceeded; `error.code` is
/// `rate_limited`.
#[derive(Debug, ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))]
pub struct RateLimited(pub ErrorReply);

/// HTTP 408: the request took longer than the request timeout (30 s by default); `error.code` is
/// `request_timeout`. An accepted registration is kept and retried by the outbox.
#[derive(Debug, ToResponse)]
pub struct RequestTimeout(pub ErrorReply);

// ---------------------------------------------------------------------------------------------
// Modifiers
// ---------------------------------------------------------------------------------------------

/// Adds the bearer security scheme that the `/api/` routes require.
#[derive(Debug)]
struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT or API key")
            .description(Some(
                "`Authorization: Bearer <credential>`. With authentication mode jwt, the credential is a JWT \
                 (HS256, RS256 or ES256) whose `sub` claim is the user id the caller may act for. With mode \
                 api-key, it is an API key of a trusted backend, which may act for any user and alone may \
                 start a resync. With mode none (loopback only by default), no credential is needed and \
                 the header is ignored.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER_SCHEME, SecurityScheme::Http(scheme));
    }
}

const REQUEST_ID: &str = "x-request-id";

/// Adds the `x-request-id` request header to every operation and the response header to every
/// response.
#[derive(Debug)]
struct RequestIdHeader;

impl RequestIdHeader {
    fn add_to_response(response: &mut RefOr<Response>) {
        if let RefOr::T(response) = response {
            let header = HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(
                    "The request's id: the x-request-id that the client sent when it is 1 to 64 characters \
                     of A-Z a-z 0-9 - _ . and else a new 16-hex-digit id. Server logs carry the same id.",
                ))
                .build();
            response.headers.insert(REQUEST_ID.to_owned(), header);
        }
    }

    fn add_to_operation(operation: &mut Operation) {
        let parameter = ParameterBuilder::new()
            .name(REQUEST_ID)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(64))
                    .pattern(Some("^[A-Za-z0-9._-]+$")),
            ))
            .description(Some(
                "An id for this request, echoed in the response and written to the server's logs. \
                 Another value is replaced by a new id.",
            ))
            .build();
        operation.parameters.get_or_insert_with(Vec::new).push(parameter);
        for response in operation.responses.responses.values_mut() {
            Self::add_to_response(response);
        }
    }
}

impl Modify for RequestIdHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                Self::add_to_operation(operation);
            }
        }
        if let Some(components) = &mut openapi.components {
            for response in components.responses.values_mut() {
                Self::add_to_response(response);
            }
        }
    }
}

// Fails to compile when a limit changes, because the descriptions above state 16 KiB.
const _: () = assert!(BODY_LIMIT == 16 * 1024 && HEADER_LIMIT == 16 * 1024);

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;
    use utoipa::openapi::PathItem;

    use super::*;

    /// The method and path of every route that `crate::app` serves; keep it in step with lib.rs.
    const ROUTES: [(&str, &str); 11] = [
        ("POST", "/api/register-push-token"),
        ("POST", "/api/unregister-push-token"),
        ("DELETE", "/api/users/{user_id}/push-tokens"),
        ("GET", "/api/users/{user_id}/devices"),
        ("POST", "/api/resync"),
        ("POST", "/api/zego-token"),
        ("POST", "/api/zego/callback"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ];

    /// The routes that need the bearer credential.
    const SECURED: [&str; 6] = [
        "/api/register-push-token",
        "/api/unregister-push-token",
        "/api/users/{user_id}/push-tokens",
        "/api/users/{user_id}/devices",
        "/api/resync",
        "/api/zego-token",
    ];

    fn operations(item: &PathItem) -> Vec<(&'static str, &Operation)> {
        let candidates = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("OPTIONS", &item.options),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
            ("TRACE", &item.trace),
        ];
        candidates.into_iter().filter_map(|(method, operation)| Some((method, operation.as_ref()?))).collect()
    }

    fn document_json() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("the document serializes")
    }

    /// Returns the schema that `reference` (`#/components/schemas/NAME`) points to.
    fn resolve<'a>(document: &'a Value, reference: &Value) -> &'a Value {
        let name = reference["$ref"]
            .as_str()
            .and_then(|path| path.strip_prefix("#/components/schemas/"))
            .unwrap_or_else(|| panic!("expected a schema reference, got {reference}"));
        &document["components"]["schemas"][name]
    }

    #[test]
    fn document_lists_exactly_served_routes() {
        let document = ApiDoc::openapi();
        let documented: BTreeSet<(String, String)> = document
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                operations(item).into_iter().map(move |(method, _)| (method.to_owned(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> =
            ROUTES.iter().map(|(method, path)| ((*method).to_owned(), (*path).to_owned())).collect();

        let undocumented: Vec<_> = served.difference(&documented).collect();
        assert!(undocumented.is_empty(), "served but not documented: {undocumented:?}");
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
    }

    #[test]
    fn every_operation_declares_responses() {
        let document = ApiDoc::openapi();
        for (path, item) in &document.paths.paths {
            let operations = operations(item);
            assert!(!operations.is_empty(), "{path} has no operation");
            for (method, operation) in operations {
                assert!(!operation.responses.responses.is_empty(), "{method} {path} declares no response");
            }
        }
    }

    #[test]
    fn register_request_body_fields() {
        let document = document_json();
        let body = &document["paths"]["/api/register-push-token"]["post"]["requestBody"];
        assert_eq!(body["required"], true, "{body}");
        let schema = resolve(&document, &body["content"]["application/json"]["schema"]);

        let properties: BTreeSet<&str> = schema["properties"]
            .as_object()
            .expect("the request schema has properties")
            .keys()
            .map(String::as_str)
            .collect();
        let expected: BTreeSet<&str> =
            ["user_id", "fcm_token", "push_token", "platform", "provider", "device_id"].into_iter().collect();
        assert_eq!(properties, expected);

        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .expect("the request schema lists required fields")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, ["platform", "user_id"].into_iter().collect());
    }

    #[test]
    fn api_routes_require_bearer_scheme() {
        let document = document_json();
        let scheme = &document["components"]["securitySchemes"][BEARER_SCHEME];
        assert_eq!(scheme["type"], "http", "{scheme}");
        assert_eq!(scheme["scheme"], "bearer", "{scheme}");

        for (method, path) in ROUTES {
            let operation = &document["paths"][path][method.to_ascii_lowercase()];
            let security = &operation["security"];
            if SECURED.contains(&path) {
                assert_eq!(security, &serde_json::json!([{BEARER_SCHEME: []}]), "{method} {path}");
                assert!(operation["responses"]["401"].is_object(), "{method} {path} documents no 401");
            } else {
                assert!(security.is_null(), "{method} {path} needs no credential but declares {security}");
            }
        }
    }

    /// Returns the response that `response` points to when it is a
    /// `#/components/responses/NAME` reference, else `response` itself.
    fn resolve_response<'a>(document: &'a Value, response: &'a Value) -> &'a Value {
        match response["$ref"].as_str() {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/responses/")
                    .unwrap_or_else(|| panic!("unexpected response reference {reference}"));
                let component = &document["components"]["responses"][name];
                assert!(component.is_object(), "{reference} is not in the document");
                component
            }
            None => response,
        }
    }

    #[test]
    fn limit_responses_carry_their_headers() {
        let document = document_json();
        let unauthorized = &document["components"]["responses"]["Unauthorized"];
        assert!(unauthorized["headers"]["WWW-Authenticate"].is_object(), "{unauthorized}");
        assert!(unauthorized["headers"][REQUEST_ID].is_object(), "{unauthorized}");
        let timeout = &document["components"]["responses"]["RequestTimeout"];
        assert!(timeout["headers"][REQUEST_ID].is_object(), "408 carries x-request-id: {timeout}");
        assert!(timeout["content"]["application/json"].is_object(), "408 has a JSON body: {timeout}");

        for path in SECURED {
            let item = document["paths"][path].as_object().expect("the path is documented");
            for (method, operation) in item {
                let too_many = resolve_response(&document, &operation["responses"]["429"]);
                assert!(too_many["headers"]["Retry-After"].is_object(), "{method} {path}: {too_many}");
            }
        }
    }

    #[test]
    fn app_id_fits_the_schema() {
        let document = document_json();
        let app_id = &document["components"]["schemas"]["TokenData"]["properties"]["app_id"];
        assert_eq!(app_id["format"], "int64", "{app_id}");
        assert_eq!(app_id["maximum"], u64::from(u32::MAX), "{app_id}");
    }

    #[test]
    fn callback_401_names_its_challenge() {
        let document = document_json();
        let unauthorized = &document["paths"]["/api/zego/callback"]["post"]["responses"]["401"];
        assert!(unauthorized["headers"]["WWW-Authenticate"].is_object(), "{unauthorized}");
        let codes = document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["description"]
            .as_str()
            .expect("error codes are described");
        for code in
            ["invalid_callback_signature", "stale_callback", "callbacks_disabled", "replayed_callback"]
        {
            assert!(codes.contains(code), "{code} is not among the documented error codes: {codes}");
        }
    }

    #[test]
    fn document_round_trips_through_json() {
        let document = ApiDoc::openapi();
        let text = document.to_pretty_json().expect("the document serializes");
        let value: Value = serde_json::from_str(&text).expect("the output is JSON");
        assert!(
            value["openapi"].as_str().is_some_and(|version| version.starts_with("3.")),
            "{}",
            value["openapi"]
        );
        assert_eq!(value["info"]["title"], "zego-push");
        assert_eq!(value["info"]["version"], env!("CARGO_PKG_VERSION"));

        let parsed: utoipa::openapi::OpenApi = serde_json::from_str(&text).expect("the document parses back");
        assert_eq!(serde_json::to_value(&parsed).expect("the parsed document serializes"), value);
    }
}
