//! The global allocator of whycam's binaries and benchmarks: mimalloc, told to keep the memory
//! it frees.
//!
//! Batched convolutions allocate and free buffers of tens of megabytes per layer. glibc's
//! malloc hands such blocks back to the kernel at once, and mimalloc after a delay (1 s in v3);
//! either way the next layer's buffer comes back as fresh pages that the kernel must fault in
//! and zero. On a Score-CAM run of the default model that was 7% of all CPU time (and more with
//! glibc, ../shared/PERF_NOTES.md). [`keep_freed_memory`] turns mimalloc's purging off, so a
//! process holds on to its peak memory until it exits, which suits a command-line program.
//!
//! Linking this crate installs the allocator; call [`keep_freed_memory`] first thing in `main`.

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v3 `include/mimalloc.h`); the Rust
/// bindings do not name it.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// Stops mimalloc from returning freed memory to the operating system.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table, which may be
    // changed at any time; -1 means "never purge".
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// mimalloc's current purge delay in milliseconds (-1: never).
// `c_long` is 32 bits on some targets, so the conversion is not useless everywhere.
#[allow(clippy::useless_conversion)]
pub fn purge_delay() -> i64 {
    // SAFETY: reads one entry of mimalloc's option table.
    i64::from(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_is_the_purge_delay() {
        // mimalloc v3's purge delay defaults to 1000 ms (src/options.c); no neighbouring
        // option in the table has that default, so a wrong index fails here.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), 1000);
        }
        keep_freed_memory();
        assert_eq!(purge_delay(), -1);
    }
}
