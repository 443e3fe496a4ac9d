//! Failed sign-ins, limited per account and per client address, like DocSpace's login settings
//! (`LoginSettings`: 5 attempts, then blocked): after `login_attempts` failures an account, or
//! an address, is refused with 429 before any password is checked, and one more attempt comes
//! back every `login_block_secs`.
//!
//! Only failures count, so a member signing in often is never blocked; a blocked account stays
//! blocked for the right password too, or guessing would go on at full speed.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;

use super::table::Limiter;

/// Cells of the table (2^16, 512 KiB).
const BITS: u32 = 16;

/// What is counted: an account (its e-mail, case-folded) or a client address.
#[derive(Hash)]
enum Subject<'a> {
    Account(&'a str),
    Address(IpAddr),
}

/// Sign-ins are refused for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// Until the next attempt may be made.
    pub retry_after: Duration,
}

/// The book of failed sign-ins.
#[derive(Debug)]
pub struct LoginGuard {
    failures: Limiter,
}

impl LoginGuard {
    /// `attempts` failures in a row are allowed; then one more per `block`.
    pub fn new(attempts: u32, block: Duration) -> Self {
        let quota = Quota::with_period(block.max(Duration::from_millis(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(attempts).unwrap_or(NonZeroU32::MIN));
        Self {
            failures: Limiter::new(quota, BITS),
        }
    }

    fn subjects(account: &str, from: Option<IpAddr>) -> impl Iterator<Item = Subject<'_>> {
        std::iter::once(Subject::Account(account)).chain(from.map(Subject::Address))
    }

    /// Refuses a sign-in to `account` from `from` while either has used up its failures.
    /// `account` must already be case-folded.
    pub fn admit(&self, account: &str, from: Option<IpAddr>) -> Result<(), Blocked> {
        let wait = Self::subjects(account, from)
            .map(|s| self.failures.peek(&s))
            .filter(|v| !v.allowed)
            .map(|v| v.reset_in)
            .max();
        match wait {
            Some(w) => Err(Blocked {
                retry_after: w.max(Duration::from_secs(1)),
            }),
            None => Ok(()),
        }
    }

    /// Records a failed sign-in to `account` from `from`.
    pub fn failed(&self, account: &str, from: Option<IpAddr>) {
        for s in Self::subjects(account, from) {
            self.failures.check(&s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn failures_block_the_account_from_any_address() {
        let g = LoginGuard::new(3, Duration::from_secs(60));
        for i in 0..3 {
            assert!(g.admit("a@x", ip(i)).is_ok());
            g.failed("a@x", ip(i));
        }
        let b = g.admit("a@x", ip(9)).unwrap_err();
        assert!(b.retry_after > Duration::from_secs(50), "{b:?}");
        assert!(
            g.admit("b@x", ip(9)).is_ok(),
            "other accounts are not blocked"
        );
    }

    #[test]
    fn failures_block_the_address_for_any_account() {
        let g = LoginGuard::new(3, Duration::from_secs(60));
        for i in 0..3 {
            g.failed(&format!("user{i}@x"), ip(1));
        }
        assert!(g.admit("fresh@x", ip(1)).is_err());
        assert!(g.admit("fresh@x", ip(2)).is_ok());
    }

    #[test]
    fn admitting_counts_nothing() {
        let g = LoginGuard::new(1, Duration::from_secs(60));
        for _ in 0..10 {
            assert!(g.admit("a@x", ip(1)).is_ok());
        }
    }
}
