//! Line charts as self-contained SVG (no plotting library, no fonts to embed): the herd's
//! report and the operator's report after a sale (`herdgate report`) draw with them.

use std::fmt::Write as _;

/// One line of a chart.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// CSS colour.
    pub color: &'a str,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
    /// Draw as steps (a count per interval) rather than a line.
    pub steps: bool,
}

const W: f64 = 760.0;
const H: f64 = 380.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 50.0;

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A line chart with axes, ticks, a legend and an optional horizontal reference line.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    reference: Option<(&str, f64)>,
) -> String {
    let xmax = nice_max(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold(0.0, f64::max),
    );
    let ymax_data = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let ymax = nice_max(ymax_data.max(reference.map_or(0.0, |r| r.1) * 1.1));
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |v: f64| LEFT + v / xmax * pw;
    let y = |v: f64| TOP + ph - v / ymax * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="system-ui, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="24" font-size="16" font-weight="600">{}</text>"##,
        LEFT,
        esc(title)
    );
    for i in 0..=5 {
        let v = ymax * f64::from(i) / 5.0;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            W - RIGHT,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            fmt_num(v)
        );
        let xv = xmax * f64::from(i) / 5.0;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            x(xv),
            H - BOTTOM + 18.0,
            fmt_num(xv)
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="#333"/><line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#333"/>
<text x="{:.1}" y="{}" text-anchor="middle">{}</text>
<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
        TOP + ph,
        W - RIGHT,
        TOP + ph,
        TOP + ph,
        LEFT + pw / 2.0,
        H - 10.0,
        esc(x_label),
        TOP + ph / 2.0,
        esc(y_label)
    );
    if let Some((label, v)) = reference {
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#d93025" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" text-anchor="end" fill="#d93025">{}</text>"##,
            W - RIGHT,
            y(v),
            y(v),
            W - RIGHT - 4.0,
            y(v) - 6.0,
            esc(label)
        );
    }
    for (k, series) in series.iter().enumerate() {
        let mut d = String::new();
        for (i, &(px, py)) in series.points.iter().enumerate() {
            let cmd = if i == 0 { 'M' } else { 'L' };
            if series.steps {
                let _ = write!(
                    d,
                    "{cmd}{:.1},{:.1} L{:.1},{:.1} ",
                    x(px),
                    y(py),
                    x(px + 1.0),
                    y(py)
                );
            } else {
                let _ = write!(d, "{cmd}{:.1},{:.1} ", x(px), y(py));
            }
        }
        let _ = writeln!(
            s,
            r##"<path d="{}" fill="none" stroke="{}" stroke-width="2"/>
<rect x="{}" y="{}" width="12" height="3" fill="{}"/><text x="{}" y="{}">{}</text>"##,
            d.trim_end(),
            series.color,
            LEFT + 10.0 + 170.0 * k as f64,
            TOP - 14.0,
            series.color,
            LEFT + 26.0 + 170.0 * k as f64,
            TOP - 9.0,
            esc(series.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_num(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{:.0}", v)
    } else {
        format!("{:.1}", v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 8.0);
        assert_eq!(nice_max(180.0), 200.0);
        assert_eq!(nice_max(1100.0), 1200.0);
        assert_eq!(nice_max(1001.0), 1200.0);
    }

    #[test]
    fn a_chart_is_well_formed_svg_with_its_series_and_reference() {
        let svg = line_chart(
            "T <1>",
            "x",
            "y",
            &[Series {
                name: "a&b",
                color: "red",
                points: vec![(0.0, 1.0), (2.0, 3.0)],
                steps: false,
            }],
            Some(("ref", 2.0)),
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("T &lt;1&gt;") && svg.contains("a&amp;b") && svg.contains(">ref<"));
        assert_eq!(svg.matches("<path").count(), 1);
    }
}
