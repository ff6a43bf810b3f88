//! The core of zego-push: everything needed to talk to ZEGO's server API
//! without an HTTP server, a CLI, Python or a database.
//!
//! - [`values`]: validated input types; an invalid user id, token or
//!   platform cannot be constructed.
//! - [`credentials`]: [`AppId`] and [`ServerSecret`], the latter never printed.
//! - [`sign`]: both request-signing schemes with injectable clock and nonce.
//! - [`client`]: the async [`ZegoClient`] for the PushRegister call.
//! - [`codes`]: ZEGO's reply codes and how each is handled.
//! - [`token04`]: the Token04 login token, generated and parsed.
//! - [`callback`]: verification of ZEGO's signed callbacks.

pub mod callback;
pub mod client;
pub mod codes;
pub mod credentials;
pub mod env;
pub mod error;
pub mod sign;
pub mod token04;
mod transport;
pub mod values;

pub use client::{ClientConfig, ProxySetting, Region, Registered, RetryPolicy, ZegoClient, DEFAULT_BASE_URL};
pub use codes::CodeClass;
pub use credentials::{AppId, ServerSecret};
pub use error::{ApiError, Error};
pub use sign::{
    Clock, FixedClock, FixedNonce, NonceSource, RandomNonce, SignatureScheme, SignedRequest, Signer,
    SystemClock,
};
pub use values::{DeviceId, Field, Platform, PushProvider, PushToken, Registration, UserId, ValidationError};
