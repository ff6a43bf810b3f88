//! The checks `doctor` runs, in the order it prints them.

use std::path::Path;
use std::time::SystemTime;

use zego_core::{codes, AppId, CodeClass, Platform, PushProvider, Registration, ServerSecret, ZegoClient};
use zeroize::Zeroizing;

use super::host::{check_host, unix_seconds};
use super::{apns, Check, Status};
use crate::cli::{ApnsEnvironment, CredentialArgs, DoctorArgs};
use crate::fields::FieldNames;
use crate::{env, settings};

/// The user id of the test PushRegister when `--user-id` is not given.
pub const PLACEHOLDER_USER_ID: &str = "zego-push-doctor";
/// The FCM token of the test PushRegister when `--token` is not given.
const PLACEHOLDER_FCM_TOKEN: &str = "zego-push-doctor:placeholder-fcm-token";
/// The APNs token of the test PushRegister when `--token` is not given: 32 zero bytes.
const PLACEHOLDER_APNS_TOKEN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Maximum length of a resourceID, in characters.
pub const RESOURCE_ID_MAX_CHARS: usize = 32;

pub async fn run_all(args: &DoctorArgs) -> Vec<Check> {
    let mut checks = Vec::new();

    let (credentials_check, credentials) = check_credentials(&args.credentials);
    checks.push(credentials_check);

    let host = check_host(&args.connection).await;
    let reachable = host.reachable;
    checks.push(host.host);
    checks.push(host.clock);

    checks.push(check_push_register(args, credentials, reachable).await);

    let certificate = match &args.p12 {
        Some(path) => check_certificate(args, path),
        None => Check::new(
            "apns_certificate",
            Status::Skip,
            "not checked: give --p12 FILE (and its password) to open an APNs certificate",
        ),
    };
    let certificate_environment = certificate.details.get("environment").cloned();
    checks.push(certificate);

    checks.push(match &args.resource_id {
        Some(resource_id) => check_resource_id(resource_id),
        None => Check::new(
            "resource_id",
            Status::Skip,
            "not checked: give --resource-id with the resourceID the caller's invitation sends",
        ),
    });

    checks.push(console_reminder(args, certificate_environment.as_ref().and_then(|value| value.as_str())));
    checks
}

/// Checks that an AppId and a ServerSecret are given and well-formed, and
/// returns them when they are. When both are wrong, the check names both.
fn check_credentials(args: &CredentialArgs) -> (Check, Option<(AppId, ServerSecret)>) {
    let app_id = match args.app_id.as_deref().map(str::parse::<AppId>) {
        None => Err(Problem {
            summary: "no AppId is set".into(),
            fix: format!("set {} to the AppId on the project's page in the ZEGO console", env::APP_ID),
        }),
        Some(Err(error)) => Err(Problem {
            summary: error.to_string(),
            fix: "copy the AppId again from the ZEGO console".into(),
        }),
        Some(Ok(app_id)) => Ok(app_id),
    };
    let secret = read_server_secret(args);

    let (app_id, (secret, source)) = match (app_id, secret) {
        (Ok(app_id), Ok(secret)) => (app_id, secret),
        (Err(problem), Ok(_)) | (Ok(_), Err(problem)) => {
            let check = Check::new("credentials", Status::Fail, problem.summary).with_fix(problem.fix);
            return (check, None);
        }
        (Err(app_id), Err(secret)) => {
            let check = Check::new(
                "credentials",
                Status::Fail,
                format!("{}, and {}", app_id.summary, secret.summary),
            )
            .with_fix(format!("{}, and {}", app_id.fix, secret.fix));
            return (check, None);
        }
    };

    let length = secret.expose_secret().len();
    let check = if secret.has_console_shape() {
        Check::new(
            "credentials",
            Status::Pass,
            format!("AppId {app_id}; ServerSecret from {}, 32 hex characters (not shown)", source.describe()),
        )
    } else {
        Check::new(
            "credentials",
            Status::Warn,
            format!(
                "AppId {app_id}; the ServerSecret from {} has {length} characters, but the console issues 32 hex characters",
                source.describe()
            ),
        )
        .with_fix("copy the ServerSecret again from the project's page in the ZEGO console")
    };
    (check.with_detail("app_id", app_id.get()), Some((app_id, secret)))
}

/// A failed part of the credentials check.
struct Problem {
    summary: String,
    fix: String,
}

