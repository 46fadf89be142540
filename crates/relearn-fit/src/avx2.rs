//! Element-wise kernels compiled twice, for AVX2 and for the baseline target, and picked
//! at run time: the training loops' passes and Adam run 8 lanes wide where the CPU allows
//! it, without building the whole crate for AVX2.

/// Runs `$body` compiled for AVX2 when the CPU has it, else for the baseline target. Same
/// IEEE operations either way (Rust never fuses a multiply and an add on its own), so the
/// same bits.
macro_rules! with_avx2 {
    ($(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            $(#[$attr])*
            fn imp($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    imp($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}
