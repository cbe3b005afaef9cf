//! A dependency-free SVG line-chart writer, for the report's "ground-truth
//! reward vs latency budget" plot: a self-contained `.svg` any browser shows,
//! with no plotting crate or external tool in the build.
//!
//! ```
//! use last::eval::plot::{line_chart_svg, Series};
//!
//! let last = Series {
//!     name: "LAST".to_string(),
//!     points: vec![(1.0, 0.61), (5.0, 0.64), (20.0, 0.66)],
//! };
//! let svg = line_chart_svg("Reward vs budget", "budget (ms)", "reward", &[last], true, 640, 400);
//! assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
//! assert!(svg.contains("<polyline"));
//! ```

/// One named line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Legend label (any text; XML-escaped in the output).
    pub name: String,
    /// The `(x, y)` points, in any order: they are joined sorted by x (ties
    /// keep their input order).
    pub points: Vec<(f64, f64)>,
}

/// Series colours (the Tableau 10 palette), reused cyclically past ten.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// The smallest canvas drawn; smaller requested sizes are raised to it so
/// the plot area never collapses.
const MIN_WIDTH: u32 = 240;
/// See [`MIN_WIDTH`].
const MIN_HEIGHT: u32 = 160;

/// Renders series as an SVG document (width × height px): axes with ~5 nice
/// tick labels each, axis titles, a title, a legend, one colour per series (a
/// fixed palette, cycling), markers at the points, lines between them
/// (sorted by x).
///
/// `log_x` draws the x axis in log10 scale (non-positive x dropped in that
/// mode); its ticks fall on 1-2-5 × 10ᵏ or on whole decades. Non-finite
/// points are skipped. Empty input (no series, or no drawable point) still
/// gives a valid SVG with a "no data" note. Every series appears in the
/// legend, drawable points or not. Text is XML-escaped (characters XML 1.0
/// forbids become U+FFFD). Sizes below 240 × 160 are raised to that minimum.
/// Each axis spans its data (a constant coordinate gets a small band around
/// it), so the output never contains NaN or infinite coordinates.
pub fn line_chart_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_x: bool,
    width: u32,
    height: u32,
) -> String {
    let w = f64::from(width.max(MIN_WIDTH));
    let h = f64::from(height.max(MIN_HEIGHT));
    let lines: Vec<Vec<(f64, f64)>> = series.iter().map(|s| drawable(&s.points, log_x)).collect();

    // Layout: title on top, tick labels and axis titles left and below, the
    // legend in a column on the right sized for the longest name.
    let legend_w = if series.is_empty() {
        0.0
    } else {
        let chars = series
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0);
        (chars as f64 * 7.0 + 44.0).min(w * 0.35)
    };
    let (left, top) = (72.0, 40.0);
    let right = w - 16.0 - legend_w;
    let bottom = h - 52.0;

    let mut out = String::new();
    out += &format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    out += &format!("<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n");
    out += &format!(
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        num(w / 2.0),
        xml_escape(title)
    );
    out += &format!(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888888\"/>\n",
        num(left),
        num(top),
        num(right - left),
        num(bottom - top)
    );

    draw_area(
        &mut out,
        &lines,
        log_x,
        Frame {
            left,
            right,
            top,
            bottom,
        },
    );

    out += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
        num((left + right) / 2.0),
        num(h - 12.0),
        xml_escape(x_label)
    );
    out += &format!(
        "<text x=\"0\" y=\"0\" transform=\"translate(18 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        num((top + bottom) / 2.0),
        xml_escape(y_label)
    );
    legend(&mut out, series, right + 16.0, top);
    out += "</svg>\n";
    out
}

/// The plot area's pixel bounds.
#[derive(Clone, Copy)]
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

