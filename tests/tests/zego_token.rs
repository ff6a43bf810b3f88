//! `POST /api/zego-token` on the real server binary: each caller gets
//! Token04s only for users it may act for, within the configured validity,
//! and the tokens decrypt with the ServerSecret to the requested claims.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};
use zego_core::token04::{self, RtcPrivilege, TokenFormat};
use zego_core::ServerSecret;
use zego_push_e2e::{send_json, start_mock, start_server, Process, ServerOptions, APP_ID, SECRET};

const JWT_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!!";
const API_KEY: &str = "backend-key-0123456789abcdef";

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn jwt(sub: &str) -> String {
    let claims = Claims { sub, exp: now() + 600 };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

fn api_key_entry() -> String {
    let output = std::process::Command::new(zego_push_e2e::binary("zego-push-server"))
        .args(["hash-api-key", "--name", "backend"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(API_KEY.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Starts a server with JWT and API-key authentication and `args` added.
fn token_server(dir: &std::path::Path, mock: &Process, args: &[&str]) -> Process {
    let options = ServerOptions::live(mock).args(["--auth", "jwt,api-key"]).args(args.iter().copied());
    let options = ServerOptions {
        env: vec![
            ("ZEGO_PUSH_JWT_SECRET".into(), JWT_SECRET.into()),
            ("ZEGO_PUSH_API_KEYS".into(), api_key_entry()),
        ],
        ..options
    };
    start_server(dir, &options)
}

async fn request_token(server: &Process, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let (status, _, reply) =
        send_json(Method::POST, &server.url("/api/zego-token"), bearer, Some(body)).await;
    (status, reply)
}

fn secret() -> ServerSecret {
    ServerSecret::new(SECRET).unwrap()
}

#[tokio::test]
async fn user_gets_own_token_only() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let server = token_server(dir.path(), &mock, &[]);

    // Without user_id, a JWT gets a token for its subject.
    let before = now();
    let (status, reply) = request_token(&server, Some(&jwt("alice")), &json!({})).await;
    assert_eq!(status, 200, "{reply}");
    let data = &reply["data"];
    assert_eq!(data["user_id"], "alice");
    assert_eq!(data["app_id"].as_u64(), Some(APP_ID.parse().unwrap()));
    assert_eq!(data["format"], "gcm");
    assert_eq!(data["effective_time_in_seconds"], 3600);
    let parsed = token04::parse(data["token"].as_str().unwrap(), &secret()).unwrap();
    assert_eq!(parsed.format, TokenFormat::Gcm);
    assert_eq!(parsed.claims.user_id, "alice");
    assert_eq!(parsed.claims.app_id.to_string(), APP_ID);
    assert_eq!(parsed.claims.payload, "");
    assert_eq!(parsed.claims.expire - parsed.claims.ctime, 3600);
    assert!(parsed.claims.ctime >= i64::try_from(before).unwrap(), "{parsed:?}");

    // Naming itself works too; naming another user is forbidden.
    let (status, reply) = request_token(&server, Some(&jwt("alice")), &json!({"user_id": "alice"})).await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = request_token(&server, Some(&jwt("alice")), &json!({"user_id": "bob"})).await;
    assert_eq!(status, 403, "{reply}");
    assert_eq!(reply["error"]["code"], "forbidden");

    // Without credentials, or with a wrong one: 401.
    let (status, _) = request_token(&server, None, &json!({"user_id": "alice"})).await;
    assert_eq!(status, 401);
    let (status, _) =
        request_token(&server, Some("wrong-key-0123456789"), &json!({"user_id": "alice"})).await;
    assert_eq!(status, 401);

    // A user's JWT may not choose RTC privileges.
    let privileged = json!({"rtc_privilege": {"room_id": "room-1"}});
    let (status, reply) = request_token(&server, Some(&jwt("alice")), &privileged).await;
    assert_eq!(status, 403, "{reply}");
    assert!(server.log().contains("Token04 issued"), "{}", server.log());
}

#[tokio::test]
async fn validity_bounded_by_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let server =
        token_server(dir.path(), &mock, &["--token-default-secs", "1800", "--token-max-secs", "7200"]);
    let bearer = jwt("alice");

    let (status, reply) = request_token(&server, Some(&bearer), &json!({})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["data"]["effective_time_in_seconds"], 1800);
    let (status, reply) =
        request_token(&server, Some(&bearer), &json!({"effective_time_in_seconds": 7200})).await;
    assert_eq!(status, 200, "{reply}");
    let parsed = token04::parse(reply["data"]["token"].as_str().unwrap(), &secret()).unwrap();
    assert_eq!(parsed.claims.expire - parsed.claims.ctime, 7200);

    for bad in [json!(7201), json!(0), json!(-5), json!(1.5), json!("60")] {
        let (status, reply) =
            request_token(&server, Some(&bearer), &json!({"effective_time_in_seconds": bad})).await;
        assert_eq!(status, 400, "{bad}: {reply}");
        assert_eq!(reply["error"]["code"], "invalid_field", "{bad}: {reply}");
        assert_eq!(reply["error"]["field"], "effective_time_in_seconds", "{bad}: {reply}");
    }
    let (status, reply) = request_token(&server, Some(&bearer), &json!({"user_id": ""})).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (400, Some("user_id")), "{reply}");
}

#[tokio::test]
async fn api_key_sets_rtc_privileges() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let server = token_server(dir.path(), &mock, &[]);

    let (status, reply) = request_token(&server, Some(API_KEY), &json!({})).await;
    assert_eq!(status, 400, "an API key must name the user: {reply}");
    assert_eq!(reply["error"]["code"], "missing_field");

    let body = json!({"user_id": "bob", "effective_time_in_seconds": 60, "rtc_privilege":
        {"room_id": "room-7", "publish_stream": false, "stream_ids": ["s1", "s2"]}});
    let (status, reply) = request_token(&server, Some(API_KEY), &body).await;
    assert_eq!(status, 200, "{reply}");
    let parsed = token04::parse(reply["data"]["token"].as_str().unwrap(), &secret()).unwrap();
    assert_eq!(parsed.claims.user_id, "bob");
    let privilege = RtcPrivilege::from_payload(&parsed.claims.payload).expect("an RTC privilege payload");
    assert_eq!(
        privilege,
        RtcPrivilege {
            room_id: "room-7".into(),
            login_room: true,
            publish_stream: false,
            stream_ids: Some(vec!["s1".into(), "s2".into()]),
        }
    );

    for bad in [json!("room"), json!({"room_id": ""}), json!({"room_id": "r", "stream_ids": [1]})] {
        let (status, reply) =
            request_token(&server, Some(API_KEY), &json!({"user_id": "bob", "rtc_privilege": bad})).await;
        assert_eq!(status, 400, "{bad}: {reply}");
        assert_eq!(reply["error"]["field"], "rtc_privilege", "{bad}: {reply}");
    }
}

#[tokio::test]
async fn short_secret_is_misconfiguration() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let short = "short-secret-0123";
    let options = ServerOptions {
        live: Some((APP_ID.into(), short.into(), mock.base_url.clone())),
        ..ServerOptions::default()
    };
    let server = start_server(dir.path(), &options);
    let (status, reply) = request_token(&server, None, &json!({"user_id": "alice"})).await;
    assert_eq!(status, 500, "{reply}");
    assert_eq!(reply["error"]["code"], "server_misconfigured");
    assert!(reply["error"]["message"].as_str().unwrap().contains("32"), "{reply}");
    let log = server.log();
    assert!(log.contains("not 32 characters"), "the start-up warning is missing: {log}");
    assert!(!log.contains(short), "the secret leaked into the log");
    assert!(!reply.to_string().contains(short), "the secret leaked into the reply");
}
