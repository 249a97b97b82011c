//! A global allocator that remembers the largest single allocation requested, so the fuzz
//! target can fail on any allocation sized by a declared length instead of by the bytes
//! present — long before libFuzzer's `-malloc_limit_mb` would notice.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static LARGEST: AtomicUsize = AtomicUsize::new(0);

/// Install with `#[global_allocator]` in the fuzz target.
pub struct LargestAllocation;

// SAFETY: every call is forwarded unchanged to the system allocator; the only addition is
// an atomic store that neither allocates nor touches the returned memory.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

/// Runs `f` and returns the largest single allocation (bytes) made meanwhile. Only meaningful
/// when [`LargestAllocation`] is the global allocator and nothing else allocates concurrently.
pub fn largest_allocation_during(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::Relaxed);
    f();
    LARGEST.load(Ordering::Relaxed)
}
