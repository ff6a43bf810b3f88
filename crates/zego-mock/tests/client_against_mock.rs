//! The zego-core client against a real zego-mock on a loopback socket.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zego_core::sign::FixedClock;
use zego_core::{
    AppId, ClientConfig, Error, ProxySetting, Registration, RetryPolicy, ServerSecret, SignatureScheme,
    Signer, ZegoClient,
};
use zego_mock::{CodeFault, Faults, MockConfig, MockServer};

const APP_ID: u32 = 1_234_567_890;
const SECRET: &str = "0123456789abcdef0123456789abcdef";

async fn start_mock() -> MockServer {
    let config = MockConfig::single(AppId::new(APP_ID).unwrap(), ServerSecret::new(SECRET).unwrap());
    MockServer::bind("127.0.0.1:0".parse().unwrap(), config).await.unwrap()
}

fn fast_config(base_url: String, scheme: SignatureScheme) -> ClientConfig {
    ClientConfig {
        base_url,
        scheme,
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        // A proxy from the test's environment must never see these requests.
        proxy: ProxySetting::Off,
        ..ClientConfig::default()
    }
}

fn client(mock: &MockServer, secret: &str, scheme: SignatureScheme) -> ZegoClient {
    ZegoClient::new(
        AppId::new(APP_ID).unwrap(),
        ServerSecret::new(secret).unwrap(),
        fast_config(mock.base_url(), scheme),
    )
    .unwrap()
}

fn registration() -> Registration {
    Registration::parse("user123", "fcm_device_token_here", "android", None, None).unwrap()
}

#[tokio::test]
async fn guide_scheme_registers() {
    let mock = start_mock().await;
    let registered = client(&mock, SECRET, SignatureScheme::Guide).register(&registration()).await.unwrap();
    assert_eq!(registered.reply["Code"], 0);
    assert_eq!(registered.reply["Message"], "success");
    assert_eq!(registered.attempts, 1);
    assert!(registered.request_id.is_some());

    let recorded = mock.state().registrations();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].user_id, "user123");
    assert_eq!(recorded[0].push_id, "fcm_device_token_here");
    assert_eq!(recorded[0].push_provider, 1);
    assert_eq!(recorded[0].scheme, "guide");
}

#[tokio::test]
async fn v2_scheme_registers() {
    let mock = start_mock().await;
    let apns = "ab".repeat(32);
    let registration = Registration::parse("u2", &apns, "iOS", None, None).unwrap();
    let registered = client(&mock, SECRET, SignatureScheme::V2).register(&registration).await.unwrap();
    assert_eq!(registered.reply["Code"], 0);
    let recorded = mock.state().registrations();
    assert_eq!(recorded[0].scheme, "v2");
    assert_eq!(recorded[0].push_provider, 2);
    assert_eq!(recorded[0].nonce.len(), 16);
}

#[tokio::test]
async fn wrong_secret_is_signature_error_without_retry() {
    let mock = start_mock().await;
    for scheme in [SignatureScheme::Guide, SignatureScheme::V2] {
        let error = client(&mock, "ffffffffffffffffffffffffffffffff", scheme)
            .register(&registration())
            .await
            .unwrap_err();
        let Error::Api(api) = &error else {
            panic!("expected a ZEGO code, got {error:?}");
        };
        assert_eq!(api.code, 100_000_005, "{scheme}");
        assert!(api.is_credentials());
        assert_eq!(api.attempts, 1, "{scheme}");
        assert!(!error.is_retryable());
        assert!(!error.to_string().contains("ffffffff"), "{error}");
    }
    assert!(mock.state().registrations().is_empty());
}

#[tokio::test]
async fn unknown_app_id_is_configuration_error() {
    let mock = start_mock().await;
    let client = ZegoClient::new(
        AppId::new(42).unwrap(),
        ServerSecret::new(SECRET).unwrap(),
        fast_config(mock.base_url(), SignatureScheme::Guide),
    )
    .unwrap();
    let error = client.register(&registration()).await.unwrap_err();
    assert_eq!(error.zego_code(), Some(100_000_010));
    let Error::Api(api) = error else { unreachable!() };
    assert!(api.is_configuration());
}

#[tokio::test]
async fn stale_timestamp_is_signed_again_once() {
    let mock = start_mock().await;
    let clock = Arc::new(FixedClock::new(1_000_000));
    let signer =
        Signer::new(AppId::new(APP_ID).unwrap(), ServerSecret::new(SECRET).unwrap(), SignatureScheme::Guide)
            .with_clock(clock);
    let client =
        ZegoClient::with_signer(signer, fast_config(mock.base_url(), SignatureScheme::Guide)).unwrap();
    let error = client.register(&registration()).await.unwrap_err();
    assert_eq!(error.zego_code(), Some(100_000_004));
    assert_eq!(error.attempts(), 2);
    assert_eq!(mock.state().calls().len(), 2);
}

