#!/usr/bin/env python3
"""Prints the docs/RESULTS.md table of one `last eval` / `last demo` run.

Usage: scripts/results-table.py OUT/report.json

One Markdown row per variant: expected clicks under the judge, the paired
difference to `baseline` with its 95 % bootstrap interval, requests won /
tied / lost against `baseline` and the share whose list changed, NDCG@1,
NDCG@10, MAP@10, the evaluator's score, p50 latency (µs) and lists scored.
"""
import json
import sys


def num(x, signed=False, digits=4):
    s = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return s.replace("-", "\u2212")


def main(path):
    r = json.load(open(path))
    print("| variant | gt_clicks | Δ vs baseline [95 % CI] | won / tied / lost | changed | NDCG@1 | NDCG@10 | MAP@10 | eval | p50 µs | lists |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in r["rows"]:
        m = dict((k, v) for k, v in row["metrics"])
        g = m["gt_reward"]
        name = row["variant"]
        if name == "baseline":
            delta = "0"
        else:
            delta = f"{num(g['diff'], True)} [{num(g['ci95']['low'], True)}, {num(g['ci95']['high'], True)}]"
        lat = (lambda v: "–" if name == "initial" else f"{v:,.0f}")
        w, t, l = row["wins_ties_losses"]
        print(
            f"| `{name}` | {num(g['mean'])} | {delta} | {w} / {t} / {l} | {100 * row['changed']:.0f} % | "
            f"{m['ndcg@1']['mean']:.3f} | {m['ndcg@10']['mean']:.3f} | {m['map@10']['mean']:.3f} | "
            f"{m['eval_score']['mean']:.3f} | {lat(row['p50_us'])} | {row['candidates']:,.0f} |"
        )
    e = r["evaluator"]
    print()
    print(
        f"evaluator: log-loss {e['logloss']:.3f}, AUC {e['auc']:.3f}, τ-b {e['kendall_tau']:.3f} on random lists, "
        f"{e['kendall_tau_policy']:.3f} on generator samples; isa {r['isa']}"
    )
    print("chosen on validation: " + ", ".join(f"{n} = {v:g}" for n, v in r["chosen"]))


if __name__ == "__main__":
    main(sys.argv[1])
