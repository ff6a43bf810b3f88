//! Sandbox mode: an in-process zego-mock with throwaway credentials, so the
//! server runs without ZEGO credentials and nothing reaches ZEGO.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use rand::Rng;
use zego_core::{AppId, ServerSecret};
use zego_mock::{MockConfig, MockServer};

/// A running sandbox peer and the credentials the server signs with.
#[derive(Debug)]
pub struct Sandbox {
    pub mock: MockServer,
    pub app_id: AppId,
    pub secret: ServerSecret,
}

/// Generates a throwaway AppId and ServerSecret and starts a zego-mock on
/// a free loopback port that accepts them.
pub async fn start() -> io::Result<Sandbox> {
    let mut rng = rand::rng();
    let app_id = AppId::new(rng.random_range(1_000_000_000..=u32::MAX)).expect("the range excludes 0");
    let secret_bytes: [u8; 16] = rng.random();
    let secret = ServerSecret::new(hex::encode(secret_bytes)).expect("32 hex digits are a valid secret");

    let config = MockConfig::single(app_id, secret.clone());
    let mock = MockServer::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await?;
    Ok(Sandbox { mock, app_id, secret })
}
