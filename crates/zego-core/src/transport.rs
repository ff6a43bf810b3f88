//! The HTTP/1.1 transport under [`crate::ZegoClient`]. It is hyper's pooled
//! client with rustls, sent through a proxy when one applies.
//!
//! A client talks to one endpoint, so the proxy decision is made once, when
//! the client is built. Behind a proxy, an `https://` endpoint is reached
//! through an HTTP CONNECT tunnel, and requests to an `http://` endpoint go to
//! the proxy in absolute form.
//!
//! `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` are read in upper or
//! lower case. When `REQUEST_METHOD` is set, as in a CGI script, hyper-util
//! ignores them all, because a CGI client could set `HTTP_PROXY` through a
//! `Proxy:` request header. An endpoint on a loopback address never uses the
//! environment's proxy, because a proxy cannot reach this machine's loopback
//! and requests to a local peer such as zego-mock must stay on the machine.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, PROXY_AUTHORIZATION};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

/// Maximum reply body size. A ZEGO reply is a few hundred bytes, so a larger
/// body (a proxy's error page, say) is rejected before it fills memory.
const MAX_REPLY_BYTES: usize = 1 << 20;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The proxy choice of a client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxySetting {
    /// The proxy that `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` names,
    /// unless `NO_PROXY` lists the host or the endpoint is on a loopback address.
    #[default]
    Environment,
    /// No proxy, whatever the environment contains.
    Off,
    /// This proxy (`http://[user:password@]host:port`), for every endpoint.
    Url(String),
}

/// Settings of the transport.
#[derive(Clone, Copy)]
pub(crate) struct TransportConfig<'a> {
    pub endpoint: &'a Uri,
    pub proxy: &'a ProxySetting,
    pub connect_timeout: Duration,
    pub max_idle_per_host: usize,
    pub user_agent: &'static str,
}

/// A failed exchange, before the client turns it into a [`crate::Error`].
#[derive(Debug)]
pub(crate) enum TransportError {
    /// Connecting, sending or reading failed.
    Failed(BoxError),
    /// Connecting took longer than the connect timeout.
    ConnectTimeout,
    /// The reply body, with this status, was larger than [`MAX_REPLY_BYTES`].
    TooLarge(StatusCode),
}

/// A reply read to its end.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A pooled HTTP/1.1 client bound to one endpoint's route.
pub(crate) struct Transport {
    client: Client<HttpsConnector<RouteConnector>, Full<Bytes>>,
    /// Sent with every request when the endpoint goes through an HTTP proxy.
    proxy_authorization: Option<HeaderValue>,
    user_agent: HeaderValue,
    /// The proxy in use, without credentials, for error messages.
    proxy: Option<String>,
}

impl Transport {
    pub fn new(config: TransportConfig<'_>) -> Result<Self, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));

        let matcher = match config.proxy {
            ProxySetting::Environment if is_loopback(config.endpoint) => None,
            ProxySetting::Environment => {
                check_environment(config.endpoint)?;
                Some(Matcher::from_env())
            }
            ProxySetting::Off => None,
            ProxySetting::Url(url) => {
                // The URL may contain a password, so messages show at most its scheme, host and port.
                let parsed: Uri =
                    url.parse().map_err(|error| format!("the proxy URL is invalid: {error}"))?;
                if parsed.host().is_none() {
                    return Err("the proxy URL has no host".to_owned());
                }
                if parsed.scheme_str() != Some("http") {
                    return Err(format!("the proxy {} must be an http:// URL", without_credentials(&parsed)));
                }
                Some(Matcher::builder().all(url.clone()).build())
            }
        };
        let intercept = matcher.and_then(|matcher| matcher.intercept(config.endpoint));

        let mut proxy_authorization = None;
        let mut proxy = None;
        let route = match intercept {
            None => Route::Direct,
            Some(intercept) => {
                let proxy_uri = intercept.uri().clone();
                if proxy_uri.scheme_str() != Some("http") {
                    let variable = if config.endpoint.scheme_str() == Some("https") {
                        "HTTPS_PROXY"
                    } else {
                        "HTTP_PROXY"
                    };
                    return Err(format!(
                        "the proxy for {} ({variable} or ALL_PROXY) must be an http:// URL; {} is not supported",
                        config.endpoint,
                        without_credentials(&proxy_uri)
                    ));
                }
                proxy = Some(without_credentials(&proxy_uri));
                let auth = intercept.basic_auth().cloned();
                if config.endpoint.scheme_str() == Some("https") {
                    let tunnel = Tunnel::new(proxy_uri, http.clone());
                    Route::Tunnel(match auth {
                        Some(auth) => tunnel.with_auth(auth),
                        None => tunnel,
                    })
                } else {
                    proxy_authorization = auth.map(|mut value| {
                        value.set_sensitive(true);
                        value
                    });
                    Route::HttpProxy(proxy_uri)
                }
            }
        };

        let tls =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|error| format!("cannot set up TLS: {error}"))?
                .with_root_certificates(rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                })
                .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(RouteConnector { http, route, connect_timeout: config.connect_timeout });

        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(config.max_idle_per_host)
            .build(connector);
        Ok(Self {
            client,
            proxy_authorization,
            user_agent: HeaderValue::from_static(config.user_agent),
            proxy,
        })
    }

    /// Returns the proxy requests go through, without its credentials.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// Sends one request and reads the whole reply.
    pub async fn send(
        &self,
        method: Method,
        uri: Uri,
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Reply, TransportError> {
        headers.insert(http::header::USER_AGENT, self.user_agent.clone());
        if let Some(auth) = &self.proxy_authorization {
            headers.insert(PROXY_AUTHORIZATION, auth.clone());
        }
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| TransportError::Failed(Box::new(error)))?;
        *request.headers_mut() = headers;

        let response = self.client.request(request).await.map_err(classify)?;
        let status = response.status();
        let (parts, body) = response.into_parts();
        match Limited::new(body, MAX_REPLY_BYTES).collect().await {
            Ok(collected) => Ok(Reply { status, headers: parts.headers, body: collected.to_bytes() }),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                Err(TransportError::TooLarge(status))
            }
            Err(error) => Err(TransportError::Failed(error)),
        }
    }
}

