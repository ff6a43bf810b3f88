//! The async client for ZEGO's PushRegister call.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::Method;
use rand::Rng;
use url::Url;

use crate::codes::{self, CodeClass};
use crate::credentials::{AppId, ServerSecret};
use crate::error::{error_chain, through_proxy, ApiError, Error};
use crate::sign::{SignatureScheme, SignedRequest, Signer};
pub use crate::transport::ProxySetting;
use crate::transport::{is_loopback, Reply, Transport, TransportConfig, TransportError};
use crate::values::Registration;

/// ZEGO's unified RTC API address, where the guide sends PushRegister.
pub const DEFAULT_BASE_URL: &str = "https://rtc-api.zego.im";
/// The action the guide calls.
pub const DEFAULT_ACTION: &str = "PushRegister";

/// A ZEGO data-center region; each has its own API host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// The unified address that routes to the nearest region.
    Unified,
    Shanghai,
    HongKong,
    Frankfurt,
    California,
    Mumbai,
    Singapore,
}

impl Region {
    fn host_suffix(self) -> &'static str {
        match self {
            Region::Unified => "",
            Region::Shanghai => "-sha",
            Region::HongKong => "-hkg",
            Region::Frankfurt => "-fra",
            Region::California => "-lax",
            Region::Mumbai => "-bom",
            Region::Singapore => "-sgp",
        }
    }

    /// Returns the base URL of `product` (`rtc` or `zim`) in this region.
    pub fn base_url(self, product: &str) -> String {
        format!("https://{product}-api{}.zego.im", self.host_suffix())
    }
}

impl FromStr for Region {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "" | "unified" | "global" => Ok(Region::Unified),
            "sha" | "shanghai" => Ok(Region::Shanghai),
            "hkg" | "hongkong" | "hong-kong" => Ok(Region::HongKong),
            "fra" | "frankfurt" => Ok(Region::Frankfurt),
            "lax" | "california" => Ok(Region::California),
            "bom" | "mumbai" => Ok(Region::Mumbai),
            "sgp" | "singapore" => Ok(Region::Singapore),
            _ => Err(format!("unknown ZEGO region {s:?}; use one of unified, sha, hkg, fra, lax, bom, sgp")),
        }
    }
}

/// How often and how patiently a failed request is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests sent at most for retryable failures, the first included.
    pub max_attempts: u32,
    /// The backoff cap before the second attempt; it doubles each time.
    pub base_delay: Duration,
    /// The largest backoff cap.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 3, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(2) }
    }
}

/// The extra wait before retrying after a per-second rate limit (Code 7 or
/// 660300005), so that the retry falls in a later second than the rejected
/// request. Without it, the first retry came 0 to 100 ms later, inside the
/// same limit window.
pub const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(1);

impl RetryPolicy {
    /// Returns the wait before attempt `attempt + 1`: a random duration
    /// between zero and `min(max_delay, base_delay * 2^(attempt - 1))`
    /// ("full jitter"), so that many clients retrying at once spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let cap = self.base_delay.saturating_mul(1 << exponent).min(self.max_delay);
        let cap_micros = cap.as_micros() as u64;
        if cap_micros == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(rand::rng().random_range(0..=cap_micros))
    }

    /// Returns the wait before attempt `attempt + 1` after `failure`:
    /// [`RATE_LIMIT_PAUSE`] plus the backoff after a per-second rate limit,
    /// the backoff alone after any other failure.
    pub fn delay_after(&self, failure: &Error, attempt: u32) -> Duration {
        let rate_limited = matches!(failure, Error::Api(api) if codes::is_rate_limit(api.code));
        if rate_limited {
            RATE_LIMIT_PAUSE + self.backoff(attempt)
        } else {
            self.backoff(attempt)
        }
    }
}