#[tokio::test]
async fn other_action_is_unsupported() {
    let mock = start_mock().await;
    let mut config = fast_config(mock.base_url(), SignatureScheme::Guide);
    config.action = "PushUnregister".into();
    let client = client_with(config);
    let error = client.register(&registration()).await.unwrap_err();
    assert_eq!(error.zego_code(), Some(100_000_007));
    assert_eq!(error.attempts(), 1);
}

#[tokio::test]
async fn dropped_connections_are_retried_into_success() {
    let mock = start_mock().await;
    mock.state().set_faults(Faults { drop_connections: 2, ..Faults::default() });
    let registered = client(&mock, SECRET, SignatureScheme::Guide).register(&registration()).await.unwrap();
    assert_eq!(registered.attempts, 3);
    let outcomes: Vec<String> = mock.state().calls().into_iter().map(|call| call.outcome).collect();
    assert_eq!(outcomes, ["dropped", "dropped", "ok"]);
    assert_eq!(mock.state().registrations().len(), 1);
}

#[tokio::test]
async fn http_500_is_retried_then_reported_as_transport() {
    let mock = start_mock().await;
    mock.state().set_faults(Faults { http_500: 2, ..Faults::default() });
    let registered = client(&mock, SECRET, SignatureScheme::Guide).register(&registration()).await.unwrap();
    assert_eq!(registered.attempts, 3);

    mock.state().set_faults(Faults { http_500: 3, ..Faults::default() });
    let error = client(&mock, SECRET, SignatureScheme::Guide).register(&registration()).await.unwrap_err();
    assert!(matches!(error, Error::Transport { attempts: 3, .. }), "{error:?}");
    assert!(error.to_string().contains("HTTP 500"), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn retryable_code_is_retried_until_attempts_run_out() {
    let mock = start_mock().await;
    mock.state().set_faults(Faults {
        code: Some(CodeFault { code: 1, message: "busy".into(), count: Some(2) }),
        ..Faults::default()
    });
    let registered = client(&mock, SECRET, SignatureScheme::Guide).register(&registration()).await.unwrap();
    assert_eq!(registered.attempts, 3);

    mock.state().set_faults(Faults {
        code: Some(CodeFault { code: 100_000_015, message: "gateway".into(), count: None }),
        ..Faults::default()
    });
    let error = client(&mock, SECRET, SignatureScheme::Guide).register(&registration()).await.unwrap_err();
    let Error::Api(api) = &error else { panic!("{error:?}") };
    assert_eq!(api.code, 100_000_015);
    assert_eq!(api.attempts, 3);
    assert!(api.is_retryable());
}

#[tokio::test]
async fn permanent_code_is_not_retried() {
    let mock = start_mock().await;
    mock.state().set_faults(Faults {
        code: Some(CodeFault { code: 660_200_001, message: "user does not exist".into(), count: None }),
        ..Faults::default()
    });
    let error = client(&mock, SECRET, SignatureScheme::Guide).register(&registration()).await.unwrap_err();
    assert_eq!(error.zego_code(), Some(660_200_001));
    assert_eq!(error.attempts(), 1);
    assert_eq!(mock.state().calls().len(), 1);
}

#[tokio::test]
async fn slow_peer_times_out() {
    let mock = start_mock().await;
    mock.state().set_faults(Faults { latency_ms: 2_000, ..Faults::default() });
    let mut config = fast_config(mock.base_url(), SignatureScheme::Guide);
    config.timeout = Duration::from_millis(100);
    config.retry.max_attempts = 2;
    let client = client_with(config);
    let error = client.register(&registration()).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(error.attempts(), 2);
}

#[tokio::test]
async fn refused_connection_is_transport_error() {
    // Bind then drop a listener so that its port is closed.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let client = ZegoClient::new(
        AppId::new(APP_ID).unwrap(),
        ServerSecret::new(SECRET).unwrap(),
        fast_config(format!("http://127.0.0.1:{port}"), SignatureScheme::Guide),
    )
    .unwrap();
    let error = client.register(&registration()).await.unwrap_err();
    assert!(matches!(error, Error::Transport { attempts: 3, .. }), "{error:?}");
}

#[tokio::test]
async fn non_json_reply_is_malformed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 13\r\nconnection: close\r\n\r\n<html>hi</ht>")
                .await;
        }
    });
    let client = ZegoClient::new(
        AppId::new(APP_ID).unwrap(),
        ServerSecret::new(SECRET).unwrap(),
        fast_config(format!("http://{addr}"), SignatureScheme::Guide),
    )
    .unwrap();
    let error = client.register(&registration()).await.unwrap_err();
    let Error::MalformedReply { status, excerpt, attempts, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*status, 200);
    assert_eq!(excerpt, "<html>hi</ht>");
    assert_eq!(*attempts, 1);
}

