//! The C allocator's thresholds for a process that moves large buffers all the time.
//!
//! glibc's malloc serves a block of 128 KiB or more with its own `mmap`, and raises that
//! threshold to the size of each such block freed (up to 32 MiB); free memory at the top of a
//! heap beyond twice the threshold goes back to the kernel. A pipeline worker holds many
//! buffers of about a MiB at once (librdkafka's fetch and decompression buffers) and frees
//! them together, so the heap is trimmed after every burst and the next one faults and zeroes
//! its pages again: a fifth of `index`'s CPU, measured with `perf` (pipeline/BENCHMARKS.md).
//! Starting at the thresholds glibc would reach at most keeps those pages for the next burst.

/// Below this a block comes from the heap, not its own mapping: glibc's own upper bound.
const MMAP_THRESHOLD_BYTES: i32 = 32 << 20;

/// Free memory at the top of a heap beyond this goes back to the kernel: twice the above, as
/// glibc sets it when it raises the mapping threshold.
const TRIM_THRESHOLD_BYTES: i32 = 64 << 20;

/// Sets the thresholds for this process. A no-op where the C library is not glibc.
pub fn keep_large_blocks_in_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of malloc's parameters, under malloc's own lock; it is
    // safe to call from any thread at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Page faults of the calling thread so far.
    fn minor_faults() -> i64 {
        // SAFETY: getrusage only writes into the struct it is given.
        let usage = unsafe {
            let mut usage = std::mem::zeroed::<libc::rusage>();
            assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
            usage
        };
        usage.ru_minflt
    }

    /// Fills sixteen 1 MiB buffers at once and frees them all, as a burst of fetches does.
    fn burst() {
        let buffers: Vec<Vec<u8>> = (0..16).map(|_| vec![1u8; 1 << 20]).collect();
        std::hint::black_box(buffers);
    }

    #[test]
    fn freed_buffers_are_reused_without_page_faults() {
        keep_large_blocks_in_the_heap();
        burst();
        let before = minor_faults();
        burst();
        let faults = minor_faults() - before;
        // Untuned, each burst maps (or, once the threshold has risen, grows the heap and trims
        // it back) and faults its 4,096 pages again.
        assert!(
            faults < 512,
            "{faults} page faults refilling 16 MiB of freed buffers"
        );
    }
}
