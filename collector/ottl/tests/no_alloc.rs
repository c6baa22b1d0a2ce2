//! Conditions made of paths, literals, comparisons and `IsMatch` evaluate on wire views
//! without allocating: counted by a global allocator wrapper around the system one.
#![allow(unsafe_code, clippy::unwrap_used)]

mod fixtures;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use fixtures::*;
use weir_ottl::{Condition, Context, Item};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn span_conditions_allocate_nothing_per_item() {
    let condition = Condition::compile(
        r#"attributes["http.method"] == "GET" and status.code == STATUS_CODE_ERROR
           and resource.attributes["tenant"] == "acme" and kind == SPAN_KIND_SERVER
           and duration > 1000 and IsMatch(name, "^GET /") and not (attributes["ratio"] > 0.5)
           and instrumentation_scope.name != "" and attributes["tags"][0] == "a""#,
        Context::Span,
    )
    .unwrap();
    let [_, wire] = trace_batches_of(traces((0..100).map(|_| span()).collect()));
    let judge = || {
        wire.spans()
            .filter(|(r, s, span)| condition.evaluate(&Item::span(*r, *s, *span)).unwrap())
            .count()
    };
    assert_eq!(
        judge(),
        100,
        "warm-up: the regex engine builds its cache once"
    );
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let matched = judge();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(matched, 100);
    assert_eq!(
        allocations, 0,
        "evaluating 100 spans allocated {allocations} times"
    );
}
