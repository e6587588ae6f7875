//! Report charts drawn on the server as SVG (issue 15): bar, stacked bar and line charts from a
//! [`Report`] and its [`ChartHint`], with a y axis of round ticks in the unit of the figures
//! (counts, durations, shares), labels from the catalogue in the agent's language, and every
//! text escaped (channel, queue and agent names are user data).
//!
//! The image is self-contained: its colours sit in its own `<style>` with a dark variant, so it
//! reads the same in an `<img>` on the console as opened on its own, and holds no script and no
//! external reference. The numbers are in a table beside it on the page; the chart carries a
//! `<title>` and `<desc>` for screen readers and a `<title>` per mark for pointer users.

use std::fmt::Write as _;

use parley_core::i18n::{self, Locale};
use parley_core::reports::{Cell, ChartKind, ColumnKind, Report};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 340.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 40.0;
const RIGHT: f64 = 16.0;
/// Rough width of one character at the chart's 13 px font: enough to keep labels apart without
/// measuring text, which the server cannot do.
const CHAR_W: f64 = 7.2;
/// A label longer than this is cut with an ellipsis (its full text stays in the mark's title).
const MAX_LABEL: usize = 18;
/// Marks are drawn in this many colours, then the colours repeat.
const PALETTE: usize = 6;

/// Light and dark colours of the console's palette (console.css): ink, muted text, grid, and the
/// series. The dark set applies when the reader's system asks for it, as the console's does.
const STYLE: &str = "text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px;fill:#1d2330}\
.muted{fill:#5d6677}.title{font-size:15px;font-weight:600}.grid{stroke:#dde1e8;stroke-width:1}\
.axis{stroke:#5d6677;stroke-width:1}.line{fill:none;stroke-width:2}\
.s0{fill:#2557d6;stroke:#2557d6}.s1{fill:#1d9a8a;stroke:#1d9a8a}.s2{fill:#c77800;stroke:#c77800}\
.s3{fill:#b3261e;stroke:#b3261e}.s4{fill:#7b4fd0;stroke:#7b4fd0}.s5{fill:#5d6677;stroke:#5d6677}\
@media (prefers-color-scheme:dark){text{fill:#e6e8ec}.muted{fill:#9aa3b2}.grid{stroke:#2e343e}\
.axis{stroke:#9aa3b2}.s0{fill:#6b93ff;stroke:#6b93ff}.s1{fill:#3cc7b4;stroke:#3cc7b4}\
.s2{fill:#e0a84a;stroke:#e0a84a}.s3{fill:#ff7b72;stroke:#ff7b72}.s4{fill:#b197fc;stroke:#b197fc}\
.s5{fill:#9aa3b2;stroke:#9aa3b2}}";

/// Text and attribute values for XML: the five characters XML gives meaning to are escaped, and
/// characters XML 1.0 forbids are dropped rather than breaking the document.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The catalogue name of a report kind, a column, or a value.
pub fn column_label(locale: Locale, key: &str) -> String {
    let full = format!("reports.col.{key}");
    let t = i18n::text(locale, &full);
    // A column the catalogue does not name yet reads as its key, never as the lookup path.
    if t == full {
        key.replace('_', " ")
    } else {
        t.to_owned()
    }
}

/// A whole number grouped by thousands as the language writes it: 12,480 or 12 480.
pub fn group(locale: Locale, n: i64) -> String {
    let sep = match locale {
        Locale::En => ",",
        Locale::Fr => "\u{202F}",
    };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(ch);
    }
    out
}

/// A number with at most `decimals` decimals (trailing zeros dropped), in the language's style.
fn decimal(locale: Locale, v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let frac = frac.trim_end_matches('0');
    let whole: i64 = int.parse().unwrap_or(0);
    let sign = if v < 0.0 && (whole != 0 || !frac.is_empty()) {
        "-"
    } else {
        ""
    };
    let mark = match locale {
        Locale::En => ".",
        Locale::Fr => ",",
    };
    if frac.is_empty() {
        format!("{sign}{}", group(locale, whole))
    } else {
        format!("{sign}{}{mark}{frac}", group(locale, whole))
    }
}

