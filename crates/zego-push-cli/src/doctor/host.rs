//! The host checks: one `GET` to the base URL tells whether the host is
//! reachable, and its `Date` header gives the host's clock.

use std::time::{SystemTime, UNIX_EPOCH};

use zego_core::ProxySetting;

use super::{Check, Status};
use crate::cli::ConnectionArgs;

/// Clock skew past which ZEGO rejects a request's timestamp (code 100000004).
pub const SKEW_FAIL_SECS: i64 = 600;
/// Clock skew worth a warning: well inside ZEGO's window, but a clock this
/// far off is not synchronized and may drift out of the window.
pub const SKEW_WARN_SECS: i64 = 60;

/// The results of the one request that checks reachability and clock skew.
pub struct HostChecks {
    pub host: Check,
    pub clock: Check,
    pub reachable: bool,
}

/// Sends `GET` to the base URL: any HTTP reply means the host is reachable,
/// and its `Date` header gives the host's clock.
pub async fn check_host(connection: &ConnectionArgs) -> HostChecks {
    let skipped_clock = |why: &str| Check::new("clock_skew", Status::Skip, format!("not checked: {why}"));
    let unreachable =
        |host: Check| HostChecks { host, clock: skipped_clock("the host did not answer"), reachable: false };

    let base_url = match connection.base_url() {
        Ok(url) => url,
        Err(error) => {
            let check = Check::new("host_reachable", Status::Fail, error.to_string())
                .with_fix("give --base-url URL or a known --region");
            return unreachable(check);
        }
    };
    tracing::info!(url = base_url.as_str(), "checking that the ZEGO host responds");
    // The same route as registrations take: proxy rules, TLS roots, timeouts.
    let sent_at = SystemTime::now();
    let probe = zego_core::client::probe_host(
        &base_url,
        &ProxySetting::Environment,
        connection.connect_timeout(),
        connection.timeout(),
    )
    .await;
    let reply = match probe {
        Ok(reply) => reply,
        Err(error @ zego_core::Error::InvalidConfig(_)) => {
            let check = Check::new("host_reachable", Status::Fail, error.to_string()).with_fix(
                "give --base-url as https://HOST, or http://HOST:PORT for a local peer, \
                 and an http:// proxy in HTTPS_PROXY, HTTP_PROXY or ALL_PROXY",
            );
            return unreachable(check);
        }
        Err(error) => {
            let check = Check::new("host_reachable", Status::Fail, format!("no reply: {error}"))
                .with_fix("check the network, proxy and firewall, and --base-url or --region");
            return unreachable(check);
        }
    };

    let via = zego_core::error::through_proxy(reply.proxy.as_deref());
    let host = Check::new(
        "host_reachable",
        Status::Pass,
        format!("{} answered HTTP {} in {} ms{via}", reply.url, reply.status, reply.elapsed.as_millis()),
    );
    let clock = match reply.date {
        None => {
            Check::new("clock_skew", Status::Warn, format!("not measured: the reply{via} has no Date header"))
                .with_fix("compare this machine's clock with an NTP server (timedatectl status)")
        }
        Some(value) => match httpdate::parse_http_date(&value) {
            Err(_) => {
                Check::new("clock_skew", Status::Warn, format!("not measured: invalid Date header {value:?}"))
                    .with_fix("compare this machine's clock with an NTP server (timedatectl status)")
            }
            // The reply was written between sending and receiving: compare with the midpoint.
            Ok(host_time) => clock_check(unix_seconds(sent_at + reply.elapsed / 2) - unix_seconds(host_time)),
        },
    };
    HostChecks { host, clock, reachable: true }
}

/// Judges the local clock's offset from the host's, in seconds (positive: local is ahead).
pub fn clock_check(skew: i64) -> Check {
    let summary = match skew {
        0 => "this machine's clock matches the host's Date header to the second".to_owned(),
        1.. => format!("this machine's clock is {skew} s ahead of the host's Date header"),
        _ => format!("this machine's clock is {} s behind the host's Date header", skew.abs()),
    };
    let fix = "synchronize this machine's clock with NTP (for example `timedatectl set-ntp true`)";
    let check = if skew.abs() > SKEW_FAIL_SECS {
        Check::new("clock_skew", Status::Fail, summary).with_fix(format!(
            "{fix}: ZEGO rejects a request whose timestamp is more than {SKEW_FAIL_SECS} s off, with code 100000004"
        ))
    } else if skew.abs() > SKEW_WARN_SECS {
        Check::new("clock_skew", Status::Warn, summary).with_fix(format!(
            "{fix}: ZEGO allows {SKEW_FAIL_SECS} s, and an unsynchronized clock keeps drifting"
        ))
    } else {
        Check::new("clock_skew", Status::Pass, summary)
    };
    check.with_detail("skew_seconds", skew)
}

pub fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(elapsed) => elapsed.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_check_thresholds() {
        assert_eq!(clock_check(0).status, Status::Pass);
        assert_eq!(clock_check(-60).status, Status::Pass);
        assert_eq!(clock_check(61).status, Status::Warn);
        assert_eq!(clock_check(-600).status, Status::Warn);
        assert_eq!(clock_check(601).status, Status::Fail);
        assert_eq!(clock_check(-3600).status, Status::Fail);
    }

    #[test]
    fn clock_check_says_direction() {
        assert!(clock_check(90).summary.contains("90 s ahead of"));
        assert!(clock_check(-90).summary.contains("90 s behind"));
    }
}
