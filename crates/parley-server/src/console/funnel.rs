//! A campaign's funnel as a server-rendered SVG (issue 11, item 6): one horizontal bar per step,
//! each with its count and its rate written beside it, so the chart reads without colour (and in
//! a screen reader, through its `<title>` and `<desc>`). No script, no external reference: the
//! image is safe to open on its own and to put in an `<img>`.

use std::fmt::Write as _;

use parley_engine::service::campaigns::CampaignResults;

const WIDTH: u32 = 720;
const LABEL_W: u32 = 170;
const BAR_MAX: u32 = 360;
const ROW_H: u32 = 30;
const BAR_H: u32 = 18;
const TOP: u32 = 40;

/// One bar: its label, its count, and what the count is a share of.
struct Step {
    label: &'static str,
    count: u64,
    /// "of the audience", "of sent", ...: the rate's denominator in words, and its value.
    of: Option<(&'static str, u64)>,
    /// Drawn hatched: the bar counts people lost, not reached.
    loss: bool,
}

fn steps(r: &CampaignResults) -> Vec<Step> {
    let c = &r.counts;
    let sent = c.sent;
    // Clicks and replies are shares of what arrived when the channel reports deliveries.
    let reached = if c.delivered > 0 { c.delivered } else { sent };
    let reached_label = if c.delivered > 0 {
        "of delivered"
    } else {
        "of sent"
    };
    vec![
        Step {
            label: "Audience",
            count: c.audience,
            of: None,
            loss: false,
        },
        Step {
            label: "Excluded",
            count: c.excluded_total(),
            of: Some(("of the audience", c.audience)),
            loss: true,
        },
        Step {
            label: "Queued",
            count: c.queued,
            of: Some(("of the audience", c.audience)),
            loss: false,
        },
        Step {
            label: "Sent",
            count: sent,
            of: Some(("of queued", c.queued)),
            loss: false,
        },
        Step {
            label: "Delivered",
            count: c.delivered,
            of: Some(("of sent", sent)),
            loss: false,
        },
        Step {
            label: "Clicked (unique)",
            count: c.clicks_unique,
            of: Some((reached_label, reached)),
            loss: false,
        },
        Step {
            label: "Replied",
            count: c.replied,
            of: Some((reached_label, reached)),
            loss: false,
        },
        Step {
            label: "HELP hand-offs",
            count: c.help_handoffs,
            of: Some((reached_label, reached)),
            loss: false,
        },
        Step {
            label: "Opt-outs",
            count: c.opt_outs,
            of: Some(("of sent", sent)),
            loss: true,
        },
        Step {
            label: "Failed",
            count: c.failed_total(),
            of: Some(("of queued", c.queued)),
            loss: true,
        },
    ]
}

/// Text for SVG: the five characters XML gives meaning to, escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Characters XML 1.0 forbids are dropped rather than breaking the document.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// 12480 -> "12,480".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn percent(count: u64, of: u64) -> Option<String> {
    if of == 0 {
        return None;
    }
    let p = count as f64 * 100.0 / of as f64;
    Some(if p > 0.0 && p < 0.1 {
        "<0.1%".to_owned()
    } else {
        format!("{p:.1}%")
    })
}

