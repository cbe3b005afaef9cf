//! The compact binary body of `POST /rank` (`Content-Type:
//! application/octet-stream`): the same request as the JSON body without
//! the text. Parsing 3,232 decimal numbers is most of the HTTP path's own
//! cost on the standard request; this body is copied, not parsed.
//!
//! Layout, little-endian, no padding:
//!
//! ```text
//! offset  size        field
//! 0       4           magic "LST1"
//! 4       4           N (u32)           rows of items
//! 8       4           d_x (u32)         must equal the model's
//! 12      4           d_u (u32)         must equal the model's
//! 16      4           length L (u32)
//! 20      8           seed (u64)
//! 28      8           budget µs (u64); u64::MAX = the server's default
//! 36      4           V (u32)           variant name bytes; 0 = the server's default
//! 40      V           variant name, UTF-8
//! 40+V    4·d_u       user features (f32)
//! ..      4·N·d_x     item features (f32), row-major
//! ```
//!
//! The body must end exactly after the items. Structure defects (short,
//! long, bad magic, bad UTF-8) are [`DecodeError::Malformed`] (HTTP 400);
//! N, widths and the variant name get the same errors as in JSON (422).

use super::decode::{check_counts, job, DecodeError, Defaults, RankJob};
use crate::model::Config;
use crate::serve::Variant;
use std::time::Duration;

