//! No heap allocation per request in the steady state: after a warm-up on
//! one scratch, serving a request allocates only the [`Response`]'s own two
//! lists (the served and the baseline list). Counted by a global allocator
//! that wraps the system one, on the test's own thread only (the requests
//! are served without a pool, so all their work runs there; the test
//! harness's own threads may allocate at any time and are not counted).

use last::bench::scenario::Features;
use last::model::{Config, Model};
use last::serve::{NoiseSpec, Scratch, Target, Variant};
use last_kernels::Backend;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Counts one allocation if the calling thread is the counted one.
fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_allocates_only_the_response() {
    let be = Backend::detect();
    let par = |noise, target| Variant::Parallel {
        k: 16,
        sigma: 0.05,
        noise,
        target,
    };
    let variants = [
        ("standard", Variant::Baseline),
        ("standard", Variant::BestOfK { k: 16 }),
        ("standard", par(NoiseSpec::Gaussian, Target::W2)),
        ("standard", par(NoiseSpec::Rademacher, Target::W2)),
        ("standard", par(NoiseSpec::Antithetic, Target::W2)),
        ("standard", par(NoiseSpec::Gaussian, Target::Keys)),
        ("standard", par(NoiseSpec::Table, Target::W2)),
        ("standard", par(NoiseSpec::Table, Target::Keys)),
        ("standard", par(NoiseSpec::LowRank(1), Target::Keys)),
        ("standard", par(NoiseSpec::LowRank(2), Target::W2)),
        ("standard", Variant::gradient_standard()),
        ("standard", Variant::serial_standard()),
        ("small", Variant::Exhaustive),
    ];
    let mut cfg = Config::standard();
    cfg.max_candidates = 64;
    let model = Model::random(cfg.clone(), 7, be).unwrap();
    COUNTED.with(|c| c.set(true));
    let (warm, count) = (5usize, 50usize);
    for (scenario, variant) in variants {
        let (n, l) = if scenario == "small" {
            (8, 4)
        } else {
            (50, 10)
        };
        let feats: Vec<Features> = (0..4)
            .map(|i| Features::random(&cfg, n, 1000 + i))
            .collect();
        let reqs: Vec<_> = (0..warm + count)
            .map(|i| {
                feats[i % feats.len()].request(
                    cfg.d_x,
                    l,
                    i as u64,
                    variant,
                    Duration::from_secs(3600),
                )
            })
            .collect();
        let mut scratch = Scratch::default();
        for r in &reqs[..warm] {
            model.serve(r, &mut scratch, None).unwrap();
        }
        let mut kept = Vec::with_capacity(count);
        let before = ALLOCS.load(Ordering::Relaxed);
        for r in &reqs[warm..] {
            kept.push(model.serve(r, &mut scratch, None).unwrap());
        }
        let per_request = (ALLOCS.load(Ordering::Relaxed) - before) as f64 / count as f64;
        drop(kept);
        assert!(
            per_request <= 2.0,
            "{}: {per_request} allocations per request (the Response's two lists allowed)",
            variant.name()
        );
    }
}
