use super::*;

/// A minimal well-formedness check: every element closes in order, the
/// root is `<svg>`, and every `&` starts a known entity.
fn assert_well_formed(svg: &str) {
    let svg = svg.trim();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.ends_with("</svg>"), "{svg}");
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    let mut roots = 0;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>').expect("unclosed tag");
        let tag = &rest[start + 1..end];
        let name = |s: &str| -> String {
            s.split(|c: char| c.is_whitespace() || c == '/')
                .find(|p| !p.is_empty())
                .unwrap_or("")
                .to_string()
        };
        if let Some(closing) = tag.strip_prefix('/') {
            let open = stack.pop().expect("close without open");
            assert_eq!(name(open), closing.trim(), "mismatched </{closing}>");
        } else if !tag.ends_with('/') {
            if stack.is_empty() {
                roots += 1;
            }
            stack.push(tag);
        } else if stack.is_empty() {
            roots += 1;
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert_eq!(roots, 1);
    for (i, _) in svg.match_indices('&') {
        let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
            .iter()
            .any(|e| svg[i..].starts_with(e));
        assert!(ok, "bare & at {i}");
    }
}

fn assert_finite(svg: &str) {
    assert!(!svg.contains("NaN"), "{svg}");
    assert!(!svg.contains("inf"), "{svg}");
}

fn series(name: &str, points: &[(f64, f64)]) -> Series {
    Series {
        name: name.to_string(),
        points: points.to_vec(),
    }
}