/// A duration in the units people use: "45 s", "3 min", "2 h 5 min", "3 d 4 h".
pub fn duration(locale: Locale, ms: f64) -> String {
    let neg = ms < 0.0;
    let ms = ms.abs();
    let n = |key: &str, v: f64, decimals: usize| {
        i18n::format(locale, key, &[("n", &decimal(locale, v, decimals))])
    };
    let s = if ms < 1_000.0 && ms > 0.0 {
        n("common.seconds", ms / 1000.0, 1)
    } else if ms < 60_000.0 {
        n("common.seconds", (ms / 1000.0).round(), 0)
    } else if ms < 3_600_000.0 {
        let total_s = (ms / 1000.0).round() as i64;
        let (m, sec) = (total_s / 60, total_s % 60);
        let mut t = n("common.minutes", m as f64, 0);
        if sec > 0 && m < 10 {
            t = format!("{t} {}", n("common.seconds", sec as f64, 0));
        }
        t
    } else if ms < 86_400_000.0 {
        let total_m = (ms / 60_000.0).round() as i64;
        let (h, m) = (total_m / 60, total_m % 60);
        let mut t = n("common.hours", h as f64, 0);
        if m > 0 {
            t = format!("{t} {}", n("common.minutes", m as f64, 0));
        }
        t
    } else {
        let total_h = (ms / 3_600_000.0).round() as i64;
        let (d, h) = (total_h / 24, total_h % 24);
        let mut t = n("reports.days", d as f64, 0);
        if h > 0 {
            t = format!("{t} {}", n("common.hours", h as f64, 0));
        }
        t
    };
    if neg { format!("-{s}") } else { s }
}

/// A share between 0 and 1 as a percentage: "42%" or "42 %".
pub fn percent(locale: Locale, ratio: f64) -> String {
    let p = ratio * 100.0;
    let decimals = if p.abs() < 10.0 && p.fract().abs() > 1e-9 {
        1
    } else {
        0
    };
    i18n::format(
        locale,
        "reports.percent",
        &[("n", &decimal(locale, p, decimals))],
    )
}

/// One value of a column, as the page's table shows it.
pub fn format_value(locale: Locale, kind: ColumnKind, v: f64) -> String {
    match kind {
        ColumnKind::Count => group(locale, v.round() as i64),
        ColumnKind::DurationMs => duration(locale, v),
        ColumnKind::Ratio => percent(locale, v),
        ColumnKind::Number | ColumnKind::Date | ColumnKind::Label => decimal(locale, v, 2),
    }
}

/// A `YYYY-MM-DD` day as a short axis label ("Dec 4", "4 déc."); anything else as it is.
fn short_day(locale: Locale, day: &str) -> String {
    let mut parts = day.splitn(3, '-');
    let (Some(_), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return day.to_owned();
    };
    let (Ok(m), Ok(d)) = (m.parse::<usize>(), d.parse::<u32>()) else {
        return day.to_owned();
    };
    let months = i18n::text(locale, "reports.months");
    let Some(month) = months.split(' ').nth(m.wrapping_sub(1)) else {
        return day.to_owned();
    };
    i18n::format(
        locale,
        "reports.day_format",
        &[("month", month), ("day", &d.to_string())],
    )
}