/// The chart for `r`.
pub fn render(r: &CampaignResults) -> String {
    let steps = steps(r);
    let max = steps.iter().map(|s| s.count).max().unwrap_or(0).max(1);
    let height = TOP + ROW_H * steps.len() as u32 + 12;
    let name = escape(&r.name);
    let mut desc = String::new();
    let mut rows = String::new();
    for (i, s) in steps.iter().enumerate() {
        let y = TOP + ROW_H * i as u32;
        let w = if s.count == 0 {
            0
        } else {
            // Any non-zero count shows at least a sliver, so "1" never looks like "0".
            ((s.count as f64 / max as f64) * f64::from(BAR_MAX))
                .round()
                .max(2.0) as u32
        };
        let rate =
            s.of.and_then(|(words, of)| percent(s.count, of).map(|p| format!("{p} {words}")));
        let figure = match &rate {
            Some(rate) => format!("{} ({rate})", thousands(s.count)),
            None => thousands(s.count),
        };
        let _ = write!(desc, "{}: {}. ", s.label, escape(&figure));
        let fill = if s.loss { "url(#loss)" } else { "#3b6fb6" };
        let _ = write!(
            rows,
            "<g class=\"step\" data-step=\"{key}\">\
<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
<rect x=\"{bx}\" y=\"{y}\" width=\"{BAR_MAX}\" height=\"{BAR_H}\" fill=\"#eef1f5\"/>\
<rect x=\"{bx}\" y=\"{y}\" width=\"{w}\" height=\"{BAR_H}\" fill=\"{fill}\" stroke=\"#1f3f6e\" stroke-width=\"{sw}\"/>\
<text x=\"{vx}\" y=\"{ty}\" class=\"value\">{figure}</text></g>",
            key = s
                .label
                .to_ascii_lowercase()
                .replace([' ', '(', ')', '-'], ""),
            lx = LABEL_W - 10,
            ty = y + BAR_H - 4,
            label = s.label,
            bx = LABEL_W,
            sw = if w == 0 { 0 } else { 1 },
            vx = LABEL_W + BAR_MAX + 10,
            figure = escape(&figure),
        );
    }
    let mut svg = String::with_capacity(4096);
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 {WIDTH} {height}\" \
width=\"{WIDTH}\" height=\"{height}\" aria-labelledby=\"funnel-title funnel-desc\" \
font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\" font-size=\"13\" fill=\"#1d2430\">\
<title id=\"funnel-title\">Results of {name}</title><desc id=\"funnel-desc\">{desc}</desc>\
<defs><pattern id=\"loss\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
<rect width=\"6\" height=\"6\" fill=\"#f3d9d6\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#a0362b\" stroke-width=\"2\"/>\
</pattern></defs>\
<text x=\"0\" y=\"18\" font-size=\"15\" font-weight=\"600\">{name}</text>\
<text x=\"{WIDTH}\" y=\"18\" text-anchor=\"end\" fill=\"#5b6576\">{state}</text>{rows}</svg>",
        state = escape(&r.state),
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::campaign::results::{Counts, Rates};

    fn results(name: &str, counts: Counts) -> CampaignResults {
        CampaignResults {
            id: uuid::Uuid::nil(),
            name: name.into(),
            state: "completed".into(),
            counts,
            rates: Rates::default(),
        }
    }

    #[test]
    fn every_step_has_its_count_and_rate_in_words() {
        let mut counts = Counts {
            audience: 12_480,
            queued: 11_902,
            sent: 11_900,
            delivered: 11_000,
            clicks_unique: 1_100,
            replied: 55,
            help_handoffs: 5,
            opt_outs: 12,
            ..Counts::default()
        };
        counts.excluded.insert("opted_out".into(), 578);
        counts.failed.insert("30003".into(), 2);
        let svg = render(&results("Winter sale", counts));
        for label in [
            "Audience",
            "Excluded",
            "Queued",
            "Sent",
            "Delivered",
            "Clicked (unique)",
            "Replied",
            "HELP hand-offs",
            "Opt-outs",
            "Failed",
        ] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
        assert!(svg.contains(">12,480</text>"));
        assert!(svg.contains("578 (4.6% of the audience)"));
        assert!(svg.contains("1,100 (10.0% of delivered)"));
        assert!(svg.contains("2 (&lt;0.1% of queued)"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn names_are_escaped_and_empty_results_draw() {
        let svg = render(&results(
            "<script>alert(1)</script> & \"x\"",
            Counts::default(),
        ));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
        assert!(!svg.contains("NaN"));
        assert!(svg.contains(">0</text>"));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
