//! Inline SVG charts for the HTML report: horizontal bars, a stacked timeline
//! and a donut. Hand-written because these are a few dozen rectangles and arcs;
//! plotting crates bring font rasterising or JavaScript the page must not need.

use std::fmt::Write;

use html_escape::encode_text;

/// Bar colour of top-N charts.
pub const BAR: &str = "#1f77b4";
/// Timeline colour of credential attempts.
pub const CREDS: &str = "#1f77b4";
/// Timeline colour of commands.
pub const COMMANDS: &str = "#d62728";
/// Donut palette (protocol split).
pub const PALETTE: [&str; 8] = [
    "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
];

fn label(text: &str, max: usize) -> String {
    encode_text(&super::printable(text, max)).into_owned()
}

/// Horizontal bar chart of `(label, value)`.
pub fn bars(items: &[(String, u64)], color: &str) -> String {
    let row = 22;
    let (label_w, bar_w) = (230.0, 300.0);
    let height = row * items.len().max(1) + 10;
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(1).max(1) as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"{height}\" viewBox=\"0 0 600 {height}\" role=\"img\">"
    );
    for (i, (name, value)) in items.iter().enumerate() {
        let y = i * row + 5;
        let w = (*value as f64 / max * bar_w).max(1.0);
        let _ = write!(
            s,
            "<text x=\"{x}\" y=\"{ty}\" font-size=\"12\" text-anchor=\"end\" font-family=\"monospace\">{name}</text>\
             <rect x=\"{bx}\" y=\"{y}\" width=\"{w:.1}\" height=\"{h}\" fill=\"{color}\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\" font-size=\"12\">{value}</text>",
            x = label_w - 6.0,
            ty = y + 14,
            name = label(name, 30),
            bx = label_w,
            h = row - 6,
            vx = label_w + w + 4.0,
        );
    }
    s.push_str("</svg>");
    s
}

/// Stacked columns over time: credentials below, commands above.
pub fn timeline(points: &[(String, u64, u64)]) -> String {
    let (w, h, left, bottom) = (900.0, 260.0, 50.0, 40.0);
    let plot_h = h - bottom - 10.0;
    let n = points.len().max(1) as f64;
    let col = (w - left - 10.0) / n;
    let max = points
        .iter()
        .map(|(_, a, b)| a + b)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">"
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#444\"/><text x=\"{tx}\" y=\"18\" font-size=\"11\" text-anchor=\"end\">{max}</text>",
        y0 = 10.0 + plot_h,
        x1 = w - 10.0,
        tx = left - 4.0,
    );
    let every = (points.len() / 6).max(1);
    for (i, (start, creds, cmds)) in points.iter().enumerate() {
        let x = left + i as f64 * col;
        let hc = *creds as f64 / max * plot_h;
        let hm = *cmds as f64 / max * plot_h;
        let y_c = 10.0 + plot_h - hc;
        let bw = (col - 1.0).max(1.0);
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y_c:.1}\" width=\"{bw:.1}\" height=\"{hc:.1}\" fill=\"{CREDS}\"/>"
        );
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{hm:.1}\" fill=\"{COMMANDS}\"/>",
            y_c - hm
        );
        if i % every == 0 {
            let _ = write!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
                h - bottom + 24.0,
                label(start, 16)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Donut of shares.
pub fn donut(items: &[(String, u64)]) -> String {
    let total: u64 = items.iter().map(|(_, v)| *v).sum();
    let (cx, cy, r) = (110.0f64, 110.0f64, 90.0f64);
    let height = (items.len() * 20 + 20).max(230);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"{height}\" viewBox=\"0 0 520 {height}\" role=\"img\">"
    );
    let mut angle = -std::f64::consts::FRAC_PI_2;
    for (i, (name, value)) in items.iter().enumerate() {
        let color = PALETTE.get(i % PALETTE.len()).copied().unwrap_or("#7f7f7f");
        let share = if total == 0 {
            0.0
        } else {
            *value as f64 / total as f64
        };
        if share >= 0.9999 {
            let _ = write!(
                s,
                "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" fill=\"{color}\"/>"
            );
        } else if share > 0.0 {
            let end = angle + share * std::f64::consts::TAU;
            let (x0, y0) = (cx + r * angle.cos(), cy + r * angle.sin());
            let (x1, y1) = (cx + r * end.cos(), cy + r * end.sin());
            let large = u8::from(share > 0.5);
            let _ = write!(
                s,
                "<path d=\"M{cx},{cy} L{x0:.2},{y0:.2} A{r},{r} 0 {large} 1 {x1:.2},{y1:.2} Z\" fill=\"{color}\"/>"
            );
            angle = end;
        }
        let ly = 20 + i * 20;
        let _ = write!(
            s,
            "<rect x=\"240\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"258\" y=\"{}\" font-size=\"12\">{} — {} ({:.1}%)</text>",
            ly,
            ly + 11,
            label(name, 24),
            value,
            share * 100.0
        );
    }
    let _ = write!(
        s,
        "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"{}\" fill=\"#fff\"/>",
        r * 0.5
    );
    s.push_str("</svg>");
    s
}