fn number(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Int(i) => Some(*i as f64),
        Cell::Float(f) if f.is_finite() => Some(*f),
        Cell::Text(t) => t.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn cell_text(locale: Locale, kind: ColumnKind, cell: &Cell) -> String {
    match (kind, cell) {
        (_, Cell::Null) => i18n::text(locale, "reports.none").to_owned(),
        (ColumnKind::Date, Cell::Text(t)) => short_day(locale, t),
        (_, Cell::Text(t)) => t.clone(),
        (k, c) => number(c).map_or_else(String::new, |v| format_value(locale, k, v)),
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

/// Round steps: 1, 2 or 5 times a power of ten, the smallest not below `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Steps a person reads on a time axis: seconds, minutes, hours, then days.
fn duration_step(raw: f64) -> f64 {
    const STEPS: [f64; 19] = [
        1_000.0,
        2_000.0,
        5_000.0,
        10_000.0,
        15_000.0,
        30_000.0,
        60_000.0,
        120_000.0,
        300_000.0,
        600_000.0,
        900_000.0,
        1_800_000.0,
        3_600_000.0,
        7_200_000.0,
        10_800_000.0,
        21_600_000.0,
        43_200_000.0,
        86_400_000.0,
        172_800_000.0,
    ];
    if raw < 1_000.0 {
        return nice_step(raw);
    }
    STEPS
        .iter()
        .copied()
        .find(|s| *s >= raw)
        .unwrap_or_else(|| nice_step(raw / 86_400_000.0) * 86_400_000.0)
}

/// The y axis: its bounds (zero always inside) and ticks about five, in round units of `kind`.
fn ticks(kind: ColumnKind, lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let (lo, hi) = if hi - lo <= f64::EPSILON {
        (
            0.0,
            match kind {
                ColumnKind::Ratio => 1.0,
                ColumnKind::DurationMs => 60_000.0,
                _ => 1.0,
            },
        )
    } else {
        (lo, hi)
    };
    let raw = (hi - lo) / 5.0;
    let step = match kind {
        ColumnKind::DurationMs => duration_step(raw),
        // Whole things are never counted in halves.
        ColumnKind::Count => nice_step(raw).max(1.0),
        _ => nice_step(raw),
    };
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let mut out = Vec::new();
    let mut i = 0.0;
    while start + i * step <= end + step * 1e-9 && out.len() < 50 {
        out.push(start + i * step);
        i += 1.0;
    }
    (start, end, out)
}

/// One series: its column's key, label and values (row order).
struct Series {
    label: String,
    values: Vec<Option<f64>>,
}

/// The chart of `report` in `locale`. A report with nothing to draw (no hint, no rows, no numeric
/// series) still answers an image: its frame with a sentence saying so.
pub fn render(report: &Report, locale: Locale) -> String {
    let title = i18n::text(locale, &format!("reports.kind.{}", report.kind.as_str())).to_owned();
    let mut svg = String::with_capacity(8192);
    let plan = report.chart.as_ref().and_then(|hint| {
        let x_col = report.columns.get(hint.x)?;
        let mut series_cols: Vec<usize> = hint
            .series
            .iter()
            .copied()
            .filter(|i| {
                report
                    .columns
                    .get(*i)
                    .is_some_and(|c| !matches!(c.kind, ColumnKind::Label | ColumnKind::Date))
            })
            .collect();
        // One axis, one unit: series in another unit than the first are left to the table.
        let unit = report.columns.get(*series_cols.first()?)?.kind;
        series_cols.retain(|i| report.columns.get(*i).is_some_and(|c| c.kind == unit));
        if report.rows.is_empty() {
            return None;
        }
        let series: Vec<Series> = series_cols
            .iter()
            .filter_map(|i| {
                let col = report.columns.get(*i)?;
                Some(Series {
                    label: column_label(locale, &col.key),
                    values: report
                        .rows
                        .iter()
                        .map(|r| r.get(*i).and_then(number))
                        .collect(),
                })
            })
            .collect();
        let labels: Vec<String> = report
            .rows
            .iter()
            .map(|r| {
                r.get(hint.x)
                    .map_or_else(String::new, |c| cell_text(locale, x_col.kind, c))
            })
            .collect();
        Some((
            hint.kind,
            unit,
            labels,
            series,
            column_label(locale, &x_col.key),
        ))
    });
    let desc = match &plan {
        None => i18n::text(locale, "reports.chart_empty").to_owned(),
        Some((_, _, labels, series, x_label)) => i18n::format(
            locale,
            "reports.chart_desc",
            &[
                (
                    "series",
                    &series
                        .iter()
                        .map(|s| s.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                ("x", x_label),
                ("n", &group(locale, labels.len() as i64)),
            ],
        ),
    };
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
width=\"{WIDTH}\" height=\"{HEIGHT}\" aria-labelledby=\"chart-title chart-desc\" data-kind=\"{kind}\">\
<title id=\"chart-title\">{t}</title><desc id=\"chart-desc\">{d}</desc><style>{STYLE}</style>\
<text class=\"title\" x=\"0\" y=\"18\">{t}</text>",
        kind = report.kind.as_str(),
        t = escape(&title),
        d = escape(&desc),
    );
    match plan {
        Some((kind, unit, labels, series, _)) if !series.is_empty() => {
            draw(&mut svg, locale, kind, unit, &labels, &series);
        }
        _ => {
            let _ = write!(
                svg,
                "<rect class=\"grid\" fill=\"none\" x=\"0.5\" y=\"{TOP}\" width=\"{w}\" height=\"{h}\" rx=\"6\"/>\
<text class=\"muted empty\" x=\"{cx}\" y=\"{cy}\" text-anchor=\"middle\">{msg}</text>",
                w = WIDTH - 1.0,
                h = HEIGHT - TOP - BOTTOM,
                cx = WIDTH / 2.0,
                cy = TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
                msg = escape(i18n::text(locale, "reports.chart_empty")),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn draw(
    svg: &mut String,
    locale: Locale,
    kind: ChartKind,
    unit: ColumnKind,
    labels: &[String],
    series: &[Series],
) {
    let n = labels.len();
    let stacked = kind == ChartKind::StackedBar && series.len() > 1;
    // The extent of what is drawn: each value, or each row's positive and negative sums.
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for row in 0..n {
        let vals = series
            .iter()
            .filter_map(|s| s.values.get(row).copied().flatten());
        if stacked {
            let (pos, neg) = vals.fold(
                (0.0, 0.0),
                |(p, q), v| {
                    if v >= 0.0 { (p + v, q) } else { (p, q + v) }
                },
            );
            hi = hi.max(pos);
            lo = lo.min(neg);
        } else {
            for v in vals {
                hi = hi.max(v);
                lo = lo.min(v);
            }
        }
    }
    let (y0, y1, ticks) = ticks(unit, lo, hi);
    let tick_labels: Vec<String> = ticks
        .iter()
        .map(|t| format_value(locale, unit, *t))
        .collect();
    let widest = tick_labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1) as f64;
    let left = (widest * CHAR_W + 12.0).max(36.0);
    let plot_w = WIDTH - left - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - (v - y0) / (y1 - y0) * plot_h;
    let band = plot_w / n as f64;

    // Legend: what each colour is, always, so a single series is named too.
    let mut lx = 0.0;
    for (i, s) in series.iter().enumerate() {
        let label = shorten(&s.label, 28);
        let _ = write!(
            svg,
            "<g class=\"legend\"><rect class=\"s{c}\" x=\"{lx}\" y=\"30\" width=\"10\" height=\"10\" rx=\"2\"/>\
<text x=\"{tx}\" y=\"39\">{label}</text></g>",
            c = i % PALETTE,
            tx = lx + 14.0,
            label = escape(&label),
        );
        lx += 14.0 + label.chars().count() as f64 * CHAR_W * 0.9 + 22.0;
    }

    // Grid and y axis.
    for (t, label) in ticks.iter().zip(&tick_labels) {
        let ty = y(*t);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{x2}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\"/>\
<text class=\"muted tick\" x=\"{tx}\" y=\"{ly:.1}\" text-anchor=\"end\">{l}</text>",
            x2 = WIDTH - RIGHT,
            tx = left - 6.0,
            ly = ty + 4.0,
            l = escape(label),
        );
    }
    let zero = y(0.0);
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" x2=\"{x2}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\"/>",
        x2 = WIDTH - RIGHT
    );

    // X labels, thinned so none overlaps the next: every k-th, k from the widest label.
    let shown: Vec<String> = labels.iter().map(|l| shorten(l, MAX_LABEL)).collect();
    let widest_x = shown.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64;
    let every = ((widest_x * CHAR_W + 8.0) / band).ceil().max(1.0) as usize;
    for (i, l) in shown.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let cx = left + band * (i as f64 + 0.5);
        let _ = write!(
            svg,
            "<text class=\"muted xlabel\" x=\"{cx:.1}\" y=\"{ly}\" text-anchor=\"middle\">{l}</text>",
            ly = HEIGHT - BOTTOM + 16.0,
            l = escape(l),
        );
    }

    match kind {
        ChartKind::Line => {
            for (si, s) in series.iter().enumerate() {
                // A missing value breaks the line rather than drawing it through zero.
                let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                for (i, v) in s.values.iter().enumerate() {
                    match v {
                        Some(v) => {
                            if let Some(run) = runs.last_mut() {
                                run.push((left + band * (i as f64 + 0.5), y(*v)));
                            }
                        }
                        None => runs.push(Vec::new()),
                    }
                }
                for run in runs.iter().filter(|r| r.len() > 1) {
                    let points: Vec<String> =
                        run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                    let _ = write!(
                        svg,
                        "<polyline class=\"line s{c}\" fill=\"none\" points=\"{p}\"/>",
                        c = si % PALETTE,
                        p = points.join(" "),
                    );
                }
                let r = if n <= 62 { 3.0 } else { 1.5 };
                for (i, v) in s.values.iter().enumerate() {
                    let Some(v) = v else { continue };
                    let _ = write!(
                        svg,
                        "<circle class=\"point s{c}\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{r}\" data-row=\"{i}\" data-value=\"{v}\">\
<title>{tip}</title></circle>",
                        c = si % PALETTE,
                        cx = left + band * (i as f64 + 0.5),
                        cy = y(*v),
                        tip = escape(&tip(locale, unit, labels.get(i), &s.label, *v)),
                    );
                }
            }
        }
        ChartKind::Bar | ChartKind::StackedBar => {
            let per = if stacked { 1.0 } else { series.len() as f64 };
            // A few rows would make slabs: a bar is at most 56 px wide, centred in its band.
            let inner = (band * 0.8).min(56.0 * per);
            let gap = (band - inner) / 2.0;
            let bar_w = (inner / per).max(1.0);
            for row in 0..n {
                let (mut up, mut down) = (0.0f64, 0.0f64);
                for (si, s) in series.iter().enumerate() {
                    let Some(v) = s.values.get(row).copied().flatten() else {
                        continue;
                    };
                    let (from, to) = if stacked {
                        if v >= 0.0 {
                            up += v;
                            (up - v, up)
                        } else {
                            down += v;
                            (down - v, down)
                        }
                    } else {
                        (0.0, v)
                    };
                    let x = left
                        + band * row as f64
                        + gap
                        + if stacked { 0.0 } else { bar_w * si as f64 };
                    let (ya, yb) = (y(from), y(to));
                    let top = ya.min(yb);
                    // Any value other than zero shows at least a sliver, so 1 never looks like 0.
                    let h = if v == 0.0 {
                        0.0
                    } else {
                        (ya - yb).abs().max(1.0)
                    };
                    let _ = write!(
                        svg,
                        "<rect class=\"bar s{c}\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" data-row=\"{row}\" data-value=\"{v}\">\
<title>{tip}</title></rect>",
                        c = si % PALETTE,
                        w = (bar_w - if bar_w > 3.0 { 1.0 } else { 0.0 }).max(0.5),
                        tip = escape(&tip(locale, unit, labels.get(row), &s.label, v)),
                    );
                }
            }
        }
    }
}

fn tip(locale: Locale, unit: ColumnKind, x: Option<&String>, series: &str, v: f64) -> String {
    format!(
        "{} · {series}: {}",
        x.map_or("", String::as_str),
        format_value(locale, unit, v)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::reports::{ChartHint, Column, ReportFilter, ReportKind};

    fn col(key: &str, kind: ColumnKind) -> Column {
        Column {
            key: key.into(),
            kind,
        }
    }

    fn report(kind: ChartKind, rows: Vec<Vec<Cell>>) -> Report {
        Report {
            kind: ReportKind::Sessions,
            filter: ReportFilter::default(),
            columns: vec![
                col("channel", ColumnKind::Label),
                col("sessions", ColumnKind::Count),
                col("ended", ColumnKind::Count),
            ],
            rows,
            chart: Some(ChartHint {
                kind,
                x: 0,
                series: vec![1, 2],
            }),
        }
    }

    fn row(name: &str, a: i64, b: i64) -> Vec<Cell> {
        vec![Cell::Text(name.into()), Cell::Int(a), Cell::Int(b)]
    }

    /// A small well-formedness check: every tag closes in order, attributes are quoted, and no
    /// raw `<` or unknown entity is left in text.
    fn well_formed(svg: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(at) = rest.find(['<', '&']) {
            let (text, tail) = rest.split_at(at);
            assert!(!text.contains('>'), "raw > in text: {text}");
            if tail.starts_with('&') {
                let end = tail.find(';').expect("entity ends");
                let name = &tail[1..end];
                assert!(
                    ["amp", "lt", "gt", "quot", "#39"].contains(&name),
                    "entity {name}"
                );
                rest = &tail[end + 1..];
                continue;
            }
            let end = tail.find('>').expect("tag ends");
            let tag = &tail[1..end];
            assert!(!tag.contains('<'), "< inside a tag: {tag}");
            // Attribute values are quoted and hold no raw quote or angle bracket.
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "closing {name}");
            } else if !tag.ends_with('/') {
                let name = tag.split([' ', '/']).next().unwrap().to_owned();
                stack.push(name);
            }
            rest = &tail[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(
            !svg.contains("NaN") && !svg.contains("=\"inf") && !svg.contains("=\"-inf"),
            "{svg}"
        );
    }

    #[test]
    fn names_are_escaped() {
        let r = report(
            ChartKind::Bar,
            vec![row("<script>alert(1)</script> & \"Ops\"", 3, 1)],
        );
        let svg = render(&r, Locale::En);
        well_formed(&svg);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("&amp; &quot;Ops&quot;"));
        assert_eq!(
            escape("a\u{1}b<'>&"),
            "ab&lt;&#39;&gt;&amp;",
            "control characters dropped"
        );
    }

    #[test]
    fn an_empty_report_says_so() {
        for r in [
            report(ChartKind::Bar, Vec::new()),
            Report {
                chart: None,
                ..report(ChartKind::Bar, vec![row("SMS", 1, 1)])
            },
            Report {
                columns: Vec::new(),
                ..report(ChartKind::Line, Vec::new())
            },
        ] {
            let svg = render(&r, Locale::En);
            well_formed(&svg);
            assert!(svg.contains("No data for these filters"), "{svg}");
            assert!(!svg.contains("class=\"bar"));
            let fr = render(&r, Locale::Fr);
            assert!(fr.contains("Aucune donnée"), "{fr}");
        }
    }

    #[test]
    fn one_row_draws_one_bar_per_series_and_a_title() {
        let svg = render(&report(ChartKind::Bar, vec![row("SMS", 12, 5)]), Locale::En);
        well_formed(&svg);
        assert_eq!(svg.matches("class=\"bar ").count(), 2);
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"chart-title\">Sessions</title>"));
        assert!(svg.contains(">SMS</text>"));
        assert!(svg.contains("data-value=\"12\""));
        // Round ticks covering the largest value.
        assert!(
            svg.contains(">0</text>") && svg.contains(">15</text>"),
            "{svg}"
        );
    }

    #[test]
    fn many_rows_thin_their_labels() {
        let rows: Vec<Vec<Cell>> = (1..=90)
            .map(|d| {
                vec![
                    Cell::Text(format!(
                        "2026-{:02}-{:02}",
                        1 + (d - 1) / 30,
                        1 + (d - 1) % 28
                    )),
                    Cell::Int(d),
                    Cell::Int(d / 2),
                ]
            })
            .collect();
        let mut r = report(ChartKind::StackedBar, rows);
        r.columns[0] = col("day", ColumnKind::Date);
        let svg = render(&r, Locale::En);
        well_formed(&svg);
        assert_eq!(svg.matches("class=\"bar ").count(), 180);
        let labels = svg.matches("class=\"muted xlabel\"").count();
        assert!(labels > 3 && labels < 30, "{labels} labels for 90 days");
        assert!(svg.contains(">Jan 1</text>"), "{svg}");
        let fr = render(&r, Locale::Fr);
        assert!(fr.contains(">1 janv.</text>"), "{fr}");
        // Stacked: the axis reaches the largest sum (90 + 45), not the largest value.
        assert!(
            svg.contains(">140</text>") || svg.contains(">150</text>"),
            "{svg}"
        );
    }

    #[test]
    fn zero_and_negative_values_keep_zero_on_the_axis() {
        let svg = render(
            &report(ChartKind::Bar, vec![row("A", 0, 0), row("B", 0, 0)]),
            Locale::En,
        );
        well_formed(&svg);
        assert!(svg.contains("height=\"0.0\""));
        let svg = render(
            &report(ChartKind::Bar, vec![row("A", -30, 10), row("B", 20, -5)]),
            Locale::En,
        );
        well_formed(&svg);
        assert!(
            svg.contains(">-30</text>") || svg.contains(">-40</text>"),
            "{svg}"
        );
        assert!(svg.contains(">20</text>"), "{svg}");
        let line = render(
            &report(ChartKind::Line, vec![row("A", -3, 1), row("B", 2, 0)]),
            Locale::En,
        );
        well_formed(&line);
        assert_eq!(line.matches("<polyline").count(), 2);
    }

    #[test]
    fn a_gap_breaks_a_line() {
        let rows = vec![
            row("a", 1, 1),
            vec![Cell::Text("b".into()), Cell::Null, Cell::Int(2)],
            row("c", 3, 3),
            row("d", 4, 4),
        ];
        let svg = render(&report(ChartKind::Line, rows), Locale::En);
        well_formed(&svg);
        // The first series is a lone point, then a run of two; the second one line of four.
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 7);
    }

    #[test]
    fn durations_and_ratios_read_in_their_units() {
        assert_eq!(duration(Locale::En, 45_000.0), "45 s");
        assert_eq!(duration(Locale::En, 90_000.0), "1 min 30 s");
        assert_eq!(duration(Locale::En, 15.0 * 60_000.0), "15 min");
        assert_eq!(
            duration(Locale::En, 2.0 * 3_600_000.0 + 300_000.0),
            "2 h 5 min"
        );
        assert_eq!(duration(Locale::En, 0.0), "0 s");
        assert_eq!(duration(Locale::En, 500.0), "0.5 s");
        assert_eq!(duration(Locale::Fr, 500.0), "0,5 s");
        assert_eq!(duration(Locale::Fr, 3.0 * 86_400_000.0), "3 j");
        assert_eq!(percent(Locale::En, 0.42), "42%");
        assert_eq!(percent(Locale::Fr, 0.42), "42\u{a0}%");
        assert_eq!(percent(Locale::En, 0.051), "5.1%");
        assert_eq!(group(Locale::En, 1_234_567), "1,234,567");
        assert_eq!(group(Locale::Fr, -12_480), "-12\u{202F}480");

        let r = Report {
            kind: ReportKind::SessionTimes,
            filter: ReportFilter::default(),
            columns: vec![
                col("queue", ColumnKind::Label),
                col("wait_p50_ms", ColumnKind::DurationMs),
                col("wait_p90_ms", ColumnKind::DurationMs),
                col("messages_p50", ColumnKind::Number),
            ],
            rows: vec![vec![
                Cell::Text("Support".into()),
                Cell::Int(40_000),
                Cell::Float(250_000.0),
                Cell::Float(4.5),
            ]],
            chart: Some(ChartHint {
                kind: ChartKind::Bar,
                x: 0,
                series: vec![1, 2, 3],
            }),
        };
        let svg = render(&r, Locale::En);
        well_formed(&svg);
        // Ticks on whole minutes; the figure in another unit is left to the table.
        assert!(svg.contains(">5 min</text>"), "{svg}");
        assert_eq!(svg.matches("class=\"bar ").count(), 2);
        let ratios = Report {
            columns: vec![
                col("bot", ColumnKind::Label),
                col("containment", ColumnKind::Ratio),
                col("handoff_rate", ColumnKind::Ratio),
            ],
            rows: vec![vec![
                Cell::Text("Triage".into()),
                Cell::Float(0.7),
                Cell::Float(0.3),
            ]],
            chart: Some(ChartHint {
                kind: ChartKind::StackedBar,
                x: 0,
                series: vec![1, 2],
            }),
            ..r
        };
        let svg = render(&ratios, Locale::En);
        well_formed(&svg);
        assert!(svg.contains(">100%</text>"), "{svg}");
    }

    #[test]
    fn nice_steps_are_round() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(1.5), 2.0);
        assert_eq!(nice_step(230.0), 500.0);
        let (lo, hi, t) = ticks(ColumnKind::Count, 0.0, 3.0);
        assert_eq!((lo, hi), (0.0, 3.0));
        assert_eq!(t, vec![0.0, 1.0, 2.0, 3.0]);
        let (_, _, t) = ticks(ColumnKind::DurationMs, 0.0, 7.0 * 60_000.0);
        assert!(t.iter().all(|v| v % 60_000.0 == 0.0), "{t:?}");
    }
}