/// Settings of a [`ZegoClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme, host and optional path prefix; the action goes in the query.
    pub base_url: String,
    pub action: String,
    pub scheme: SignatureScheme,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, from connecting to the last byte of the reply.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Requests in flight to ZEGO at most; more wait for a free slot. This
    /// bounds the connections (and their buffers) that a burst of
    /// registrations opens.
    pub max_concurrent_requests: usize,
    /// The proxy choice. By default, it is the proxy that the environment
    /// names (`HTTPS_PROXY` and the like).
    pub proxy: ProxySetting,
}

impl ClientConfig {
    /// Returns the longest one [`ZegoClient::register`] call can take, not
    /// counting a wait for a free request slot: every attempt timing out,
    /// each followed by the longest wait, plus the attempt signed again
    /// after a timestamp outside ZEGO's window.
    pub fn longest_call(&self) -> Duration {
        (self.timeout + self.retry.max_delay + RATE_LIMIT_PAUSE).saturating_mul(self.retry.max_attempts)
            + self.timeout
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            action: DEFAULT_ACTION.to_owned(),
            scheme: SignatureScheme::Guide,
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_concurrent_requests: 128,
            proxy: ProxySetting::Environment,
        }
    }
}

/// A ZEGO reply with `Code` 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// ZEGO's whole reply, as received.
    pub reply: serde_json::Value,
    pub request_id: Option<String>,
    /// Requests sent, including the successful one.
    pub attempts: u32,
}

/// The async client for PushRegister. Cloning is cheap and shares the
/// connection pool.
#[derive(Clone)]
pub struct ZegoClient {
    inner: std::sync::Arc<ClientInner>,
}

/// What every clone of a [`ZegoClient`] shares; a clone costs one counter
/// increment, which matters because the server clones its state per request.
struct ClientInner {
    http: Transport,
    slots: tokio::sync::Semaphore,
    signer: Signer,
    endpoint: Url,
    config: ClientConfig,
}

impl fmt::Debug for ZegoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZegoClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("proxy", &self.inner.http.proxy())
            .field("signer", &self.inner.signer)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The result of one request.
enum Attempt {
    Reply(serde_json::Value),
    /// Worth trying again: connection failure, timeout, HTTP 5xx without a ZEGO reply.
    Retryable(Error),
    Fatal(Error),
}

impl ZegoClient {
    /// Builds a client with the system clock and random nonces.
    pub fn new(app_id: AppId, secret: ServerSecret, config: ClientConfig) -> Result<Self, Error> {
        let signer = Signer::new(app_id, secret, config.scheme);
        Self::with_signer(signer, config)
    }

