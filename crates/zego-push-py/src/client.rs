//! The `Client` class: one ZEGO project's PushRegister client.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};
use zego_core::client::DEFAULT_ACTION;
use zego_core::{
    AppId, ClientConfig, Error, Registered, Registration, RetryPolicy, ServerSecret, SignatureScheme,
    ZegoClient, DEFAULT_BASE_URL,
};

use crate::convert::json_to_py;
use crate::errors::to_py_err;
use crate::runtime::run_without_gil;

/// A PushRegister client for one ZEGO project. Every method may be called
/// from many threads at once.
//
// The doc comment above is Python's `Client.__doc__`, so the Rust details
// are here. Awaitables share `inner` and its connection pool on the one
// runtime that pyo3-async-runtimes runs for all awaitables. Blocking calls
// run on their thread's own runtime (see `run_without_gil`), so each thread
// gets its own copy of `inner`, with its own pool, from
// `Client::thread_client`.
#[pyclass(frozen, module = "zego_push._native", name = "Client")]
pub(crate) struct Client {
    /// Tells this client's copies apart in each thread's [`THREAD_CLIENTS`].
    id: u64,
    inner: Arc<ZegoClient>,
    app_id: AppId,
    base_url: String,
    timeout: f64,
}

/// The result of one registration, turned into a Python value (ZEGO's reply
/// as a dict) or exception only once the GIL is held again.
struct Outcome(Result<Registered, Error>);

impl<'py> IntoPyObject<'py> for Outcome {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        match self.0 {
            Ok(registered) => json_to_py(py, &registered.reply),
            Err(error) => Err(to_py_err(py, &error)),
        }
    }
}

#[pymethods]
impl Client {
    #[new]
    // The arguments are the Python keyword arguments of `Client(...)`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (
        app_id,
        server_secret,
        *,
        base_url = None,
        timeout = 10.0,
        connect_timeout = 3.0,
        scheme = "guide",
        max_attempts = MaxAttempts::DEFAULT,
    ))]
    // Written out because pyo3 shows a default that is not a literal as `...`;
    // max_attempts=3 here must stay equal to MaxAttempts::DEFAULT.
    #[pyo3(
        text_signature = "(app_id, server_secret, *, base_url=None, timeout=10.0, connect_timeout=3.0, scheme='guide', max_attempts=3)"
    )]
    fn new(
        py: Python<'_>,
        app_id: &Bound<'_, PyAny>,
        server_secret: &str,
        base_url: Option<&str>,
        timeout: f64,
        connect_timeout: f64,
        scheme: &str,
        max_attempts: MaxAttempts,
    ) -> PyResult<Self> {
        let app_id = parse_app_id(app_id).map_err(|error| to_py_err(py, &error))?;
        let secret = ServerSecret::new(server_secret).map_err(|error| to_py_err(py, &error.into()))?;
        let config = ClientConfig {
            base_url: base_url.unwrap_or(DEFAULT_BASE_URL).to_owned(),
            action: DEFAULT_ACTION.to_owned(),
            scheme: scheme
                .parse::<SignatureScheme>()
                .map_err(|error| to_py_err(py, &Error::InvalidConfig(error)))?,
            connect_timeout: seconds("connect_timeout", connect_timeout)
                .map_err(|error| to_py_err(py, &error))?,
            timeout: seconds("timeout", timeout).map_err(|error| to_py_err(py, &error))?,
            retry: RetryPolicy { max_attempts: max_attempts.0, ..RetryPolicy::default() },
            ..ClientConfig::default()
        };
        let base_url = config.base_url.clone();

        // Building the client starts no runtime and opens no connection, so
        // a pre-forking server may create clients before it forks.
        let inner = ZegoClient::new(app_id, secret, config).map_err(|error| to_py_err(py, &error))?;
        let id = NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Self { id, inner: Arc::new(inner), app_id, base_url, timeout })
    }

    /// Registers one push token and returns ZEGO's reply as a dict. The GIL
    /// is released while the request is signed and sent and its reply is read.
    #[pyo3(signature = (user_id, token, platform, provider = None))]
    fn register_push_token<'py>(
        &self,
        py: Python<'py>,
        user_id: &Bound<'py, PyAny>,
        token: &Bound<'py, PyAny>,
        platform: &Bound<'py, PyAny>,
        provider: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let registration = parse_registration(py, user_id, token, platform, provider)?;
        let client = self.thread_client(py)?;

        let result = run_without_gil(py, async move { client.register(&registration).await });
        Outcome(result).into_pyobject(py)
    }

    /// Returns an awaitable that registers one push token on the runtime
    /// that all awaitables share. Invalid input raises at once, before anything is awaited.
    #[pyo3(signature = (user_id, token, platform, provider = None))]
    fn register_push_token_async<'py>(
        &self,
        py: Python<'py>,
        user_id: &Bound<'py, PyAny>,
        token: &Bound<'py, PyAny>,
        platform: &Bound<'py, PyAny>,
        provider: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let registration = parse_registration(py, user_id, token, platform, provider)?;
        require_running_loop(py)?;
        let client = Arc::clone(&self.inner);

        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            Ok(Outcome(client.register(&registration).await))
        })
    }

    #[getter]
    fn app_id(&self) -> u32 {
        self.app_id.get()
    }

    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    #[getter]
    fn scheme(&self) -> &'static str {
        self.inner.config().scheme.as_str()
    }

    #[getter]
    fn timeout(&self) -> f64 {
        self.timeout
    }

    fn __repr__(&self) -> String {
        format!(
            "Client(app_id={}, server_secret='****', base_url='{}', scheme='{}')",
            self.app_id,
            self.base_url,
            self.inner.config().scheme.as_str()
        )
    }
}

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(0);