/// Grid lines, ticks with labels, and each series' line and markers (or
/// "no data" when nothing is drawable).
fn draw_area(out: &mut String, lines: &[Vec<(f64, f64)>], log_x: bool, f: Frame) {
    let Frame {
        left,
        right,
        top,
        bottom,
    } = f;
    let all = lines.iter().flatten();
    let x_range = min_max(all.clone().map(|p| p.0));
    let y_range = min_max(all.map(|p| p.1));
    match (x_range, y_range) {
        (Some((x_lo, x_hi)), Some((y_lo, y_hi))) => {
            let x_axis = if log_x {
                log_axis(x_lo, x_hi)
            } else {
                linear_axis(x_lo, x_hi)
            };
            let y_axis = linear_axis(y_lo, y_hi);
            let px = |x: f64| left + x_axis.frac(x) * (right - left);
            let py = |y: f64| bottom - y_axis.frac(y) * (bottom - top);
            for (t, label) in &x_axis.ticks {
                let x = num(px(*t));
                *out += &format!(
                    "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#e8e8e8\"/>\n",
                    num(top),
                    num(bottom)
                );
                *out += &format!(
                    "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#888888\"/>\n",
                    num(bottom),
                    num(bottom + 5.0)
                );
                *out += &format!(
                    "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                    num(bottom + 18.0),
                    xml_escape(label)
                );
            }
            for (t, label) in &y_axis.ticks {
                let y = num(py(*t));
                *out += &format!(
                    "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e8e8e8\"/>\n",
                    num(left),
                    num(right)
                );
                *out += &format!(
                    "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#888888\"/>\n",
                    num(left - 5.0),
                    num(left)
                );
                *out += &format!(
                    "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
                    num(left - 8.0),
                    num(py(*t) + 4.0),
                    xml_escape(label)
                );
            }
            for (i, pts) in lines.iter().enumerate() {
                if pts.is_empty() {
                    continue;
                }
                let colour = PALETTE[i % PALETTE.len()];
                let coords: Vec<String> = pts
                    .iter()
                    .map(|&(x, y)| format!("{},{}", num(px(x)), num(py(y))))
                    .collect();
                *out += &format!(
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\n",
                    coords.join(" ")
                );
                for &(x, y) in pts {
                    *out += &format!(
                        "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{colour}\"/>\n",
                        num(px(x)),
                        num(py(y))
                    );
                }
            }
        }
        _ => {
            *out += &format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888888\">no data</text>\n",
                num((left + right) / 2.0),
                num((top + bottom) / 2.0)
            );
        }
    }
}

/// The legend: one entry per series, in a column starting at (`lx`, `top`).
fn legend(out: &mut String, series: &[Series], lx: f64, top: f64) {
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let y = top + 12.0 + 18.0 * i as f64;
        *out += &format!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n",
            num(lx),
            num(y),
            num(lx + 20.0),
            num(y)
        );
        *out += &format!(
            "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{colour}\"/>\n",
            num(lx + 10.0),
            num(y)
        );
        *out += &format!(
            "<text x=\"{}\" y=\"{}\">{}</text>\n",
            num(lx + 26.0),
            num(y + 4.0),
            xml_escape(&s.name)
        );
    }
}

/// The points of one series that can be drawn, in axis space (log10 x in
/// log mode), sorted by x.
fn drawable(points: &[(f64, f64)], log_x: bool) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_x || *x > 0.0))
        .map(|&(x, y)| if log_x { (x.log10(), y) } else { (x, y) })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

/// The smallest and largest of finite values, or `None` if there are none.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A finite SVG coordinate with one decimal (0 stands in for a non-finite
/// value, which the axis mapping never produces).
fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.1}");
    if s == "-0.0" {
        "0.0".to_string()
    } else {
        s
    }
}

/// One axis: its span in axis space and its labelled ticks.
#[derive(Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    /// Position of `v` along the axis in [0, 1]; halves avoid overflow for
    /// spans near `f64::MAX`, and a degenerate span maps to the middle.
    fn frac(&self, v: f64) -> f64 {
        let f = (v * 0.5 - self.lo * 0.5) / (self.hi * 0.5 - self.lo * 0.5);
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.5
        }
    }

    /// The plain axis used when nice ticks cannot be computed (spans that
    /// overflow or underflow): the data's own ends, labelled.
    fn fallback(lo: f64, hi: f64) -> Axis {
        let mut ticks = vec![(lo, format!("{lo:e}"))];
        if hi != lo {
            ticks.push((hi, format!("{hi:e}")));
        }
        Axis { lo, hi, ticks }
    }
}

/// A 1, 2, 5 or 10 × 10ᵏ step near `raw`, or `None` if `raw` is not a
/// positive finite number whose step is representable.
fn nice_step(raw: f64) -> Option<f64> {
    if !(raw > 0.0 && raw.is_finite()) {
        return None;
    }
    let base = 10f64.powf(raw.log10().floor());
    let f = raw / base;
    let m = if f < 1.5 {
        1.0
    } else if f < 3.0 {
        2.0
    } else if f < 7.0 {
        5.0
    } else {
        10.0
    };
    let step = m * base;
    (step > 0.0 && step.is_finite()).then_some(step)
}