/// Reads the ServerSecret and names where it came from.
fn read_server_secret(args: &CredentialArgs) -> Result<(ServerSecret, settings::SecretSource), Problem> {
    let (text, source) = match args.read_secret_text() {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(Problem {
                summary: "no ServerSecret is set".into(),
                fix: format!(
                    "set {} or give --server-secret-file PATH or --server-secret-stdin, with the ServerSecret from the ZEGO console",
                    env::SERVER_SECRET
                ),
            });
        }
        Err(error) => {
            return Err(Problem {
                summary: format!("{error:#}"),
                fix: "check the file's path and permissions".into(),
            })
        }
    };
    match ServerSecret::new(text.as_str()) {
        Ok(secret) => Ok((secret, source)),
        Err(error) => Err(Problem {
            summary: error.to_string(),
            fix: "copy the ServerSecret again from the ZEGO console".into(),
        }),
    }
}

/// Sends one PushRegister call and expects Code 0.
async fn check_push_register(
    args: &DoctorArgs,
    credentials: Option<(AppId, ServerSecret)>,
    reachable: bool,
) -> Check {
    const NAME: &str = "push_register";
    if args.skip_register {
        return Check::new(NAME, Status::Skip, "not sent (--skip-register)");
    }
    let Some((app_id, secret)) = credentials else {
        return Check::new(NAME, Status::Skip, "not sent: the credentials check failed");
    };
    if !reachable {
        return Check::new(NAME, Status::Skip, "not sent: the host is unreachable");
    }

    let placeholder = args.token.is_none();
    let user_id = args.user_id.as_deref().unwrap_or(PLACEHOLDER_USER_ID);
    let provider = args.provider.as_deref();
    let platform = platform_of(args.platform.as_deref(), provider);
    let token = match &args.token {
        Some(token) => token.as_str(),
        None => placeholder_token(platform, provider),
    };
    let registration = match Registration::parse(user_id, token, platform, provider, None) {
        Ok(registration) => registration,
        Err(error) => {
            return Check::new(
                NAME,
                Status::Fail,
                format!("not sent: {}", FieldNames::Flags.describe(&error)),
            )
            .with_fix("correct --user-id, --token, --platform or --provider");
        }
    };
    let config = match args.connection.client_config(&args.protocol) {
        Ok(config) => config,
        Err(error) => return Check::new(NAME, Status::Fail, format!("not sent: {error}")),
    };
    let client = match ZegoClient::new(app_id, secret, config) {
        Ok(client) => client,
        Err(error) => return Check::new(NAME, Status::Fail, format!("not sent: {error}")),
    };

    tracing::info!(endpoint = client.endpoint(), user_id, "sending the test PushRegister");
    let service = format!(
        "(platform {}, provider {})",
        registration.platform.as_str(),
        registration.provider().as_str()
    );
    let tested = if placeholder {
        format!("for user {user_id} with a placeholder token {service}")
    } else {
        format!("for user {user_id} with the given token {service}")
    };
    let check = match settings::register_logged(&client, &registration).await {
        Ok(registered) => {
            let check = Check::new(NAME, Status::Pass, format!("ZEGO replied Code 0 {tested}"))
                .with_detail("attempts", registered.attempts);
            let check = match registered.request_id {
                Some(request_id) => check.with_detail("request_id", request_id),
                None => check,
            };
            if placeholder {
                check.with_detail(
                    "note",
                    "give --user-id and --token of a test device to check that device's binding",
                )
            } else {
                check
            }
        }
        Err(zego_core::Error::Api(api)) => Check::new(
            NAME,
            Status::Fail,
            format!(
                "ZEGO replied Code {} ({:?}) {tested}: {}",
                api.code,
                api.message,
                rejection_meaning(api.class, placeholder)
            ),
        )
        .with_fix(codes::hint(api.code))
        .with_detail("code", api.code)
        .with_detail("class", api.class.as_str()),
        Err(error) => Check::new(NAME, Status::Fail, error.to_string())
            .with_fix("check the network, --base-url or --region, and --action"),
    };
    check
        .with_detail("platform", registration.platform.as_str())
        .with_detail("provider", registration.provider().as_str())
        .with_detail("endpoint", client.endpoint())
        .with_detail("scheme", client.signer().scheme().as_str())
}

