//! The report: table, SVG plot, JSON lines and the files `last eval` writes.

use super::*;

impl Report {
    /// The terminal table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<34} {:>9} {:>24} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>6}",
            "variant",
            "gt_clicks",
            "Δ vs generator [95% CI]",
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
            let _ = writeln!(
                s,
                "{:<34} {:>9.4} {:>24} {:>8.4} {:>8.4} {:>8.4} {:>9.4} {:>9.1} {:>9.1} {:>6.1}",
                r.variant,
                r.gt_reward,
                ci,
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
        if lo.is_finite() {
            for r in self
                .rows
                .iter()
                .filter(|r| r.variant == "generator" || r.variant == "initial")
            {
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

    /// Writes `report.json`, `report.jsonl`, `report.txt` and
    /// `reward_vs_budget.svg` into `dir`; returns the paths written.
    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let files = [
            (
                "report.json",
                serde_json::to_string_pretty(self).expect("report serialises"),
            ),
            ("report.jsonl", self.json_lines()),
            ("report.txt", self.table()),
            ("reward_vs_budget.svg", self.svg()),
        ];
        let mut out = Vec::new();
        for (name, text) in files {
            let p = dir.join(name);
            std::fs::write(&p, text)?;
            out.push(p);
        }
        Ok(out)
    }
}