/// Checks the proxy variable that applies to `endpoint`, in the order that
/// hyper-util reads them. hyper-util ignores a value it cannot use, so a typo
/// would otherwise send requests past the proxy.
fn check_environment(endpoint: &Uri) -> Result<(), String> {
    if std::env::var_os("REQUEST_METHOD").is_some() {
        return Ok(());
    }
    let own = if endpoint.scheme_str() == Some("https") {
        ["HTTPS_PROXY", "https_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy"]
    };
    for pair in [own, ["ALL_PROXY", "all_proxy"]] {
        // The first variable of a pair that is set counts, even when it is empty.
        let Some((name, value)) =
            pair.iter().find_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
        else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        return check_proxy_value(name, &value);
    }
    Ok(())
}

/// Checks that the value of the proxy variable `name` is an `http://` proxy
/// (a value without a scheme counts as one). The message names the variable
/// but never shows its value, which may contain a password.
fn check_proxy_value(name: &str, value: &str) -> Result<(), String> {
    let usage = "use http://[user:password@]host:port";
    let Ok(uri) = value.trim().parse::<Uri>() else {
        return Err(format!("{name} is not a valid proxy URL; {usage}"));
    };
    if uri.host().is_none() {
        return Err(format!("{name} names no proxy host; {usage}"));
    }
    match uri.scheme_str() {
        None | Some("http") => Ok(()),
        Some(scheme @ ("https" | "socks4" | "socks4a" | "socks5" | "socks5h")) => {
            Err(format!("{name} names a {scheme}:// proxy, which is not supported; {usage}"))
        }
        Some(_) => Err(format!("{name} is not a valid proxy URL; {usage}")),
    }
}

/// Classifies a client error as a connect timeout or another failure.
fn classify(error: hyper_util::client::legacy::Error) -> TransportError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if cause.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::TimedOut) {
            return TransportError::ConnectTimeout;
        }
        source = cause.source();
    }
    TransportError::Failed(Box::new(error))
}

/// Tells whether `uri` names this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(uri: &Uri) -> bool {
    uri.host().is_some_and(is_loopback_host)
}

/// Tells whether `host` (a name, an IPv4 address or a bracketed IPv6 address)
/// is `localhost`, a name under `.localhost`, 127.0.0.0/8 or `::1`. Requests
/// to such a host never go through a proxy from the environment.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback())
}

/// Returns `scheme://host:port` of a proxy URI, leaving out any user and password.
fn without_credentials(uri: &Uri) -> String {
    let host = uri.host().unwrap_or("");
    match uri.port_u16() {
        Some(port) => format!("{}://{host}:{port}", uri.scheme_str().unwrap_or("http")),
        None => format!("{}://{host}", uri.scheme_str().unwrap_or("http")),
    }
}

#[derive(Clone)]
enum Route {
    Direct,
    /// Plain HTTP through a proxy: connect to the proxy, send absolute-form requests.
    HttpProxy(Uri),
    /// HTTPS through a proxy's CONNECT tunnel.
    Tunnel(Tunnel<HttpConnector>),
}

/// The connector that opens the TCP connection (or tunnel) for a destination.
/// hyper-rustls adds TLS on top.
#[derive(Clone)]
struct RouteConnector {
    http: HttpConnector,
    route: Route,
    /// Also bounds the CONNECT exchange, which the TCP connector's own timeout does not cover.
    connect_timeout: Duration,
}

