//! The SIMD level this process runs at, as the kernel libraries see it.
//!
//! burn-flex's element-wise kernels (macerator) and the matrix products (gemm, faer/pulp) pick
//! their instruction set at run time with `is_x86_feature_detected!`, and none of them offers a
//! switch to cap it. `tools/test.sh` therefore reruns the parity tests under `qemu-x86_64 -cpu
//! MODEL`, whose CPUID reports a smaller CPU, so that every lower level is exercised on the same
//! machine; it sets `WHYCAM_EXPECT_SIMD` to the level it asked for, and [`check_level`] fails if
//! the process does not see exactly that level (a runner that did not cap would otherwise pass
//! silently at the native level).

/// The x86-64 micro-architecture level the dispatchers choose between: `v4` (AVX-512F),
/// `v3` (AVX2 + FMA), `v2` (SSE4.2, no FMA: gemm's scalar kernels), `v1` (SSE2 only); on
/// other architectures the architecture's name (aarch64 always has NEON).
pub fn level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            "v4"
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            "v3"
        } else if is_x86_feature_detected!("sse4.2") {
            "v2"
        } else {
            "v1"
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}

/// Prints the level and fails if `WHYCAM_EXPECT_SIMD` names another one.
pub fn check_level() -> &'static str {
    let level = level();
    println!("SIMD level: {level}");
    if let Ok(expected) = std::env::var("WHYCAM_EXPECT_SIMD") {
        assert_eq!(
            level, expected,
            "WHYCAM_EXPECT_SIMD={expected}, but the CPU this test sees is at {level}"
        );
    }
    level
}