    /// Builds a client around a signer, which tests give a fixed clock or nonce.
    /// The signer's scheme wins over `config.scheme`.
    pub fn with_signer(signer: Signer, mut config: ClientConfig) -> Result<Self, Error> {
        config.scheme = signer.scheme();
        let endpoint = parse_base_url(&config.base_url)?;
        if config.action.is_empty() || !config.action.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::InvalidConfig(format!(
                "action {:?} must be a non-empty ASCII word such as \"PushRegister\"",
                config.action
            )));
        }
        if config.retry.max_attempts == 0 {
            return Err(Error::InvalidConfig("max_attempts must be at least 1".into()));
        }
        if config.max_concurrent_requests == 0 {
            return Err(Error::InvalidConfig("max_concurrent_requests must be at least 1".into()));
        }
        let endpoint_uri: http::Uri = endpoint.as_str().parse().map_err(|error| {
            Error::InvalidConfig(format!("base URL {:?} is not a URL: {error}", config.base_url))
        })?;
        let http = Transport::new(TransportConfig {
            endpoint: &endpoint_uri,
            proxy: &config.proxy,
            connect_timeout: config.connect_timeout,
            max_idle_per_host: config.max_concurrent_requests,
            user_agent: concat!("zego-push/", env!("CARGO_PKG_VERSION")),
        })
        .map_err(|reason| Error::InvalidConfig(format!("cannot build the HTTP client: {reason}")))?;
        if let Some(proxy) = http.proxy() {
            tracing::info!(endpoint = endpoint.as_str(), proxy, "ZEGO requests go through a proxy");
        }
        if is_plain_http_to_remote(&endpoint_uri) {
            tracing::warn!(
                endpoint = endpoint.as_str(),
                "the ZEGO base URL uses plain http to another machine, so push tokens travel unencrypted; use https:// unless this is a test peer on a trusted network"
            );
        }
        let slots = tokio::sync::Semaphore::new(config.max_concurrent_requests);
        Ok(Self { inner: std::sync::Arc::new(ClientInner { http, slots, signer, endpoint, config }) })
    }

    pub fn signer(&self) -> &Signer {
        &self.inner.signer
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Returns the request URL without its query, safe to log.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }

    /// Returns the proxy that requests go through, without its credentials,
    /// or `None` when they go straight to the endpoint.
    pub fn proxy(&self) -> Option<&str> {
        self.inner.http.proxy()
    }

    /// Signs a PushRegister request for `registration` without sending it.
    pub fn sign(&self, registration: &Registration) -> SignedRequest {
        self.inner.signer.sign_push_register(&self.inner.config.action, registration)
    }

    /// Returns the full URL of a signed request, query included.
    pub fn request_url(&self, signed: &SignedRequest) -> Url {
        let mut url = self.inner.endpoint.clone();
        url.query_pairs_mut().extend_pairs(signed.query.iter());
        url
    }

    /// Registers one token with ZEGO.
    ///
    /// Each attempt is signed anew. Connection failures, timeouts, HTTP 5xx
    /// without a ZEGO reply and retryable codes are tried again up to
    /// `retry.max_attempts` times with jittered backoff. Code 100000004
    /// (timestamp out of window) is signed again and tried once more, on
    /// top of that budget. Other codes are returned at once.
    pub async fn register(&self, registration: &Registration) -> Result<Registered, Error> {
        let max_attempts = self.inner.config.retry.max_attempts;
        let mut attempts = 0;
        let mut failures = 0;
        let mut resigned = false;

        loop {
            attempts += 1;
            let signed = self.sign(registration);
            let failure = match self.send_once(&signed, attempts).await {
                Attempt::Reply(reply) => match reply_code(&reply) {
                    Some(codes::SUCCESS) => {
                        let request_id = reply_string(&reply, "RequestId");
                        return Ok(Registered { reply, request_id, attempts });
                    }
                    Some(code) => {
                        let error = api_error(code, reply, attempts);
                        match error.class {
                            CodeClass::ClockSkew if !resigned => {
                                resigned = true;
                                tracing::debug!(code, "timestamp outside ZEGO's window; signing again");
                                continue;
                            }
                            CodeClass::Retryable => Error::from(error),
                            _ => return Err(Error::from(error)),
                        }
                    }
                    None => {
                        return Err(Error::MalformedReply {
                            endpoint: self.inner.endpoint.to_string(),
                            attempts,
                            status: 200,
                            reason: "the JSON object has no integer \"Code\"".into(),
                            excerpt: excerpt(&reply.to_string()),
                        })
                    }
                },
                Attempt::Retryable(error) => error,
                Attempt::Fatal(error) => return Err(error),
            };

            failures += 1;
            if failures >= max_attempts {
                return Err(failure);
            }
            let delay = self.inner.config.retry.delay_after(&failure, failures);
            tracing::debug!(attempt = attempts, ?delay, error = %failure, "ZEGO request failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(&self, signed: &SignedRequest, attempts: u32) -> Attempt {
        let uri = match self.request_url(signed).as_str().parse::<http::Uri>() {
            Ok(uri) => uri,
            Err(error) => {
                return Attempt::Fatal(Error::InvalidConfig(format!("the request URL is invalid: {error}")))
            }
        };
        let mut headers = HeaderMap::with_capacity(2 + signed.headers.len());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &signed.headers {
            let (Ok(name), Ok(mut value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value))
            else {
                return Attempt::Fatal(Error::InvalidConfig(format!("header {name:?} cannot be sent")));
            };
            value.set_sensitive(name == "signature");
            headers.insert(name, value);
        }

        let body = serde_json::to_vec(&signed.body).expect("a JSON value serializes");
        let _slot = self.inner.slots.acquire().await.expect("the semaphore is never closed");
        let exchange = self.inner.http.send(Method::POST, uri, headers, body);
        let reply = match self.peer().exchange(exchange, attempts).await {
            Ok(reply) => reply,
            // Not a ZEGO reply, and a retry would fetch the same body.
            Err(error @ Error::MalformedReply { .. }) => return Attempt::Fatal(error),
            Err(error) => return Attempt::Retryable(error),
        };
        match serde_json::from_slice::<serde_json::Value>(&reply.body) {
            Ok(parsed) if parsed.is_object() => Attempt::Reply(parsed),
            parsed => {
                let proxy = self.inner.http.proxy();
                let body = String::from_utf8_lossy(&reply.body);
                if reply.status.is_server_error() {
                    return Attempt::Retryable(Error::Transport {
                        endpoint: self.inner.endpoint.to_string(),
                        attempts,
                        reason: format!("HTTP {} without a ZEGO reply{}", reply.status, through_proxy(proxy)),
                        source: None,
                    });
                }
                let mut reason = match parsed {
                    Ok(_) => "the JSON is not an object".to_owned(),
                    Err(error) => format!("invalid JSON: {error}"),
                };
                if let Some(proxy) = proxy {
                    reason = if reply.status == http::StatusCode::PROXY_AUTHENTICATION_REQUIRED {
                        format!("the proxy {proxy} requires credentials: put user:password@ in the proxy URL")
                    } else {
                        // A proxy's own error page, such as a 403, looks the same from here.
                        format!("{reason}; the reply may come from the proxy {proxy}")
                    };
                }
                Attempt::Fatal(Error::MalformedReply {
                    endpoint: self.inner.endpoint.to_string(),
                    attempts,
                    status: reply.status.as_u16(),
                    reason,
                    excerpt: excerpt(&body),
                })
            }
        }
    }

    fn peer(&self) -> Peer<'_> {
        Peer {
            endpoint: self.inner.endpoint.as_str(),
            proxy: self.inner.http.proxy(),
            connect_timeout: self.inner.config.connect_timeout,
            timeout: self.inner.config.timeout,
        }
    }
}