/// A linear axis over the finite data range [lo, hi], widened to whole
/// multiples of a nice step (about five ticks) plus a 3 % margin. A constant
/// (or nearly constant) range gets a ±10 % band (±1 around zero).
fn linear_axis(lo: f64, hi: f64) -> Axis {
    let (a, b) = if hi - lo > 1e-9 * lo.abs().max(hi.abs()) {
        (lo, hi)
    } else {
        let c = lo * 0.5 + hi * 0.5;
        let d = if c == 0.0 { 1.0 } else { c.abs() * 0.1 };
        (c - d, c + d)
    };
    let Some(step) = nice_step((b - a) / 4.0) else {
        return Axis::fallback(lo, hi);
    };
    let (i0, i1) = ((a / step).floor(), (b / step).ceil());
    let (axis_lo, axis_hi) = (i0 * step, i1 * step);
    let count = i1 - i0;
    if !(axis_lo.is_finite() && axis_hi.is_finite() && (1.0..=20.0).contains(&count)) {
        return Axis::fallback(lo, hi);
    }
    let ticks = (0..=count as u32)
        .map(|i| {
            let v = (i0 + f64::from(i)) * step;
            (v, linear_label(v, step))
        })
        .collect();
    // A 3 % margin past the outer ticks keeps end markers off the frame.
    let pad = (axis_hi * 0.5 - axis_lo * 0.5) * 0.06;
    let pad = if (axis_lo - pad).is_finite() && (axis_hi + pad).is_finite() {
        pad
    } else {
        0.0
    };
    Axis {
        lo: axis_lo - pad,
        hi: axis_hi + pad,
        ticks,
    }
}

/// A tick label with as many decimals as `step` needs; exponent notation
/// for large or tiny magnitudes.
fn linear_label(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let step_exp = step.log10().floor() as i32;
    let mag = v.abs();
    if !(1e-4..1e6).contains(&mag) || step_exp < -6 {
        let v_exp = mag.log10().floor() as i32;
        let digits = v_exp.saturating_sub(step_exp).clamp(0, 15) as usize;
        format!("{v:.digits$e}")
    } else {
        let decimals = (-step_exp).max(0) as usize;
        format!("{v:.decimals$}")
    }
}

/// A log10 axis over the data range [lo, hi] given in log10 space, padded
/// by 4 % (half a decade each side for a single x). Ticks at 1-2-5 × 10ᵏ if
/// that gives 3 to 8 of them, at whole decades (every 1, 2, 5… decades) if
/// more, and at nice linear values if fewer.
fn log_axis(lo: f64, hi: f64) -> Axis {
    let (lo, hi) = if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        let pad = (hi - lo) * 0.04;
        (lo - pad, hi + pad)
    };
    let inside = |t: f64| t >= lo - 1e-9 && t <= hi + 1e-9;
    // log10 of a finite positive f64 lies in about [-324, 309].
    let (k0, k1) = (lo.floor() as i32, hi.ceil() as i32);
    let mut ticks: Vec<(f64, String)> = (k0..=k1)
        .flat_map(|k| {
            [1u8, 2, 5].map(|m| (f64::from(k) + f64::from(m).log10(), decade_label(m, k)))
        })
        .filter(|(t, _)| inside(*t))
        .collect();
    if ticks.len() > 8 {
        let s = nice_step((hi - lo) / 4.0).unwrap_or(1.0).max(1.0).round();
        let (j0, j1) = ((lo / s).ceil() as i32, (hi / s).floor() as i32);
        ticks = (j0..=j1)
            .map(|j| {
                let k = f64::from(j) * s;
                (k, decade_label(1, k as i32))
            })
            .collect();
    } else if ticks.len() < 3 && 10f64.powf(hi).is_finite() {
        let linear = linear_axis(10f64.powf(lo), 10f64.powf(hi));
        let extra: Vec<(f64, String)> = linear
            .ticks
            .into_iter()
            .filter(|(v, _)| *v > 0.0)
            .map(|(v, label)| (v.log10(), label))
            .filter(|(t, _)| inside(*t))
            .collect();
        if extra.len() > ticks.len() {
            ticks = extra;
        }
    }
    Axis { lo, hi, ticks }
}

/// The label of m × 10ᵏ: plain digits for 10⁻⁴ … 10⁵, else `me k`.
fn decade_label(m: u8, k: i32) -> String {
    if (-4..=5).contains(&k) {
        let v = f64::from(m) * 10f64.powi(k);
        let decimals = (-k).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{m}e{k}")
    }
}

/// Escapes text for XML content and attributes; characters XML 1.0 does
/// not allow (most C0 controls, U+FFFE, U+FFFF) become U+FFFD.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t'
            | '\n'
            | '\r'
            | '\u{20}'..='\u{D7FF}'
            | '\u{E000}'..='\u{FFFD}'
            | '\u{10000}'.. => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