impl tower_service::Service<Uri> for RouteConnector {
    type Response = ProxyAwareStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match &mut self.route {
            Route::Direct => {
                let connecting = self.http.call(dst);
                Box::pin(async move { Ok(ProxyAwareStream { io: connecting.await?, to_http_proxy: false }) })
            }
            Route::HttpProxy(proxy) => {
                let connecting = self.http.call(proxy.clone());
                Box::pin(async move { Ok(ProxyAwareStream { io: connecting.await?, to_http_proxy: true }) })
            }
            Route::Tunnel(tunnel) => {
                let connecting = tokio::time::timeout(self.connect_timeout, tunnel.call(dst));
                Box::pin(async move {
                    let io = connecting.await.map_err(|_elapsed| {
                        io::Error::new(io::ErrorKind::TimedOut, "the proxy did not open the tunnel in time")
                    })??;
                    Ok(ProxyAwareStream { io, to_http_proxy: false })
                })
            }
        }
    }
}

/// A TCP stream that reports to hyper whether it leads to an HTTP proxy, so
/// that hyper writes the request line in absolute form.
struct ProxyAwareStream {
    io: TokioIo<TcpStream>,
    to_http_proxy: bool,
}

impl Connection for ProxyAwareStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.to_http_proxy)
    }
}

impl Read for ProxyAwareStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for ProxyAwareStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        text.parse().unwrap()
    }

    #[test]
    fn loopback_hosts_detected() {
        for text in [
            "http://127.0.0.1:8080/",
            "http://127.3.2.1/",
            "http://[::1]:9000/",
            "http://localhost/",
            "http://LOCALHOST:1/",
            "http://mock.localhost/",
        ] {
            assert!(is_loopback(&uri(text)), "{text}");
        }
        for text in [
            "https://rtc-api.zego.im/",
            "http://10.0.0.1/",
            "http://[::2]/",
            "http://localhost.example/",
            "http://128.0.0.1/",
        ] {
            assert!(!is_loopback(&uri(text)), "{text}");
        }
    }

    #[test]
    fn proxy_name_omits_credentials() {
        assert_eq!(
            without_credentials(&uri("http://user:secret@proxy.example:3128")),
            "http://proxy.example:3128"
        );
        assert_eq!(without_credentials(&uri("http://proxy.example")), "http://proxy.example");
    }

    fn transport(endpoint: &str, proxy: &ProxySetting) -> Result<Transport, String> {
        Transport::new(TransportConfig {
            endpoint: &uri(endpoint),
            proxy,
            connect_timeout: Duration::from_secs(1),
            max_idle_per_host: 1,
            user_agent: "test",
        })
    }

    #[test]
    fn proxy_values_checked() {
        for value in [
            "http://proxy.example:3128",
            "http://user:pass@10.0.0.1:3128",
            "proxy.example:3128",
            " http://p:1 ",
        ] {
            assert_eq!(check_proxy_value("HTTPS_PROXY", value), Ok(()), "{value}");
        }
        for value in [
            "htp://user:s3cret@proxy:1",
            "http://user:s3 cret@proxy:1",
            "socks5://user:s3cret@proxy:1",
            "https://user:s3cret@proxy:1",
            "http://",
        ] {
            let error = check_proxy_value("https_proxy", value).expect_err(value);
            assert!(error.starts_with("https_proxy "), "{error}");
            assert!(!error.contains("s3"), "{error}");
        }
    }

    #[test]
    fn explicit_proxy_requires_http() {
        let error =
            transport("https://zego.invalid/", &ProxySetting::Url("https://proxy.invalid:3128".into()))
                .err()
                .expect("an https proxy is rejected");
        assert!(error.contains("must be an http:// URL"), "{error}");
        let error = transport(
            "https://zego.invalid/",
            &ProxySetting::Url("https://user:secret@proxy.invalid".into()),
        )
        .err()
        .unwrap();
        assert!(!error.contains("secret"), "{error}");
        let error =
            transport("https://zego.invalid/", &ProxySetting::Url("http://user:se cret@proxy".into()))
                .err()
                .unwrap();
        assert!(error.contains("is invalid"), "{error}");
        assert!(!error.contains("cret"), "{error}");
    }

    #[test]
    fn route_follows_setting() {
        let direct = transport("https://zego.invalid/", &ProxySetting::Off).unwrap();
        assert_eq!(direct.proxy(), None);
        let proxied =
            transport("https://zego.invalid/", &ProxySetting::Url("http://u:p@127.0.0.1:3128".into()))
                .unwrap();
        assert_eq!(proxied.proxy(), Some("http://127.0.0.1:3128"));
    }
}
