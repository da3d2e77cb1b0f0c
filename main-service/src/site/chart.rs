//! Line charts for the console, rendered on the server as inline SVG (no script, no library):
//! a time axis over a window, a value axis from zero, one polyline, and a text alternative for
//! screen readers.

use maud::{Markup, html};

/// The drawing's size and the plot area inside it (room on the left for the value labels and
/// below for the time labels).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// `points` (unix second, value) as drawing coordinates over the window `from..=to` and values
/// `0..=max`; points before the window are dropped, points after it drawn at its end (the bucket
/// still filling), values above `max` clipped.
pub fn scale(points: &[(u64, f64)], from: u64, to: u64, max: f64) -> Vec<(f64, f64)> {
    let span = to.saturating_sub(from).max(1) as f64;
    let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    points
        .iter()
        .filter(|(t, _)| *t >= from)
        .map(|&(t, v)| (t.min(to), v))
        .map(|(t, v)| {
            let x = LEFT + (t - from) as f64 / span * w;
            let y = TOP + h - (v / max).clamp(0.0, 1.0) * h;
            (x, y)
        })
        .collect()
}

/// A chart of `points` over the last `window_secs` before `now`; `max` tops the value axis
/// (the largest value when `None`), `label` formats a value.
pub fn line_chart(
    id: &str,
    title: &str,
    points: &[(u64, f64)],
    now: u64,
    window_secs: u64,
    max: Option<f64>,
    label: impl Fn(f64) -> String,
) -> Markup {
    let from = now.saturating_sub(window_secs);
    let top = max
        .unwrap_or_else(|| points.iter().map(|p| p.1).fold(0.0, f64::max))
        .max(f64::MIN_POSITIVE);
    let drawn = scale(points, from, now, top);
    let line: String = drawn
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let latest = points
        .iter()
        .filter(|(t, _)| *t >= from)
        .max_by_key(|p| p.0)
        .map(|p| p.1);
    let summary = match latest {
        Some(v) => format!(
            "{title}: {} point{} over the last {} hours, the latest {}, the highest {}.",
            drawn.len(),
            if drawn.len() == 1 { "" } else { "s" },
            window_secs / 3600,
            label(v),
            label(points.iter().map(|p| p.1).fold(0.0, f64::max))
        ),
        None => format!("{title}: no data yet."),
    };
    let bottom = HEIGHT - BOTTOM;
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        figure.chart {
            svg #(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
                aria-labelledby={ (title_id) " " (desc_id) } xmlns="http://www.w3.org/2000/svg" {
                title #(title_id) { (title) }
                desc #(desc_id) { (summary) }
                line.axis x1=(LEFT) y1=(bottom) x2=(WIDTH - RIGHT) y2=(bottom) {}
                line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(bottom) {}
                line.grid x1=(LEFT) y1=(TOP) x2=(WIDTH - RIGHT) y2=(TOP) {}
                text.value x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" { (label(top)) }
                text.value x=(LEFT - 6.0) y=(bottom) text-anchor="end" { (label(0.0)) }
                text.time x=(LEFT) y=(HEIGHT - 8.0) { (window_secs / 3600) " h ago" }
                text.time x=((LEFT + WIDTH - RIGHT) / 2.0) y=(HEIGHT - 8.0) text-anchor="middle" { (window_secs / 7200) " h ago" }
                text.time x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" { "now" }
                @if drawn.is_empty() {
                    text.empty x=((LEFT + WIDTH - RIGHT) / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" { "No data yet" }
                } @else {
                    polyline.series points=(line) {}
                    @if let Some((x, y)) = drawn.last() {
                        circle.series cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" {}
                    }
                }
            }
            figcaption { (summary) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_map_onto_the_plot_area() {
        let drawn = scale(
            &[(100, 0.0), (150, 0.5), (250, 1.0), (50, 1.0)],
            100,
            200,
            1.0,
        );
        assert_eq!(drawn.len(), 3, "the point before the window is dropped");
        assert_eq!(drawn[0], (LEFT, HEIGHT - BOTTOM));
        assert_eq!(drawn[2], (WIDTH - RIGHT, TOP));
        let mid = drawn[1];
        assert!((mid.0 - (LEFT + (WIDTH - LEFT - RIGHT) / 2.0)).abs() < 1e-9);
        assert!((mid.1 - (TOP + (HEIGHT - TOP - BOTTOM) / 2.0)).abs() < 1e-9);
        let clipped = scale(&[(150, 7.0)], 100, 200, 1.0);
        assert_eq!(clipped[0].1, TOP);
    }

    #[test]
    fn a_chart_says_what_it_shows() {
        let pct = |v: f64| format!("{:.0} %", v * 100.0);
        let empty = line_chart("c", "Hit ratio", &[], 1000, 3600, Some(1.0), pct).into_string();
        assert!(empty.contains("No data yet"), "{empty}");
        let some = line_chart(
            "c",
            "Hit ratio",
            &[(400, 0.5), (700, 0.9)],
            1000,
            3600,
            Some(1.0),
            pct,
        )
        .into_string();
        assert!(some.contains("<polyline"), "{some}");
        assert!(some.contains("the latest 90 %"), "{some}");
        assert!(some.contains("role=\"img\""), "{some}");
    }
}