/// Returns what a rejected test PushRegister means for the set-up, by the
/// class of its code and whether the token was doctor's placeholder.
fn rejection_meaning(class: CodeClass, placeholder: bool) -> &'static str {
    match class {
        CodeClass::Input if placeholder => {
            "ZEGO rejected a parameter of the request, which may be the placeholder token; give --user-id, --token and --platform of a test device to send a real one"
        }
        CodeClass::Input => "ZEGO rejected a parameter of the request: the user id, the token or the provider",
        CodeClass::Permanent => "the token is not linked to the user on ZEGO's side",
        CodeClass::Credentials => {
            "ZEGO did not accept the AppId and ServerSecret, so no token can be registered"
        }
        CodeClass::Configuration => {
            "the AppId, --action or the project's ZEGO configuration is wrong, so no token can be registered"
        }
        CodeClass::ClockSkew => {
            "this machine's clock is too far from ZEGO's, so every signed request is rejected"
        }
        CodeClass::Retryable => "ZEGO was busy or rate-limited the request; run doctor again",
    }
}

/// Returns the platform: --platform when given, else the one --provider
/// implies, else android.
fn platform_of<'a>(platform: Option<&'a str>, provider: Option<&str>) -> &'a str {
    if let Some(platform) = platform {
        return platform;
    }
    match provider.map(PushProvider::parse) {
        Some(Ok(PushProvider::Apns)) => "ios",
        _ => "android",
    }
}

/// Returns a placeholder token of the provider the platform or `--provider` names.
fn placeholder_token(platform: &str, provider: Option<&str>) -> &'static str {
    let provider = match provider {
        Some(provider) => PushProvider::parse(provider).ok(),
        None => Platform::parse(platform).ok().map(Platform::default_provider),
    };
    match provider {
        Some(PushProvider::Apns) => PLACEHOLDER_APNS_TOKEN,
        _ => PLACEHOLDER_FCM_TOKEN,
    }
}

/// Opens the `.p12` file given with `--p12`, with its password.
fn check_certificate(args: &DoctorArgs, path: &Path) -> Check {
    let password = match read_p12_password(args) {
        Ok(password) => password,
        Err(error) => {
            return Check::new("apns_certificate", Status::Fail, error)
                .with_fix("check the path of --p12-password-file");
        }
    };
    apns::check_file(path, &password, args.apns_environment, unix_seconds(SystemTime::now()))
}

/// Returns the `.p12` password: the first line of `--p12-password-file`,
/// else `--p12-password` or its environment variable, else empty.
fn read_p12_password(args: &DoctorArgs) -> Result<Zeroizing<String>, String> {
    if let Some(path) = &args.p12_password_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read --p12-password-file {}: {error}", path.display()))?,
        );
        let line = text.lines().next().unwrap_or_default();
        return Ok(Zeroizing::new(line.to_owned()));
    }
    Ok(Zeroizing::new(args.p12_password.clone().unwrap_or_default()))
}

/// Checks a resourceID against the rules this tool enforces: 1 to 32
/// characters of printable ASCII without whitespace. Characters other than
/// letters, digits, `_` and `-` give a warning, because ZEGO documents no
/// character set and the console's examples use only those.
pub fn check_resource_id(resource_id: &str) -> Check {
    const NAME: &str = "resource_id";
    let fix = "use the resourceID exactly as the ZEGO console shows it, in both the console and the caller's invitation";
    let length = resource_id.chars().count();
    let check = if resource_id.is_empty() {
        Check::new(NAME, Status::Fail, "the resourceID is empty").with_fix(fix)
    } else if length > RESOURCE_ID_MAX_CHARS {
        Check::new(
            NAME,
            Status::Fail,
            format!(
                "{resource_id:?} has {length} characters; a resourceID has at most {RESOURCE_ID_MAX_CHARS}"
            ),
        )
        .with_fix(fix)
    } else if let Some((position, c)) = resource_id.chars().enumerate().find(|(_, c)| !c.is_ascii_graphic()) {
        Check::new(
            NAME,
            Status::Fail,
            format!(
                "{resource_id:?} contains {c:?} at position {position}; a resourceID is printable ASCII without whitespace"
            ),
        )
        .with_fix(fix)
    } else if let Some(c) =
        resource_id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        Check::new(
            NAME,
            Status::Warn,
            format!(
                "{resource_id:?} contains {c:?}; the console's resourceIDs use letters, digits, '_' and '-'"
            ),
        )
        .with_fix("check that the console lists exactly this resourceID")
    } else {
        Check::new(NAME, Status::Pass, format!("{resource_id:?} is well-formed ({length} characters)"))
    };
    check.with_detail("resource_id", resource_id)
}

