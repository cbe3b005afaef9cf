//! When a request's search must stop.

use std::time::{Duration, Instant};

/// The instant a request's search must stop by, or none at all: a budget
/// too large to add to the clock (`Duration::MAX`, `u64::MAX` seconds) is
/// not an error, it means the variant runs to completion. Every budget
/// check of every variant goes through [`Deadline::passed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Option<Instant>,
}

impl Deadline {
    /// `budget` after `start`; [`Deadline::NEVER`] when `start + budget`
    /// does not fit in an [`Instant`] (saturating instead of panicking).
    pub fn after(start: Instant, budget: Duration) -> Self {
        Deadline {
            at: start.checked_add(budget),
        }
    }
    /// At `at` (which may already have passed: the baseline is still served).
    pub fn at(at: Instant) -> Self {
        Deadline { at: Some(at) }
    }
    /// No deadline: the variant runs to completion.
    pub const NEVER: Deadline = Deadline { at: None };
    /// The instant, if any.
    pub fn instant(&self) -> Option<Instant> {
        self.at
    }
    /// The earlier of the two (a missing one is later than any instant).
    pub fn min(self, other: Deadline) -> Deadline {
        match (self.at, other.at) {
            (Some(a), Some(b)) => Deadline { at: Some(a.min(b)) },
            (Some(a), None) | (None, Some(a)) => Deadline { at: Some(a) },
            (None, None) => Deadline::NEVER,
        }
    }
    /// Whether the deadline has been reached (never, for [`Deadline::NEVER`]).
    pub fn passed(&self) -> bool {
        self.at.is_some_and(|t| Instant::now() >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_budgets_saturate_to_never() {
        let now = Instant::now();
        for b in [Duration::MAX, Duration::from_secs(u64::MAX)] {
            let d = Deadline::after(now, b);
            assert_eq!(d, Deadline::NEVER);
            assert!(!d.passed());
        }
        let d = Deadline::after(now, Duration::ZERO);
        assert_eq!(d.instant(), Some(now));
        assert!(d.passed());
        assert!(!Deadline::after(now, Duration::from_secs(3600)).passed());
    }

    #[test]
    fn min_takes_the_earlier_and_never_is_latest() {
        let now = Instant::now();
        let a = Deadline::at(now);
        let b = Deadline::after(now, Duration::from_secs(1));
        assert_eq!(a.min(b), a);
        assert_eq!(b.min(a), a);
        assert_eq!(Deadline::NEVER.min(b), b);
        assert_eq!(b.min(Deadline::NEVER), b);
        assert_eq!(Deadline::NEVER.min(Deadline::NEVER), Deadline::NEVER);
    }
}
