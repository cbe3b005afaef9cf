//! f16 → f32 widening of whole slices on the SIMD path (`vcvtph2ps` /
//! `fcvtl`), exact for every one of the 65,536 bit patterns (checked
//! exhaustively against `half`'s software conversion).

use crate::error::{same, KernelError};
use crate::simd::{Kernel, Simd};
use crate::Backend;

struct Widen<'a> {
    src: &'a [u16],
    dst: &'a mut [f32],
}

impl Kernel for Widen<'_> {
    type Output = ();
    fn scalar(self) {
        for (d, s) in self.dst.iter_mut().zip(self.src) {
            *d = half::f16::from_bits(*s).to_f32();
        }
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) {
        let n = self.src.len();
        let l = S::LANES;
        let mut i = 0;
        while i + l <= n {
            // SAFETY: i + LANES <= n = src.len() = dst.len().
            unsafe {
                let v = S::load_f16(self.src.as_ptr().add(i));
                S::store(self.dst.as_mut_ptr().add(i), v);
            }
            i += l;
        }
        if i < n {
            let mut tail = [0u16; 16];
            tail[..n - i].copy_from_slice(&self.src[i..]);
            // SAFETY: `tail` holds 16 >= LANES elements; the store touches dst[i..n].
            unsafe {
                let v = S::load_f16(tail.as_ptr());
                S::store_partial(self.dst.as_mut_ptr().add(i), v, n - i);
            }
        }
    }
}

impl Backend {
    /// Widens raw f16 bits to f32: `dst[i] = f16(src[i]) as f32`.
    pub fn f16_to_f32(self, src: &[u16], dst: &mut [f32]) -> Result<(), KernelError> {
        same("f16_to_f32 lengths", src.len(), dst.len())?;
        self.run(Widen { src, dst });
        Ok(())
    }
}
