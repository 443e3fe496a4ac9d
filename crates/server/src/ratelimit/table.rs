//! A GCRA limiter (governor's) whose state lives in a table of fixed size: its memory is set
//! when it is made and never grows, however many distinct callers come.
//!
//! governor's own keyed stores keep an entry per distinct key until `retain_recent` runs, so a
//! flood of distinct keys grows them. Here a key picks one of `2^bits` cells by a keyed hash
//! (SipHash with a per-process random key, so no caller can aim at another's cell). Two keys
//! that share a cell share a budget; with 2^18 cells and a few hundred active callers that is
//! rare, and an attacker cannot arrange it.

use std::convert::Infallible;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{NotUntil, Quota, RateLimiter};

/// The cells, one GCRA state (an atomic `u64`) each.
struct Table {
    cells: Box<[InMemoryState]>,
}

/// Checks count: governor's usual store, over the table.
struct Charge(Arc<Table>);

/// Checks answer as [`Charge`] would, but never change a cell.
struct Peek(Arc<Table>);

impl StateStore for Charge {
    type Key = usize;

    fn measure_and_replace<T, F, E>(&self, cell: &usize, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.cells[*cell].measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl StateStore for Peek {
    type Key = usize;

    fn measure_and_replace<T, F, E>(&self, cell: &usize, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The decision travels as the "refusal", which the state never stores.
        let decided = self.0.cells[*cell].measure_and_replace(&NotKeyed::NonKey, |prev| {
            Err::<(Infallible, Nanos), _>(f(prev).map(|(t, _)| t))
        });
        match decided {
            Ok(never) => match never {},
            Err(decision) => decision,
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// Requests left before the budget is spent.
    pub remaining: u32,
    /// Allowed: until the budget is whole again. Refused: until the next request may pass.
    pub reset_in: Duration,
}

type Gcra<S, C> = RateLimiter<usize, S, C, StateInformationMiddleware>;

/// A keyed GCRA limiter over a fixed table (see the module docs).
pub struct Limiter<C: Clock = MonotonicClock> {
    hasher: RandomState,
    mask: usize,
    quota: Quota,
    charge: Gcra<Charge, C>,
    /// Shares `charge`'s table. Made right after it, so its time origin is nanoseconds later:
    /// a peek sees the table a few nanoseconds early, which only ever errs towards refusing.
    peek: Gcra<Peek, C>,
}

impl<C: Clock> std::fmt::Debug for Limiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("quota", &self.quota)
            .field("cells", &(self.mask + 1))
            .finish()
    }
}

impl Limiter<MonotonicClock> {
    /// A limiter of `quota` per key over `2^bits` cells.
    pub fn new(quota: Quota, bits: u32) -> Self {
        Self::with_clock(quota, bits, MonotonicClock)
    }
}

impl<C: Clock + Clone> Limiter<C> {
    /// As [`Limiter::new`], reading time from `clock` (tests pass a fake one).
    pub fn with_clock(quota: Quota, bits: u32, clock: C) -> Self {
        let size = 1usize << bits;
        let table = Arc::new(Table {
            cells: (0..size).map(|_| InMemoryState::default()).collect(),
        });
        Self {
            hasher: RandomState::new(),
            mask: size - 1,
            quota,
            charge: RateLimiter::new(quota, Charge(Arc::clone(&table)), clock.clone()),
            peek: RateLimiter::new(quota, Peek(table), clock),
        }
    }
}

impl<C: Clock> Limiter<C> {
    fn cell(&self, key: &impl Hash) -> usize {
        // The mask keeps the low bits, which fit a usize on every platform.
        (self.hasher.hash_one(key) as usize) & self.mask
    }

    /// Counts one request of `key`, unless its budget is spent.
    pub fn check(&self, key: &impl Hash) -> Verdict {
        let outcome = self.charge.check_key(&self.cell(key));
        self.verdict(outcome, self.charge.clock())
    }

    /// What [`Limiter::check`] would answer now, without counting anything.
    pub fn peek(&self, key: &impl Hash) -> Verdict {
        let outcome = self.peek.check_key(&self.cell(key));
        self.verdict(outcome, self.peek.clock())
    }

    fn verdict(&self, outcome: Result<StateSnapshot, NotUntil<C::Instant>>, clock: &C) -> Verdict {
        match outcome {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let spent = self.burst().saturating_sub(remaining);
                Verdict {
                    allowed: true,
                    remaining,
                    reset_in: self.quota.replenish_interval() * spent,
                }
            }
            Err(not_until) => Verdict {
                allowed: false,
                remaining: 0,
                reset_in: not_until.wait_time_from(clock.now()),
            },
        }
    }

    /// Requests a fresh key may make at once.
    pub fn burst(&self) -> u32 {
        self.quota.burst_size().get()
    }

    /// The memory the states take, in bytes: fixed at construction.
    pub fn state_bytes(&self) -> usize {
        (self.mask + 1) * size_of::<InMemoryState>()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(per_minute: u32, clock: &FakeRelativeClock) -> Limiter<FakeRelativeClock> {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Limiter::with_clock(quota, 10, clock.clone())
    }

    #[test]
    fn counts_refuses_and_recovers() {
        let clock = FakeRelativeClock::default();
        let l = limiter(2, &clock);
        let v = l.check(&"a");
        assert!(v.allowed && v.remaining == 1);
        assert_eq!(v.reset_in, Duration::from_secs(30));
        assert!(l.check(&"a").allowed);
        let refused = l.check(&"a");
        assert!(!refused.allowed && refused.remaining == 0);
        assert_eq!(refused.reset_in, Duration::from_secs(30));
        clock.advance(Duration::from_secs(30));
        assert!(l.check(&"a").allowed, "one request came back");
        assert!(!l.check(&"a").allowed);
    }

    #[test]
    fn peeking_counts_nothing() {
        let clock = FakeRelativeClock::default();
        let l = limiter(1, &clock);
        for _ in 0..5 {
            assert!(l.peek(&"k").allowed);
        }
        assert!(l.check(&"k").allowed);
        assert!(!l.peek(&"k").allowed, "a peek sees the spent budget");
        assert!(!l.check(&"k").allowed);
    }

    #[test]
    fn memory_does_not_grow_with_distinct_keys() {
        let clock = FakeRelativeClock::default();
        let l = limiter(1, &clock);
        let before = l.state_bytes();
        assert_eq!(before, 1024 * 8);
        for i in 0..200_000u32 {
            l.check(&format!("junk-{i}"));
        }
        assert_eq!(l.state_bytes(), before);
    }
}
