//! One retry policy for every GitHub call: server errors and rate limits are retried with
//! bounded backoff; everything else is the caller's to handle.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry of a server error; doubles each time.
    pub base_delay: Duration,
    /// No single wait is longer; a rate limit that resets later is not waited for.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Done,
    RetryAfter(Duration),
    /// Rate limited for longer than the policy waits.
    GiveUpRateLimited(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// What to do after attempt number `attempt` (1-based) got `outcome`: a status and its
    /// headers, or `None` for a transport error (connection refused, timeout, …).
    pub fn decide(
        &self,
        attempt: u32,
        outcome: Option<(StatusCode, &HeaderMap)>,
        now: SystemTime,
    ) -> Decision {
        let backoff = || {
            let exp = self
                .base_delay
                .saturating_mul(1u32 << (attempt - 1).min(16));
            exp.min(self.max_delay)
        };
        let wait = match outcome {
            None => backoff(),
            Some((status, _)) if status.is_success() || status.is_redirection() => {
                return Decision::Done;
            }
            Some((status, headers))
                if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::FORBIDDEN =>
            {
                match rate_limit_wait(headers, now) {
                    Some(wait) if wait > self.max_delay => {
                        return Decision::GiveUpRateLimited(wait);
                    }
                    Some(wait) => wait,
                    None if status == StatusCode::TOO_MANY_REQUESTS => backoff(),
                    // A plain 403 is a permission answer, not a rate limit.
                    None => return Decision::Done,
                }
            }
            Some((status, _)) if status.is_server_error() => backoff(),
            Some(_) => return Decision::Done,
        };
        if attempt >= self.max_attempts {
            Decision::GiveUp
        } else {
            Decision::RetryAfter(wait)
        }
    }
}

/// How long GitHub asks us to wait: `retry-after` (seconds), else `x-ratelimit-reset` (epoch
/// seconds) when `x-ratelimit-remaining` is 0.
fn rate_limit_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
    if header("x-ratelimit-remaining") != Some("0") {
        return None;
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    // One extra second: GitHub's reset is inclusive of the second it names.
    Some(Duration::from_secs(reset.saturating_sub(now) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn decisions() {
        let p = RetryPolicy::default();
        let none = HeaderMap::new();
        let now = at(1000);
        assert_eq!(
            p.decide(1, Some((StatusCode::OK, &none)), now),
            Decision::Done
        );
        assert_eq!(
            p.decide(1, Some((StatusCode::NOT_FOUND, &none)), now),
            Decision::Done
        );
        assert_eq!(
            p.decide(1, Some((StatusCode::FORBIDDEN, &none)), now),
            Decision::Done,
            "permission denied"
        );
        assert_eq!(
            p.decide(1, Some((StatusCode::BAD_GATEWAY, &none)), now),
            Decision::RetryAfter(Duration::from_millis(500))
        );
        assert_eq!(
            p.decide(3, Some((StatusCode::BAD_GATEWAY, &none)), now),
            Decision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(
            p.decide(4, Some((StatusCode::BAD_GATEWAY, &none)), now),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(1, None, now),
            Decision::RetryAfter(Duration::from_millis(500))
        );
        let ra = headers(&[("retry-after", "7")]);
        assert_eq!(
            p.decide(1, Some((StatusCode::FORBIDDEN, &ra)), now),
            Decision::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            p.decide(1, Some((StatusCode::TOO_MANY_REQUESTS, &ra)), now),
            Decision::RetryAfter(Duration::from_secs(7))
        );
        let reset = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1010"),
        ]);
        assert_eq!(
            p.decide(1, Some((StatusCode::FORBIDDEN, &reset)), now),
            Decision::RetryAfter(Duration::from_secs(11))
        );
        let far = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "5000"),
        ]);
        assert_eq!(
            p.decide(1, Some((StatusCode::FORBIDDEN, &far)), now),
            Decision::GiveUpRateLimited(Duration::from_secs(4001))
        );
        let left = headers(&[
            ("x-ratelimit-remaining", "10"),
            ("x-ratelimit-reset", "1010"),
        ]);
        assert_eq!(
            p.decide(1, Some((StatusCode::FORBIDDEN, &left)), now),
            Decision::Done
        );
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy {
            max_attempts: 100,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
        };
        assert_eq!(
            p.decide(50, None, at(0)),
            Decision::RetryAfter(Duration::from_secs(10))
        );
    }
}