#[tokio::test]
async fn control_routes_set_faults_and_list_registrations() {
    let mock = start_mock().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = mock.base_url();
    let set = http
        .post(format!("{base}/_mock/faults"))
        .json(&serde_json::json!({"drop_connections": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(mock.state().faults().drop_connections, 1);

    let bad =
        http.post(format!("{base}/_mock/faults")).json(&serde_json::json!({"drop": 1})).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    client(&mock, SECRET, SignatureScheme::Guide).register(&registration()).await.unwrap();
    let listed: serde_json::Value =
        http.get(format!("{base}/_mock/registrations")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["user_id"], "user123");

    let reset = http.post(format!("{base}/_mock/reset")).send().await.unwrap();
    assert_eq!(reset.status(), 204);
    assert!(mock.state().registrations().is_empty());
}

/// Reads a request or CONNECT head (up to the blank line) and returns it
/// with whatever body bytes arrived in the same reads.
async fn read_head(stream: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the client closed before sending a whole head");
        received.extend_from_slice(&buffer[..read]);
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8(received[..end].to_vec()).unwrap();
            return (head, received[end + 4..].to_vec());
        }
    }
}

/// Builds a client with the test app's credentials and `config`.
fn client_with(config: ClientConfig) -> ZegoClient {
    ZegoClient::new(AppId::new(APP_ID).unwrap(), ServerSecret::new(SECRET).unwrap(), config).unwrap()
}

/// Builds a client that sends through the proxy at `proxy_address` as `user:pass`.
fn client_through_proxy(base_url: String, proxy_address: std::net::SocketAddr) -> ZegoClient {
    let mut config = fast_config(base_url, SignatureScheme::Guide);
    config.proxy = ProxySetting::Url(format!("http://user:pass@{proxy_address}"));
    client_with(config)
}

/// Checks that a request head carries `user:pass` (base64) as proxy credentials.
fn assert_proxy_credentials(head: &str) {
    assert!(head.to_ascii_lowercase().contains("proxy-authorization: basic dxnlcjpwyxnz"), "{head}");
}

/// Request heads that a test proxy received, in order.
type Heads = Arc<std::sync::Mutex<Vec<String>>>;

/// Starts a loopback proxy that replies to every request, CONNECT included,
/// with `status_line` and a short page, and records each request head.
async fn serve_status_proxy(status_line: &'static str) -> (std::net::SocketAddr, Heads) {
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_address = proxy.local_addr().unwrap();
    let heads = Heads::default();
    let seen = Arc::clone(&heads);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = proxy.accept().await {
            let (head, _) = read_head(&mut stream).await;
            seen.lock().unwrap().push(head);
            let page = "<html>Access denied</html>";
            let reply = format!("HTTP/1.1 {status_line}\r\ncontent-length: {}\r\n\r\n{page}", page.len());
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    (proxy_address, heads)
}

#[tokio::test]
async fn http_proxy_gets_absolute_form() {
    let mock = start_mock().await;
    let mock_address = mock.addr();
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_address = proxy.local_addr().unwrap();
    let heads = Heads::default();
    let seen = Arc::clone(&heads);
    // A forwarding proxy: records each request head, then passes the bytes
    // on to zego-mock unchanged (hyper accepts absolute-form targets).
    tokio::spawn(async move {
        while let Ok((mut client_side, _)) = proxy.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let (head, rest) = read_head(&mut client_side).await;
                seen.lock().unwrap().push(head.clone());
                let mut upstream = tokio::net::TcpStream::connect(mock_address).await.unwrap();
                upstream.write_all(head.as_bytes()).await.unwrap();
                upstream.write_all(b"\r\n\r\n").await.unwrap();
                upstream.write_all(&rest).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client_side, &mut upstream).await;
            });
        }
    });

    let client = client_through_proxy(mock.base_url(), proxy_address);
    assert_eq!(client.proxy(), Some(format!("http://{proxy_address}").as_str()));
    client.register(&registration()).await.unwrap();

    assert_eq!(mock.state().registrations().len(), 1);
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1);
    let request_line = heads[0].lines().next().unwrap();
    assert!(request_line.starts_with(&format!("POST http://{mock_address}/?")), "{request_line}");
    assert!(request_line.ends_with(" HTTP/1.1"), "{request_line}");
    assert_proxy_credentials(&heads[0]);
}