/// The `(x, y)` pairs of every polyline, in document order.
fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.match_indices("<polyline points=\"")
        .map(|(i, m)| {
            let body = &svg[i + m.len()..];
            let body = &body[..body.find('"').unwrap()];
            body.split(' ')
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

#[test]
fn two_series_chart() {
    let s = [
        series("LAST", &[(1.0, 0.61), (5.0, 0.64), (20.0, 0.66)]),
        series("baseline", &[(20.0, 0.60), (1.0, 0.60), (5.0, 0.60)]),
    ];
    let svg = line_chart_svg(
        "Reward vs budget",
        "budget (ms)",
        "reward",
        &s,
        false,
        640,
        400,
    );
    assert_well_formed(&svg);
    assert_finite(&svg);
    assert!(svg.contains(">LAST</text>") && svg.contains(">baseline</text>"));
    assert!(svg.contains(">Reward vs budget</text>"));
    assert!(svg.contains(">budget (ms)</text>") && svg.contains(">reward</text>"));
    assert!(svg.contains(PALETTE[0]) && svg.contains(PALETTE[1]));
    let lines = polylines(&svg);
    assert_eq!(lines.len(), 2);
    // Markers: 3 + 3 points plus one legend marker per series.
    assert_eq!(svg.matches("<circle").count(), 8);
    // Joined in x order although the baseline's points were not.
    for line in &lines {
        assert!(line.windows(2).all(|w| w[0].0 < w[1].0), "{line:?}");
    }
    assert!(!svg.contains("no data"));
}

#[test]
fn names_and_titles_are_escaped() {
    let s = [series("a<&>b \"q\" 'x'\u{1}", &[(0.0, 1.0), (1.0, 2.0)])];
    let svg = line_chart_svg("T<1>", "x & y", "y", &s, false, 400, 300);
    assert_well_formed(&svg);
    assert!(svg.contains("a&lt;&amp;&gt;b &quot;q&quot; &apos;x&apos;\u{FFFD}"));
    assert!(!svg.contains("a<&>b"));
    assert!(svg.contains("T&lt;1&gt;") && svg.contains("x &amp; y"));
}

#[test]
fn empty_input_says_no_data() {
    let svg = line_chart_svg("empty", "x", "y", &[], false, 400, 300);
    assert_well_formed(&svg);
    assert!(svg.contains("no data"));
    assert!(!svg.contains("<polyline"));

    // Series without drawable points: still listed in the legend.
    let s = [
        series("none", &[]),
        series("nan", &[(f64::NAN, 1.0), (1.0, f64::INFINITY)]),
    ];
    let svg = line_chart_svg("empty", "x", "y", &s, false, 400, 300);
    assert_well_formed(&svg);
    assert_finite(&svg);
    assert!(svg.contains("no data") && svg.contains(">none</text>") && svg.contains(">nan</text>"));
    assert!(!svg.contains("<polyline"));
}

#[test]
fn single_point_and_constant_y() {
    let svg = line_chart_svg(
        "one",
        "x",
        "y",
        &[series("p", &[(3.0, 7.0)])],
        false,
        400,
        300,
    );
    assert_well_formed(&svg);
    assert_finite(&svg);
    assert_eq!(polylines(&svg).len(), 1);
    assert_eq!(svg.matches("<circle").count(), 2);

    let flat = series("flat", &[(0.0, 0.5), (1.0, 0.5), (2.0, 0.5)]);
    let svg = line_chart_svg("flat", "x", "y", &[flat], false, 400, 300);
    assert_well_formed(&svg);
    assert_finite(&svg);
    let line = &polylines(&svg)[0];
    assert!(line.iter().all(|p| p.1 == line[0].1));

    let zero = series("zero", &[(1.0, 0.0), (1.0, 0.0)]);
    let svg = line_chart_svg("zero", "x", "y", &[zero], true, 400, 300);
    assert_well_formed(&svg);
    assert_finite(&svg);
}

#[test]
fn non_finite_points_are_skipped() {
    let s = series(
        "mixed",
        &[
            (1.0, 1.0),
            (f64::NAN, 2.0),
            (2.0, f64::NEG_INFINITY),
            (3.0, 3.0),
            (f64::INFINITY, 0.0),
        ],
    );
    let svg = line_chart_svg("m", "x", "y", &[s], false, 400, 300);
    assert_well_formed(&svg);
    assert_finite(&svg);
    assert_eq!(polylines(&svg)[0].len(), 2);
}

#[test]
fn log_scale_drops_non_positive_x() {
    let s = series(
        "lat",
        &[
            (-1.0, 0.1),
            (0.0, 0.2),
            (1.0, 0.3),
            (10.0, 0.4),
            (100.0, 0.5),
            (1000.0, 0.6),
        ],
    );
    let svg = line_chart_svg("log", "budget", "reward", &[s], true, 640, 400);
    assert_well_formed(&svg);
    assert_finite(&svg);
    let line = &polylines(&svg)[0];
    assert_eq!(line.len(), 4);
    // Equal ratios are equal distances apart on a log axis.
    let gaps: Vec<f64> = line.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.iter().all(|g| (g - gaps[0]).abs() < 0.2), "{gaps:?}");
    for label in [">1</text>", ">10</text>", ">100</text>", ">1000</text>"] {
        assert!(svg.contains(label), "missing {label}");
    }
    // Nothing positive: no data.
    let svg = line_chart_svg(
        "log",
        "x",
        "y",
        &[series("neg", &[(0.0, 1.0), (-2.0, 1.0)])],
        true,
        400,
        300,
    );
    assert!(svg.contains("no data"));
}

#[test]
fn extreme_values_stay_finite() {
    let cases = [
        vec![(-f64::MAX, -f64::MAX), (f64::MAX, f64::MAX)],
        vec![(0.0, 0.0), (5e-324, 5e-324)],
        vec![(1.0, 1.0), (1.0 + f64::EPSILON, 1.0 + f64::EPSILON)],
        vec![(f64::MIN_POSITIVE, -1e300), (f64::MAX, 1e300)],
    ];
    for pts in cases {
        for log_x in [false, true] {
            let svg = line_chart_svg("x", "x", "y", &[series("s", &pts)], log_x, 0, 0);
            assert_well_formed(&svg);
            assert_finite(&svg);
        }
    }
}

#[test]
fn many_series_cycle_the_palette() {
    let s: Vec<Series> = (0..12)
        .map(|i| {
            series(
                &format!("s{i}"),
                &[(0.0, f64::from(i)), (1.0, f64::from(i) + 1.0)],
            )
        })
        .collect();
    let svg = line_chart_svg("many", "x", "y", &s, false, 800, 600);
    assert_well_formed(&svg);
    assert_eq!(polylines(&svg).len(), 12);
    // Series 10 reuses the first colour: 2 polylines + 2 × (2 markers + legend line + legend marker).
    assert_eq!(svg.matches(PALETTE[0]).count(), 2 + 2 * 4);
}

#[test]
fn linear_ticks_are_nice() {
    let a = linear_axis(0.0, 1.0);
    let labels: Vec<&str> = a.ticks.iter().map(|t| t.1.as_str()).collect();
    assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    let a = linear_axis(0.613, 0.662);
    assert!(a.lo <= 0.613 && a.hi >= 0.662);
    assert!((4..=8).contains(&a.ticks.len()), "{a:?}");
    assert_eq!(a.ticks[0].1, "0.61");
    let a = linear_axis(0.0, 3.0e7);
    assert!(a.ticks.iter().any(|t| t.1 == "1e7"), "{a:?}");
    // Constant: a band around the value.
    let a = linear_axis(5.0, 5.0);
    assert!(a.lo < 5.0 && a.hi > 5.0);
}

#[test]
fn log_ticks_use_1_2_5() {
    let a = log_axis(0.0, 50f64.log10());
    let labels: Vec<&str> = a.ticks.iter().map(|t| t.1.as_str()).collect();
    assert_eq!(labels, ["1", "2", "5", "10", "20", "50"]);
    let a = log_axis(-3.0, 6.0);
    assert!(a.ticks.len() <= 8 && a.ticks.len() >= 3, "{a:?}");
    assert!(a.ticks.iter().any(|t| t.1 == "1e6" || t.1 == "100000"));
    // Less than a decade: linear values.
    let a = log_axis(2f64.log10(), 3f64.log10());
    assert!(a.ticks.len() >= 3, "{a:?}");
}