/// The first four bytes of a binary body.
pub const MAGIC: [u8; 4] = *b"LST1";
/// Bytes before the variant name.
pub const HEADER_BYTES: usize = 40;

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Malformed(format!(
                "binary body ends inside {what} ({} bytes left, {n} needed)",
                self.b.len()
            )));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn floats(&mut self, count: usize, what: &str) -> Result<Vec<f32>, DecodeError> {
        let bytes = count
            .checked_mul(4)
            .ok_or_else(|| DecodeError::Malformed(format!("{what}: {count} values")))?;
        let b = self.take(bytes, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// Decodes and checks one binary body (see the module docs for the layout).
pub fn decode_binary(
    body: &[u8],
    cfg: &Config,
    defaults: &Defaults,
) -> Result<RankJob, DecodeError> {
    let mut c = Cursor { b: body };
    if c.take(4, "the magic")? != MAGIC {
        return Err(DecodeError::Malformed(
            "binary body does not start with \"LST1\"".into(),
        ));
    }
    let n = c.u32("N")? as usize;
    let d_x = c.u32("d_x")? as usize;
    let d_u = c.u32("d_u")? as usize;
    let len = c.u32("length")? as usize;
    let seed = c.u64("seed")?;
    let budget_us = c.u64("budget")?;
    let vlen = c.u32("the variant length")? as usize;
    let name = std::str::from_utf8(c.take(vlen, "the variant name")?)
        .map_err(|e| DecodeError::Malformed(format!("variant name: {e}")))?;
    // Widths and N before reading (and allocating for) the features.
    check_counts(cfg, n, d_u, Some(d_x))?;
    let variant = if name.is_empty() {
        defaults.variant
    } else {
        name.parse::<Variant>()
            .map_err(|e| DecodeError::UnknownVariant(e.to_string()))?
    };
    let user = c.floats(d_u, "the user features")?;
    let items = c.floats(n * d_x, "the item features")?;
    if !c.b.is_empty() {
        return Err(DecodeError::Malformed(format!(
            "{} bytes after the item features",
            c.b.len()
        )));
    }
    let budget = if budget_us == u64::MAX {
        defaults.budget
    } else {
        Duration::from_micros(budget_us)
    };
    job(cfg, user, items, n, len, seed, variant, budget)
}

/// Encodes a request as a binary body (the inverse of [`decode_binary`];
/// for clients and tests). `budget_us: None` and an empty `variant` leave
/// them to the server.
#[allow(clippy::too_many_arguments)]
pub fn encode_binary(
    user: &[f32],
    items: &[f32],
    d_x: usize,
    len: u32,
    seed: u64,
    variant: &str,
    budget_us: Option<u64>,
) -> Vec<u8> {
    let n = items.len().checked_div(d_x).unwrap_or(0);
    let mut out = Vec::with_capacity(HEADER_BYTES + variant.len() + 4 * (user.len() + items.len()));
    out.extend_from_slice(&MAGIC);
    for v in [n as u32, d_x as u32, user.len() as u32, len] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&seed.to_le_bytes());
    out.extend_from_slice(&budget_us.unwrap_or(u64::MAX).to_le_bytes());
    out.extend_from_slice(&(variant.len() as u32).to_le_bytes());
    out.extend_from_slice(variant.as_bytes());
    for v in user.iter().chain(items) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::ServeError;

    fn defaults() -> Defaults {
        Defaults {
            variant: Variant::Baseline,
            budget: Duration::from_millis(7),
        }
    }

    #[test]
    fn round_trip_and_defaults() {
        let cfg = Config::tiny();
        let (user, items) = (vec![0.5, -1.0], vec![0.25; 5 * 3]);
        let b = encode_binary(&user, &items, 3, 2, 9, "best-of-4", Some(250));
        let j = decode_binary(&b, &cfg, &defaults()).unwrap();
        assert_eq!((j.n, j.d_x, j.len, j.seed), (5, 3, 2, 9));
        assert_eq!((j.user, j.items), (user.clone(), items.clone()));
        assert_eq!(j.variant, Variant::BestOfK { k: 4 });
        assert_eq!(j.budget, Duration::from_micros(250));
        let b = encode_binary(&user, &items, 3, 2, 9, "", None);
        let j = decode_binary(&b, &cfg, &defaults()).unwrap();
        assert_eq!(
            (j.variant, j.budget),
            (Variant::Baseline, Duration::from_millis(7))
        );
    }

    #[test]
    fn every_cut_and_every_extra_byte_is_malformed() {
        let cfg = Config::tiny();
        let b = encode_binary(&[1.0, 2.0], &[0.0; 6], 3, 1, 0, "baseline", None);
        for cut in 0..b.len() {
            assert!(
                matches!(
                    decode_binary(&b[..cut], &cfg, &defaults()),
                    Err(DecodeError::Malformed(_))
                ),
                "cut at {cut}"
            );
        }
        let mut long = b.clone();
        long.push(0);
        assert!(matches!(
            decode_binary(&long, &cfg, &defaults()),
            Err(DecodeError::Malformed(_))
        ));
        let mut magic = b.clone();
        magic[0] = b'X';
        assert!(matches!(
            decode_binary(&magic, &cfg, &defaults()),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn counts_and_names_get_the_json_errors() {
        let cfg = Config::tiny();
        let d = defaults();
        let err = |b: Vec<u8>| decode_binary(&b, &cfg, &d).unwrap_err();
        assert_eq!(
            err(encode_binary(&[1.0, 2.0], &[], 3, 1, 0, "", None)),
            DecodeError::Invalid(ServeError::NoCandidates)
        );
        assert!(matches!(
            err(encode_binary(&[1.0], &[0.0; 6], 3, 1, 0, "", None)),
            DecodeError::Invalid(ServeError::FeatureWidth { what: "user", .. })
        ));
        assert!(matches!(
            err(encode_binary(&[1.0, 2.0], &[0.0; 8], 4, 1, 0, "", None)),
            DecodeError::Invalid(ServeError::FeatureWidth { what: "items", .. })
        ));
        assert!(matches!(
            err(encode_binary(&[1.0, 2.0], &[0.0; 27], 3, 1, 0, "", None)),
            DecodeError::Invalid(ServeError::TooManyCandidates { .. })
        ));
        assert!(matches!(
            err(encode_binary(
                &[1.0, 2.0],
                &[0.0; 6],
                3,
                1,
                0,
                "best-of-x",
                None
            )),
            DecodeError::UnknownVariant(_)
        ));
        // A huge N is refused before anything is allocated for it.
        let mut huge = encode_binary(&[1.0, 2.0], &[0.0; 3], 3, 1, 0, "", None);
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            err(huge),
            DecodeError::Invalid(ServeError::TooManyCandidates { .. })
        ));
    }
}