/// More clients than this in one thread's cache means clients are being
/// created over and over; the cache is then emptied instead of growing.
const MAX_THREAD_CLIENTS: usize = 16;

thread_local! {
    /// This thread's copies of the clients it has used, by client id. They
    /// are dropped, with their connections, when the thread ends.
    static THREAD_CLIENTS: RefCell<HashMap<u64, ZegoClient>> = RefCell::new(HashMap::new());
}

impl Client {
    /// Returns this thread's copy of the client, made on first use from the
    /// same signer and configuration, for blocking calls.
    fn thread_client(&self, py: Python<'_>) -> PyResult<ZegoClient> {
        THREAD_CLIENTS.with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some(client) = clients.get(&self.id) {
                return Ok(client.clone());
            }
            let client = ZegoClient::with_signer(self.inner.signer().clone(), self.inner.config().clone())
                .map_err(|error| to_py_err(py, &error))?;
            if clients.len() >= MAX_THREAD_CLIENTS {
                clients.clear();
            }
            clients.insert(self.id, client.clone());
            Ok(client)
        })
    }
}

/// The `max_attempts` argument: requests sent for one registration, the
/// first included, from 1 to [`MaxAttempts::LIMIT`].
#[derive(Clone, Copy)]
struct MaxAttempts(u32);

impl MaxAttempts {
    const DEFAULT: Self = Self(3);
    /// The largest value, as the CLI's `--max-attempts` allows.
    const LIMIT: u32 = 10;
}

impl<'a, 'py> FromPyObject<'a, 'py> for MaxAttempts {
    type Error = PyErr;

    /// Raises `TypeError` for a value that is not an int and
    /// `ConfigurationError` for an int out of range.
    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
            return Err(PyTypeError::new_err(format!(
                "max_attempts must be an int, not {}",
                type_name(&value)
            )));
        }
        match value.extract::<u32>() {
            Ok(attempts) if (1..=Self::LIMIT).contains(&attempts) => Ok(Self(attempts)),
            _ => {
                let error = Error::InvalidConfig(format!(
                    "max_attempts {} is out of range; give 1 to {} requests per registration, the first included",
                    *value,
                    Self::LIMIT
                ));
                Err(to_py_err(value.py(), &error))
            }
        }
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map_or_else(|_| "?".to_owned(), |name| name.to_string())
}