/// The request target that failure messages name: endpoint, proxy and timeouts.
struct Peer<'a> {
    endpoint: &'a str,
    proxy: Option<&'a str>,
    connect_timeout: Duration,
    timeout: Duration,
}

impl Peer<'_> {
    /// Runs one exchange within the total timeout and turns its failure into an [`Error`].
    async fn exchange(
        &self,
        exchange: impl std::future::Future<Output = Result<Reply, TransportError>>,
        attempts: u32,
    ) -> Result<Reply, Error> {
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(self.failure(error, attempts)),
            Err(_elapsed) => Err(self.timed_out(self.timeout, attempts)),
        }
    }

    fn timed_out(&self, timeout: Duration, attempts: u32) -> Error {
        Error::Timeout {
            endpoint: self.endpoint.to_owned(),
            attempts,
            timeout,
            proxy: self.proxy.map(str::to_owned),
        }
    }

    fn failure(&self, error: TransportError, attempts: u32) -> Error {
        match error {
            TransportError::ConnectTimeout => self.timed_out(self.connect_timeout, attempts),
            TransportError::TooLarge(status) => Error::MalformedReply {
                endpoint: self.endpoint.to_owned(),
                attempts,
                status: status.as_u16(),
                reason: format!("the reply is larger than 1 MiB{}", through_proxy(self.proxy)),
                excerpt: String::new(),
            },
            TransportError::Failed(source) => Error::Transport {
                endpoint: self.endpoint.to_owned(),
                attempts,
                reason: format!("{}{}", error_chain(source.as_ref()), through_proxy(self.proxy)),
                source: Some(source),
            },
        }
    }
}

