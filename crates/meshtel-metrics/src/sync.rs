//! Every atomic the crate uses comes from here, so that `--cfg loom` swaps in
//! loom's model-checked versions (crossbeam and bytes do the same). The two
//! exceptions are statics (the group id counter and the recording-slot bitmap),
//! which stay `std` because loom's atomics cannot be statics; each says so.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

/// Waits a moment for another thread to make progress.
#[inline]
pub(crate) fn spin() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
