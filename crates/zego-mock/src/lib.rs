//! A fake ZEGO server API for tests, benchmarks and the server's sandbox mode.
//!
//! It serves `PushRegister` at `/?Action=PushRegister`, checks the request's
//! signature under either scheme exactly as ZEGO does (wrong signature
//! 100000005, timestamp more than 10 minutes off 100000004, unknown AppId
//! 100000010), replies to any other action with 100000007, and records what it
//! registered. Faults (latency, HTTP 500, dropped connections, any ZEGO code)
//! are set through [`MockState::set_faults`] or `POST /_mock/faults`.

mod api;
mod control;
pub mod state;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

pub use api::PUSH_REGISTER;
pub use state::{CodeFault, Faults, MockConfig, MockState, RecordedCall, RecordedRegistration};

use state::ConnectionFault;

pub(crate) type SharedState = Arc<MockState>;

/// Builds the mock's routes: the ZEGO API at `/` and the control routes under `/_mock/`.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/", get(api::handle).post(api::handle))
        .route("/_mock/faults", get(control::get_faults).post(control::set_faults))
        .route("/_mock/registrations", get(control::registrations))
        .route("/_mock/calls", get(control::calls))
        .route("/_mock/reset", post(control::reset))
        .with_state(state)
}

/// A running mock server.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    state: SharedState,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Binds `addr` and starts serving.
    pub async fn bind(addr: SocketAddr, config: MockConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Self::start(listener, config)
    }

    /// Serves on an already bound listener.
    pub fn start(listener: TcpListener, config: MockConfig) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let state = Arc::new(MockState::new(config));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, router(state.clone()), state.clone(), stopped));
        Ok(Self { addr, state, stop, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the URL to give a ZEGO client as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &Arc<MockState> {
        &self.state
    }

    /// Stops accepting connections and closes the open ones.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Accepts connections until `stopped` turns true.
///
/// Each connection is served by hyper directly, not by `axum::serve`,
/// because a dropped-connection fault must close the socket without a reply,
/// which a handler cannot do.
async fn serve(
    listener: TcpListener,
    router: Router,
    state: SharedState,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let state = state.clone();
        let mut connection_stopped = stopped.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let router = router.clone();
                let state = state.clone();
                async move { handle_connection_request(router, state, request).await }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = connection_stopped.changed() => {}
            }
        });
    }
}

async fn handle_connection_request(
    router: Router,
    state: SharedState,
    request: hyper::Request<Incoming>,
) -> Result<axum::response::Response, io::Error> {
    if !request.uri().path().starts_with("/_mock/") {
        let latency = state.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let action = action_of(request.uri());
        if let ConnectionFault::Drop = state.take_connection_fault(&action) {
            // An error from the service makes hyper close the connection without replying.
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "injected dropped connection"));
        }
    }
    let response = router.oneshot(request.map(axum::body::Body::new)).await;
    Ok(response.unwrap_or_else(|never| match never {}))
}

fn action_of(uri: &hyper::Uri) -> String {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or_default()
        .to_owned()
}
