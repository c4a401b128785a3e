//! The report's plots, drawn with `herdgate_client::svg`.

use herdgate_client::svg::{line_chart, Series};

use crate::report::Report;

/// The three plots of a report: (file name, SVG).
pub fn plots(r: &Report) -> Vec<(&'static str, String)> {
    let t = &r.timeline;
    let admissions = line_chart(
        "Admissions per second",
        "seconds since the herd started",
        "buyers first seeing \"admitted\"",
        &[Series {
            name: "observed",
            color: "#1a73e8",
            points: t
                .admissions_per_s
                .iter()
                .enumerate()
                .map(|(s, n)| (s as f64, *n as f64))
                .collect(),
            steps: true,
        }],
        Some(("configured rate", f64::from(r.admission.configured_per_s))),
    );
    let stock = line_chart(
        "Stock over time",
        "seconds since the herd started",
        "items",
        &[
            Series {
                name: "remaining",
                color: "#188038",
                points: t
                    .stock
                    .iter()
                    .map(|(s, rem, _)| (*s, *rem as f64))
                    .collect(),
                steps: false,
            },
            Series {
                name: "sold",
                color: "#e37400",
                points: t
                    .stock
                    .iter()
                    .map(|(s, _, sold)| (*s, *sold as f64))
                    .collect(),
                steps: false,
            },
        ],
        Some(("stock", r.config.items as f64)),
    );
    let pick = |f: fn(&(f64, f64, f64, f64, f64)) -> f64| -> Vec<(f64, f64)> {
        t.latency
            .iter()
            .filter(|p| f(p) > 0.0)
            .map(|p| (p.0, f(p)))
            .collect()
    };
    let latency = line_chart(
        "Latency at the edge over time",
        "seconds since the herd started",
        "ms",
        &[
            Series {
                name: "status p50",
                color: "#1a73e8",
                points: pick(|p| p.1),
                steps: false,
            },
            Series {
                name: "status p99",
                color: "#8ab4f8",
                points: pick(|p| p.2),
                steps: false,
            },
            Series {
                name: "purchase p50",
                color: "#d93025",
                points: pick(|p| p.3),
                steps: false,
            },
            Series {
                name: "purchase p99",
                color: "#f28b82",
                points: pick(|p| p.4),
                steps: false,
            },
        ],
        None,
    );
    let line = line_chart(
        "The line forming",
        "seconds since the herd started",
        "honest buyers who have joined",
        &[Series {
            name: "in line",
            color: "#9334e6",
            points: t
                .in_line
                .iter()
                .enumerate()
                .map(|(s, n)| (s as f64, *n as f64))
                .collect(),
            steps: true,
        }],
        r.draw
            .as_ref()
            .map(|d| ("in the draw", d.honest_entries as f64)),
    );
    vec![
        ("line.svg", line),
        ("admissions.svg", admissions),
        ("stock.svg", stock),
        ("latency.svg", latency),
    ]
}
