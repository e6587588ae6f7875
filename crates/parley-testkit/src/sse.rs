//! Server-sent events as the tests read them.

/// One event of a stream: its `id:` (if any), `event:` (empty for the default) and `data:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Takes every complete event (up to a blank line) off the front of `buf`, leaving a partial one
/// for the next chunk. Comments (keep-alives) give events with no id, event or data.
pub fn take_events(buf: &mut String) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let mut e = SseEvent {
            id: None,
            event: String::new(),
            data: String::new(),
        };
        for line in block.lines() {
            // `field: value`, the one space after the colon optional (as the SSE format says).
            let Some((field, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => e.id = Some(value.to_owned()),
                "event" => e.event = value.to_owned(),
                "data" => e.data.push_str(value),
                _ => {}
            }
        }
        out.push(e);
    }
    out
}