#[tokio::test]
async fn https_proxy_gets_connect() {
    // The proxy rejects every tunnel, so nothing leaves this machine.
    let (proxy_address, heads) = serve_status_proxy("403 Forbidden").await;

    let client = client_through_proxy("https://zego.invalid".into(), proxy_address);
    let error = client.register(&registration()).await.unwrap_err();
    let Error::Transport { reason, .. } = &error else { panic!("{error:?}") };
    assert!(reason.contains(&format!("through the proxy http://{proxy_address}")), "{reason}");
    assert!(!error.to_string().contains("pass"), "{error}");

    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 3, "each attempt opens its own tunnel");
    assert_eq!(heads[0].lines().next().unwrap(), "CONNECT zego.invalid:443 HTTP/1.1");
    assert_proxy_credentials(&heads[0]);
}

#[tokio::test]
async fn oversized_reply_is_malformed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = read_head(&mut stream).await;
            let body = vec![b' '; 2 << 20];
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
    });
    let client = client_with(fast_config(format!("http://{addr}"), SignatureScheme::Guide));
    let error = client.register(&registration()).await.unwrap_err();
    let Error::MalformedReply { reason, attempts, .. } = &error else { panic!("{error:?}") };
    assert_eq!(reason, "the reply is larger than 1 MiB");
    assert_eq!(*attempts, 1);
}

#[tokio::test]
async fn connect_timeout_is_timeout() {
    // A listener that never accepts, with a backlog of one: once its accept
    // queue is full, the kernel drops further SYNs and connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), tokio::net::TcpStream::connect(addr)).await {
            Ok(stream) => queued.push(stream.unwrap()),
            Err(_elapsed) => break,
        }
        assert!(queued.len() < 64, "the accept queue never filled");
    }

    let mut config = fast_config(format!("http://{addr}"), SignatureScheme::Guide);
    config.connect_timeout = Duration::from_millis(200);
    config.retry.max_attempts = 1;
    let client = client_with(config);
    let error = client.register(&registration()).await.unwrap_err();
    let Error::Timeout { timeout, proxy, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*timeout, Duration::from_millis(200));
    assert_eq!(*proxy, None);
    drop(listener);
}

#[tokio::test]
async fn silent_proxy_tunnel_times_out() {
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_address = proxy.local_addr().unwrap();
    // Accepts connections and never replies to the CONNECT.
    tokio::spawn(async move {
        let mut open_connections = Vec::new();
        while let Ok((stream, _)) = proxy.accept().await {
            open_connections.push(stream);
        }
    });

    let mut config = fast_config("https://zego.invalid".into(), SignatureScheme::Guide);
    config.proxy = ProxySetting::Url(format!("http://{proxy_address}"));
    config.connect_timeout = Duration::from_millis(200);
    config.retry.max_attempts = 1;
    let client = client_with(config);
    let error = client.register(&registration()).await.unwrap_err();
    let Error::Timeout { timeout, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*timeout, Duration::from_millis(200));
    assert!(error.to_string().contains(&format!(" (through the proxy http://{proxy_address}) ")), "{error}");
}

#[tokio::test]
async fn proxy_error_page_names_proxy() {
    let (proxy_address, _) = serve_status_proxy("403 Forbidden").await;
    let client = client_through_proxy("http://zego.invalid".into(), proxy_address);
    let error = client.register(&registration()).await.unwrap_err();
    let Error::MalformedReply { status, reason, attempts, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*status, 403);
    assert_eq!(*attempts, 1);
    assert!(
        reason.ends_with(&format!("the reply may come from the proxy http://{proxy_address}")),
        "{reason}"
    );
    assert!(!error.to_string().contains("pass"), "{error}");
}

#[tokio::test]
async fn proxy_407_asks_for_credentials() {
    let (proxy_address, _) = serve_status_proxy("407 Proxy Authentication Required").await;
    let client = client_through_proxy("http://zego.invalid".into(), proxy_address);
    let error = client.register(&registration()).await.unwrap_err();
    let Error::MalformedReply { status, reason, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*status, 407);
    assert_eq!(
        reason,
        &format!(
            "the proxy http://{proxy_address} requires credentials: put user:password@ in the proxy URL"
        )
    );
}

#[tokio::test]
async fn probe_host_reports_status_and_date() {
    let mock = start_mock().await;
    let reply = zego_core::client::probe_host(
        &mock.base_url(),
        &ProxySetting::Off,
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(reply.url, format!("{}/", mock.base_url()));
    assert!(reply.date.is_some(), "{reply:?}");
    assert_eq!(reply.proxy, None);
    assert!(reply.status >= 200, "{reply:?}");
}

#[tokio::test]
async fn probe_host_refused_is_transport() {
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let error = zego_core::client::probe_host(
        &format!("http://127.0.0.1:{port}"),
        &ProxySetting::Off,
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Transport { attempts: 1, .. }), "{error:?}");
}
