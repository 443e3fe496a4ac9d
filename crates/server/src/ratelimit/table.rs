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

/// What a check does to its cell: count (governor's usual store) or only look.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
enum Probe {
    Charge(usize),
    /// Answers as `Charge` would, but never changes the cell.
    Peek(usize),
}

impl StateStore for Table {
    type Key = Probe;

    fn measure_and_replace<T, F, E>(&self, probe: &Probe, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        match *probe {
            Probe::Charge(cell) => self.cells[cell].measure_and_replace(&NotKeyed::NonKey, f),
            Probe::Peek(cell) => {
                // The decision travels as the "refusal", which the state never stores.
                let decided = self.cells[cell].measure_and_replace(&NotKeyed::NonKey, |prev| {
                    Err::<(Infallible, Nanos), _>(f(prev).map(|(t, _)| t))
                });
                match decided {
                    Ok(never) => match never {},
                    Err(decision) => decision,
                }
            }
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

/// A keyed GCRA limiter over a fixed table (see the module docs).
pub struct Limiter<C: Clock = MonotonicClock> {
    hasher: RandomState,
    mask: usize,
    quota: Quota,
    /// One governor limiter for counting and peeking: cells hold times since its start, so
    /// both must read them from the same origin (two limiters over one table would not: a
    /// peek would see every cell late by the time between their construction).
    gcra: RateLimiter<Probe, Table, C, StateInformationMiddleware>,
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

impl<C: Clock> Limiter<C> {
    /// As [`Limiter::new`], reading time from `clock` (tests pass a fake one).
    pub fn with_clock(quota: Quota, bits: u32, clock: C) -> Self {
        let size = 1usize << bits;
        let table = Table {
            cells: (0..size).map(|_| InMemoryState::default()).collect(),
        };
        Self {
            hasher: RandomState::new(),
            mask: size - 1,
            quota,
            gcra: RateLimiter::new(quota, table, clock),
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
        let outcome = self.gcra.check_key(&Probe::Charge(self.cell(key)));
        self.verdict(outcome)
    }

    /// What [`Limiter::check`] would answer now, without counting anything.
    pub fn peek(&self, key: &impl Hash) -> Verdict {
        let outcome = self.gcra.check_key(&Probe::Peek(self.cell(key)));
        self.verdict(outcome)
    }

    fn verdict(&self, outcome: Result<StateSnapshot, NotUntil<C::Instant>>) -> Verdict {
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
                reset_in: not_until.wait_time_from(self.gcra.clock().now()),
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
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

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

    /// A fake clock that moves on by `step` each time it is read.
    #[derive(Clone, Default)]
    struct Ticking {
        clock: FakeRelativeClock,
        step: Arc<AtomicU64>,
    }

    impl Clock for Ticking {
        type Instant = Nanos;

        fn now(&self) -> Nanos {
            let now = self.clock.now();
            self.clock
                .advance(Duration::from_nanos(self.step.load(Ordering::Relaxed)));
            now
        }
    }

    #[test]
    fn a_peek_predicts_the_next_check_however_slowly_the_limiter_was_made() {
        // Time passes while the limiter is made (a preempted thread); afterwards the clock
        // stands still, so a peek and the check after it must see the same cell at the
        // same moment.
        let clock = Ticking::default();
        clock.step.store(10_000_000_000, Ordering::Relaxed);
        let quota = Quota::per_minute(NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN));
        let l = Limiter::with_clock(quota, 10, clock.clone());
        clock.step.store(0, Ordering::Relaxed);
        for n in 0..5 {
            let peeked = l.peek(&"k");
            let checked = l.check(&"k");
            assert_eq!(peeked.allowed, checked.allowed, "request {n}");
            assert_eq!(checked.allowed, n < 3, "request {n}");
        }
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