/// The reply of a host to [`probe_host`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReply {
    /// The base URL as requested, with a trailing slash.
    pub url: String,
    pub status: u16,
    /// The `Date` header, as sent.
    pub date: Option<String>,
    /// Time from sending the request to the end of the reply.
    pub elapsed: Duration,
    /// The proxy the request went through, without its credentials.
    pub proxy: Option<String>,
}

/// Sends one `GET` to `base_url` by the route a [`ZegoClient`] would take
/// (the same proxy rules, TLS roots and timeouts) and returns the reply.
/// Any HTTP status counts as a reply; only a failure to get one is an error.
pub async fn probe_host(
    base_url: &str,
    proxy: &ProxySetting,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<HostReply, Error> {
    let endpoint = parse_base_url(base_url)?;
    let uri: http::Uri = endpoint
        .as_str()
        .parse()
        .map_err(|error| Error::InvalidConfig(format!("base URL {base_url:?} is not a URL: {error}")))?;
    let http = Transport::new(TransportConfig {
        endpoint: &uri,
        proxy,
        connect_timeout,
        max_idle_per_host: 1,
        user_agent: concat!("zego-push/", env!("CARGO_PKG_VERSION")),
    })
    .map_err(|reason| Error::InvalidConfig(format!("cannot build the HTTP client: {reason}")))?;
    let peer = Peer { endpoint: endpoint.as_str(), proxy: http.proxy(), connect_timeout, timeout };

    let started = Instant::now();
    let exchange = http.send(Method::GET, uri, HeaderMap::new(), Vec::new());
    let reply = peer.exchange(exchange, 1).await?;
    Ok(HostReply {
        url: endpoint.to_string(),
        status: reply.status.as_u16(),
        date: reply.headers.get(http::header::DATE).and_then(|value| value.to_str().ok()).map(str::to_owned),
        elapsed: started.elapsed(),
        proxy: http.proxy().map(str::to_owned),
    })
}

/// Tells whether requests to `endpoint` leave this machine without TLS.
fn is_plain_http_to_remote(endpoint: &http::Uri) -> bool {
    endpoint.scheme_str() == Some("http") && !is_loopback(endpoint)
}

fn parse_base_url(base_url: &str) -> Result<Url, Error> {
    let mut url = Url::parse(base_url)
        .map_err(|error| Error::InvalidConfig(format!("base URL {base_url:?} is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::InvalidConfig(format!(
            "base URL {base_url:?} must start with https://, or http:// for a test peer such as zego-mock"
        )));
    }
    if url.host_str().is_none() {
        return Err(Error::InvalidConfig(format!("base URL {base_url:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // The URL is not echoed: it contains the credentials.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        return Err(Error::InvalidConfig(format!(
            "the base URL for {url} must not carry a user name or password; ZEGO requests are signed instead"
        )));
    }
    if url.query().is_some() {
        return Err(Error::InvalidConfig(format!("base URL {base_url:?} must not carry a query")));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn reply_code(reply: &serde_json::Value) -> Option<i64> {
    reply.get("Code")?.as_i64()
}

fn reply_string(reply: &serde_json::Value, key: &str) -> Option<String> {
    reply.get(key)?.as_str().map(str::to_owned)
}

fn api_error(code: i64, reply: serde_json::Value, attempts: u32) -> ApiError {
    ApiError {
        code,
        message: reply_string(&reply, "Message").unwrap_or_default(),
        request_id: reply_string(&reply, "RequestId"),
        class: codes::classify(code),
        attempts,
        reply,
    }
}

fn excerpt(body: &str) -> String {
    body.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_trailing_slash() {
        assert_eq!(parse_base_url("http://127.0.0.1:9").unwrap().as_str(), "http://127.0.0.1:9/");
        assert_eq!(parse_base_url("http://h/zego").unwrap().as_str(), "http://h/zego/");
    }

    #[test]
    fn rejects_bad_base_urls() {
        for bad in ["ftp://h", "not a url", "http://h/?Action=X", "http://user:pw@h"] {
            assert!(matches!(parse_base_url(bad), Err(Error::InvalidConfig(_))), "{bad}");
        }
    }

    #[test]
    fn rate_limit_waits_past_its_second() {
        let policy = RetryPolicy::default();
        for code in [7, 660_300_005] {
            let failure = Error::from(api_error(code, serde_json::json!({"Code": code}), 1));
            for attempt in 1..=5 {
                let delay = policy.delay_after(&failure, attempt);
                assert!(delay >= RATE_LIMIT_PAUSE, "Code {code}, attempt {attempt}: {delay:?}");
                assert!(
                    delay <= RATE_LIMIT_PAUSE + policy.max_delay,
                    "Code {code}, attempt {attempt}: {delay:?}"
                );
            }
        }
        let busy = Error::from(api_error(1, serde_json::json!({"Code": 1}), 1));
        for attempt in 1..=5 {
            assert!(policy.delay_after(&busy, attempt) <= policy.max_delay, "attempt {attempt}");
        }
    }

    #[test]
    fn longest_call_covers_every_wait() {
        let config = ClientConfig {
            timeout: Duration::from_secs(5),
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(2),
            },
            ..ClientConfig::default()
        };
        // Three attempts of 5 s, each followed by up to 2 s of backoff and the
        // 1 s rate-limit pause, and one attempt signed again.
        assert_eq!(config.longest_call(), Duration::from_secs(3 * (5 + 2 + 1) + 5));
    }

    #[test]
    fn plain_http_warning_only_for_remote_hosts() {
        let uri = |text: &str| text.parse::<http::Uri>().unwrap();
        assert!(is_plain_http_to_remote(&uri("http://10.1.2.3:9/")));
        assert!(is_plain_http_to_remote(&uri("http://zego-mock:9100/")));
        assert!(!is_plain_http_to_remote(&uri("http://127.0.0.1:9/")));
        assert!(!is_plain_http_to_remote(&uri("http://[::1]:9/")));
        assert!(!is_plain_http_to_remote(&uri("http://localhost:9/")));
        assert!(!is_plain_http_to_remote(&uri("https://rtc-api.zego.im/")));
    }

    #[test]
    fn credentials_in_base_url_are_not_echoed() {
        let Err(Error::InvalidConfig(message)) = parse_base_url("http://user:hunter2@127.0.0.1:9") else {
            panic!("a base URL with credentials is accepted");
        };
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!message.contains("user:"), "{message}");
        assert!(message.contains("http://127.0.0.1:9/"), "{message}");
    }

    #[test]
    fn regions_map_to_hosts() {
        assert_eq!(Region::Unified.base_url("rtc"), DEFAULT_BASE_URL);
        assert_eq!("fra".parse::<Region>().unwrap().base_url("rtc"), "https://rtc-api-fra.zego.im");
        assert!("mars".parse::<Region>().is_err());
    }

    #[test]
    fn backoff_stays_under_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for _ in 0..200 {
            assert!(policy.backoff(1) <= Duration::from_millis(100));
            assert!(policy.backoff(2) <= Duration::from_millis(200));
            assert!(policy.backoff(10) <= Duration::from_millis(300));
        }
    }

    #[test]
    fn request_url_carries_action_in_query() {
        let signer =
            Signer::new(AppId::new(7).unwrap(), ServerSecret::new("s").unwrap(), SignatureScheme::Guide);
        let config = ClientConfig { base_url: "http://127.0.0.1:1".into(), ..ClientConfig::default() };
        let client = ZegoClient::with_signer(signer, config).unwrap();
        let registration = Registration::parse("u", "t", "android", None, None).unwrap();
        let signed = client.sign(&registration);
        assert_eq!(client.request_url(&signed).as_str(), "http://127.0.0.1:1/?Action=PushRegister");
    }
}