/// Accepts the AppId as an int or as a string of digits (the guide keeps it
/// a string). A bool is rejected although Python counts it as an int.
fn parse_app_id(value: &Bound<'_, PyAny>) -> Result<AppId, Error> {
    if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_str().map_err(|_| Error::InvalidConfig("app_id is not valid UTF-8".into()))?;
        return Ok(text.parse::<AppId>()?);
    }
    if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        let shown = value.to_string();
        let number: u32 = value.extract().map_err(|_| {
            Error::InvalidConfig(format!(
                "app_id {shown} is out of range; an AppId is a number from 1 to 4294967295"
            ))
        })?;
        return Ok(AppId::new(number)?);
    }
    Err(Error::InvalidConfig(format!(
        "app_id must be an int or a string of digits, not {}",
        type_name(value)
    )))
}

fn seconds(name: &str, value: f64) -> Result<Duration, Error> {
    if value.is_finite() && value > 0.0 {
        Duration::try_from_secs_f64(value)
            .map_err(|_| Error::InvalidConfig(format!("{name} {value} s is too large")))
    } else {
        Err(Error::InvalidConfig(format!("{name} must be a positive number of seconds, not {value}")))
    }
}

/// Checks a registration's fields as `Client.register_push_token` does,
/// without a client and without sending anything, and raises
/// `InvalidInput` for the first field that breaks a rule.
///
/// The web endpoints call it so that an invalid body gets HTTP 400 before
/// the check that the caller may act for `user_id` (HTTP 403).
#[pyfunction]
#[pyo3(signature = (user_id, token, platform, provider = None))]
pub(crate) fn validate_registration(
    py: Python<'_>,
    user_id: &Bound<'_, PyAny>,
    token: &Bound<'_, PyAny>,
    platform: &Bound<'_, PyAny>,
    provider: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    parse_registration(py, user_id, token, platform, provider).map(|_| ())
}

/// Extracts the arguments of a registration and validates them. A value
/// that is not a str raises `TypeError` naming the argument, which pyo3's
/// own `&str` extraction does not.
fn parse_registration(
    py: Python<'_>,
    user_id: &Bound<'_, PyAny>,
    token: &Bound<'_, PyAny>,
    platform: &Bound<'_, PyAny>,
    provider: Option<&Bound<'_, PyAny>>,
) -> PyResult<Registration> {
    let provider = match provider {
        Some(value) if !value.is_none() => Some(str_argument("provider", value)?),
        _ => None,
    };
    Registration::parse(
        str_argument("user_id", user_id)?,
        str_argument("token", token)?,
        str_argument("platform", platform)?,
        provider,
        None,
    )
    .map_err(|error| to_py_err(py, &error.into()))
}

/// Raises `RuntimeError` explaining how to call `register_push_token_async`
/// when no asyncio event loop runs in this thread. The awaitable is an
/// `asyncio.Future` bound to the running loop, not a coroutine, so
/// `asyncio.run(client.register_push_token_async(...))` fails at the call.
fn require_running_loop(py: Python<'_>) -> PyResult<()> {
    let asyncio = py.import("asyncio")?;
    match asyncio.call_method0("get_running_loop") {
        Ok(_) => Ok(()),
        Err(error) if error.is_instance_of::<PyRuntimeError>(py) => Err(PyRuntimeError::new_err(
            "register_push_token_async needs a running asyncio event loop: call it inside a coroutine \
             (async def main(): await client.register_push_token_async(...), then asyncio.run(main())), \
             or call register_push_token from synchronous code",
        )),
        Err(error) => Err(error),
    }
}

/// Returns the text of a str argument, or raises `TypeError` naming it.
fn str_argument<'a>(name: &str, value: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    match value.cast::<PyString>() {
        Ok(text) => text.to_str(),
        Err(_) => Err(PyTypeError::new_err(format!("{name} must be a str, not {}", type_name(value)))),
    }
}
