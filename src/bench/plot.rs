//! `--plot FILE.svg`: the ANN recall/throughput curve and nDCG@10 per mode, as one
//! self-contained SVG (written directly: two simple charts do not justify a plotting stack
//! with font dependencies).

use std::fmt::Write;

use super::{ordered_modes, BenchReport};

const W: f64 = 1000.0;
const H: f64 = 440.0;
const PAD: f64 = 60.0;
const PANEL: f64 = W / 2.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the report's two charts.
pub fn svg(r: &BenchReport) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>"#
    );
    ann_panel(&mut s, r);
    ndcg_panel(&mut s, r);
    s.push_str("</svg>\n");
    s
}

fn axes(s: &mut String, x0: f64, title: &str, xlabel: &str, ylabel: &str) {
    let (left, right, top, bottom) = (x0 + PAD, x0 + PANEL - 20.0, PAD, H - PAD);
    let _ = write!(
        s,
        r#"<text x="{}" y="30" text-anchor="middle" font-size="15" font-weight="bold">{}</text><line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/><line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="black"/><text x="{}" y="{}" text-anchor="middle">{}</text><text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">{}</text>"#,
        x0 + PANEL / 2.0,
        esc(title),
        (left + right) / 2.0,
        H - 15.0,
        esc(xlabel),
        x0 + 18.0,
        (top + bottom) / 2.0,
        x0 + 18.0,
        (top + bottom) / 2.0,
        esc(ylabel)
    );
}

fn ann_panel(s: &mut String, r: &BenchReport) {
    axes(
        s,
        0.0,
        "HNSW vs exact search",
        "recall@10",
        "queries/s (1 thread)",
    );
    if r.ann.is_empty() {
        return;
    }
    let (left, right, top, bottom) = (PAD, PANEL - 20.0, PAD, H - PAD);
    let rmin = r
        .ann
        .iter()
        .map(|a| a.recall_at_10)
        .fold(1.0f64, f64::min)
        .min(0.95);
    let qmax = r.ann.iter().map(|a| a.qps).fold(0.0f64, f64::max) * 1.1;
    let x = |v: f64| left + (v - rmin) / (1.0 - rmin).max(1e-9) * (right - left);
    let y = |v: f64| bottom - v / qmax.max(1e-9) * (bottom - top);
    for i in 0..=4 {
        let rv = rmin + (1.0 - rmin) * i as f64 / 4.0;
        let qv = qmax * i as f64 / 4.0;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{rv:.3}</text><text x="{}" y="{}" text-anchor="end">{qv:.0}</text>"#,
            x(rv),
            bottom + 16.0,
            left - 4.0,
            y(qv) + 4.0
        );
    }
    let points: Vec<String> = r
        .ann
        .iter()
        .map(|a| format!("{:.1},{:.1}", x(a.recall_at_10), y(a.qps)))
        .collect();
    let _ = write!(
        s,
        r#"<polyline fill="none" stroke="steelblue" stroke-width="2" points="{}"/>"#,
        points.join(" ")
    );
    for a in &r.ann {
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="steelblue"/><text x="{:.1}" y="{:.1}" font-size="10">ef {}</text>"#,
            x(a.recall_at_10),
            y(a.qps),
            x(a.recall_at_10) + 5.0,
            y(a.qps) - 6.0,
            a.ef
        );
    }
}

fn ndcg_panel(s: &mut String, r: &BenchReport) {
    let x0 = PANEL;
    axes(
        s,
        x0,
        &format!("nDCG@10 on {} ({})", r.dataset, r.split),
        "mode",
        "nDCG@10",
    );
    let modes: Vec<_> = ordered_modes(r).into_iter().take(7).collect();
    if modes.is_empty() {
        return;
    }
    let (left, right, top, bottom) = (x0 + PAD, x0 + PANEL - 20.0, PAD, H - PAD);
    let y = |v: f64| bottom - v * (bottom - top);
    for i in 0..=5 {
        let v = i as f64 / 5.0;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{v:.1}</text>"#,
            left - 4.0,
            y(v) + 4.0
        );
    }
    let slot = (right - left) / modes.len() as f64;
    for (i, (name, m)) in modes.iter().enumerate() {
        let bx = left + slot * i as f64 + slot * 0.15;
        let colour = match name.as_str() {
            "bm25" => "#d08c2c",
            "dense" => "#5a8fd0",
            _ => "#4f9d69",
        };
        let _ = write!(
            s,
            r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{:.3}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
            y(m.ndcg_at_10),
            slot * 0.7,
            bottom - y(m.ndcg_at_10),
            bx + slot * 0.35,
            y(m.ndcg_at_10) - 4.0,
            m.ndcg_at_10,
            bx + slot * 0.35,
            bottom + 14.0,
            esc(name)
        );
    }
}
