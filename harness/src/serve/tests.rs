use super::*;
use crate::bench::scenario::Features;
use crate::model::Config;
use std::time::Duration;

/// Shared decoder slots and shared evaluator rows are exact: a chunk of
/// candidates gives the same lists and bit-identical scores as running
/// each candidate alone, and it does share (fewer FLOPs than alone).
/// (The bit-level basis, row-independent dense products, is tested in
/// `tests/tests/dense.rs`.)
#[test]
fn sharing_within_a_chunk_changes_no_value() {
    let cfg = Config::standard();
    let model = Model::random(cfg.clone(), 11, last_kernels::Backend::detect()).unwrap();
    let feats = Features::random(&cfg, 50, 5);
    let par = |noise, target| Variant::Parallel {
        k: CHUNK + 1,
        sigma: 0.05,
        noise,
        target,
    };
    let mut checked = 0;
    for variant in [
        par(NoiseSpec::Gaussian, Target::Keys),
        par(NoiseSpec::LowRank(1), Target::Keys),
        par(NoiseSpec::Gaussian, Target::W2),
        Variant::BestOfK { k: CHUNK + 1 },
    ] {
        let req = feats.request(cfg.d_x, 10, 3, variant, Duration::from_secs(10));
        let ctx = Ctx {
            m: &model,
            req: &req,
            n: 50,
            deadline: Deadline::after(Instant::now(), req.budget),
        };
        let mut s = Scratch::default();
        ctx.encode_shared(&mut s, None).unwrap();
        let mut cands = Vec::new();
        match variant {
            Variant::Parallel {
                k, sigma, noise, ..
            } => ctx.parallel_cands(k, sigma, noise, &mut cands),
            _ => cands.extend((1..=CHUNK as u64).map(Cand::Sample)),
        }
        let (_, lead, sh) = s.parts();
        ctx.chunk(&cands, lead, &sh).unwrap();
        let (together, scores) = (lead.lists.clone(), lead.out_scores.clone());
        let shared_flops = lead.flops;
        let mut alone_flops = 0;
        for (j, c) in cands.iter().enumerate() {
            let mut b = ChunkBufs::default();
            ctx.chunk(std::slice::from_ref(c), &mut b, &sh).unwrap();
            assert_eq!(
                b.lists[..10],
                together[j * 10..(j + 1) * 10],
                "{variant:?} #{j}"
            );
            assert_eq!(
                b.out_scores[0].to_bits(),
                scores[j].to_bits(),
                "{variant:?} #{j}"
            );
            alone_flops += b.flops;
        }
        assert!(shared_flops < alone_flops, "{variant:?}: no sharing");
        checked += 1;
    }
    assert_eq!(checked, 4);
}
