//! The report: table, SVG plot, JSON lines and the files `last eval` writes.

use super::*;

impl Report {
    /// The terminal table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let w = self
            .rows
            .iter()
            .map(|r| r.variant.chars().count())
            .max()
            .unwrap_or(0)
            .max(26);
        let _ = writeln!(
            s,
            "{:<w$} {:>9} {:>24} {:>14} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>6}",
            "variant",
            "gt_clicks",
            "Δ vs baseline [95% CI]",
            "wins/ties/loss",
            "changed",
            "ndcg@1",
            "ndcg@10",
            "map@10",
            "eval",
            "p50 µs",
            "p99 µs",
            "lists"
        );
        for r in &self.rows {
            let g = &r.metrics[0].1;
            let ci = format!("{:+.4} [{:+.4},{:+.4}]", g.diff, g.ci95.low, g.ci95.high);
            let [w_, t_, l_] = r.wins_ties_losses;
            let _ = writeln!(
                s,
                "{:<w$} {:>9.4} {:>24} {:>14} {:>6.0}% {:>8.4} {:>8.4} {:>8.4} {:>9.4} {:>9.1} {:>9.1} {:>6.1}",
                r.variant,
                r.gt_reward,
                ci,
                format!("{w_}/{t_}/{l_}"),
                100.0 * r.changed,
                r.metrics[1].1.mean,
                r.ndcg10,
                r.map10,
                r.eval_score,
                r.p50_us,
                r.p99_us,
                r.candidates
            );
        }
        let e = &self.evaluator;
        let _ = writeln!(
            s,
            "evaluator: held-out log-loss {:.4}, AUC {}, Kendall τ-b vs ground truth {:.3} on random lists, {:.3} on lists sampled from the generator ({} requests × {} lists)",
            e.logloss,
            e.auc.map(|a| format!("{a:.4}")).unwrap_or_else(|| "n/a".into()),
            e.kendall_tau,
            e.kendall_tau_policy,
            e.tau_lists.0,
            e.tau_lists.1
        );
        let chosen: Vec<String> = self
            .chosen
            .iter()
            .map(|(n, s)| format!("{n} σ={s}"))
            .collect();
        let _ = writeln!(s, "chosen on validation: {}", chosen.join(", "));
        s
    }

    /// The reward-vs-budget chart.
    pub fn svg(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for p in &self.sweep {
            if !names.contains(&p.variant) {
                names.push(p.variant.clone());
            }
        }
        let mut series: Vec<crate::eval::plot::Series> = names
            .iter()
            .map(|n| crate::eval::plot::Series {
                name: n.clone(),
                points: self
                    .sweep
                    .iter()
                    .filter(|p| &p.variant == n)
                    .map(|p| (p.budget_us, p.gt_reward))
                    .collect(),
            })
            .collect();
        let xs: Vec<f64> = self.sweep.iter().map(|p| p.budget_us).collect();
        let (lo, hi) = (
            xs.iter().cloned().fold(f64::INFINITY, f64::min),
            xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        );
        let flat = [
            Arm::Serve(Variant::Baseline).to_string(),
            Arm::Initial.to_string(),
        ];
        if lo.is_finite() {
            for r in self.rows.iter().filter(|r| flat.contains(&r.variant)) {
                series.push(crate::eval::plot::Series {
                    name: format!("{} (no search)", r.variant),
                    points: vec![(lo, r.gt_reward), (hi, r.gt_reward)],
                });
            }
        }
        crate::eval::plot::line_chart_svg(
            &format!(
                "{}: ground-truth expected clicks vs latency budget (one thread)",
                self.dataset
            ),
            "latency budget per request (µs, log scale)",
            "mean expected clicks (test)",
            &series,
            true,
            900,
            560,
        )
    }

    /// JSON lines: one object per variant.
    pub fn json_lines(&self) -> String {
        self.rows
            .iter()
            .map(|r| serde_json::to_string(r).expect("rows serialise") + "\n")
            .collect()
    }

    /// The files [`Report::write`] writes, in order.
    pub const FILES: [&'static str; 4] = [
        "report.json",
        "report.jsonl",
        "report.txt",
        "reward_vs_budget.svg",
    ];

    /// Writes `report.json`, `report.jsonl`, `report.txt` and
    /// `reward_vs_budget.svg` into `dir`; returns the paths written. An
    /// error names the path that failed (the folder or the file).
    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        let named = |p: &std::path::Path, e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{}: {e}", p.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| named(dir, e))?;
        let texts = [
            serde_json::to_string_pretty(self).expect("report serialises"),
            self.json_lines(),
            self.table(),
            self.svg(),
        ];
        let mut out = Vec::new();
        for (name, text) in Self::FILES.into_iter().zip(texts) {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(|e| named(&p, e))?;
            out.push(p);
        }
        Ok(out)
    }
}