/// Lists what only the ZEGO console shows: no API exposes it.
fn console_reminder(args: &DoctorArgs, certificate_environment: Option<&str>) -> Check {
    let mut check = Check::new(
        "console",
        Status::Info,
        "check by hand in the ZEGO console (the project's Service Management > In-app Chat > Offline push certificate configuration); no API exposes these settings",
    )
    .with_detail(
        "android",
        "the FCM credentials (server key, or service account JSON for FCM HTTP v1) configured in the ZEGO console, from the app's Firebase project; Google shut down legacy server keys from July 2024",
    )
    .with_detail("ios", "the VoIP push certificate (.p12) uploaded under iOS, with its password");
    check = check
        .with_detail("environment", environment_reminder(args.apns_environment, certificate_environment));
    let resource_id = match &args.resource_id {
        Some(resource_id) => format!("the resourceID {resource_id:?} is configured, and the caller's invitation sends it in notificationConfig"),
        None => "the resourceID the caller's invitation sends in notificationConfig is configured".to_owned(),
    };
    check.with_detail("resource_id", resource_id)
}

/// Returns the console's iOS environment line: what the certificate check
/// found when it ran, else what to compare by hand.
fn environment_reminder(expected: Option<ApnsEnvironment>, certificate_environment: Option<&str>) -> String {
    const BUILDS: &str = "Development for builds run from Xcode, Production for TestFlight and App Store";
    match (expected, certificate_environment) {
        // The environment is "development", "production" or "development and production".
        (Some(expected), Some(environment)) if environment.contains(expected.as_str()) => format!(
            "the iOS environment set in the console must be {}, which the certificate ({environment}) supports: {BUILDS}",
            expected.as_str()
        ),
        (Some(expected), Some(environment)) => format!(
            "the certificate is for {environment}, but --apns-environment is {}: upload a certificate for {} or set the console's iOS environment to {environment} ({BUILDS})",
            expected.as_str(),
            expected.as_str()
        ),
        (None, Some(environment)) => format!(
            "the iOS environment set in the console must match the certificate ({environment}): {BUILDS}"
        ),
        (_, None) => format!(
            "the iOS environment: {BUILDS}; a certificate for the other environment fails without an error"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_id_rules() {
        assert_eq!(check_resource_id("zegouikit_call").status, Status::Pass);
        assert_eq!(check_resource_id(&"a".repeat(32)).status, Status::Pass);
        assert_eq!(check_resource_id(&"a".repeat(33)).status, Status::Fail);
        assert_eq!(check_resource_id("").status, Status::Fail);
        assert_eq!(check_resource_id("call id").status, Status::Fail);
        assert_eq!(check_resource_id("call\u{e9}").status, Status::Fail);
        assert_eq!(check_resource_id("call.v2").status, Status::Warn);
    }

    #[test]
    fn environment_reminder_states_outcome() {
        let mismatch = environment_reminder(Some(ApnsEnvironment::Production), Some("development"));
        assert!(
            mismatch.starts_with("the certificate is for development, but --apns-environment is production")
        );
        assert!(!mismatch.contains("matches"), "{mismatch}");

        let supported =
            environment_reminder(Some(ApnsEnvironment::Production), Some("development and production"));
        assert!(supported.contains("must be production, which the certificate"), "{supported}");

        let unchecked = environment_reminder(None, Some("development"));
        assert!(unchecked.contains("must match the certificate (development)"), "{unchecked}");
    }

    #[test]
    fn rejection_meaning_of_bad_parameter() {
        let placeholder = rejection_meaning(CodeClass::Input, true);
        assert!(placeholder.contains("rejected a parameter"), "{placeholder}");
        assert!(placeholder.contains("placeholder token"), "{placeholder}");
        assert!(!placeholder.contains("not linked"), "{placeholder}");

        let given = rejection_meaning(CodeClass::Input, false);
        assert!(given.contains("rejected a parameter"), "{given}");
        assert!(!given.contains("placeholder"), "{given}");
    }
}
