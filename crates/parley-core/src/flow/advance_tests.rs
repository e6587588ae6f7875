//! Tests of [`advance`]: each step kind, the events a run waits for and ignores, the limits, the
//! example flow of the definition's docs, and properties over generated flows.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::Timestamp;
use crate::component::{Component, ComponentOption};
use crate::model::{ChannelKind, SessionContext};

const NOW: Timestamp = Timestamp::from_millis(1_763_719_200_000);

fn flow(steps: serde_json::Value) -> FlowDefinition {
    serde_json::from_value(json!({"name": "t", "steps": steps})).unwrap()
}

fn facts() -> Facts {
    Facts {
        fields: [
            ("contact.first_name", "Zoë"),
            ("contact.last_name", "Öztürk"),
            ("contact.name", "Zoë Öztürk"),
            ("channel.name", "Support"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        channel_kind: ChannelKind::Whatsapp,
        business_hours_open: true,
        language: Some("fr-CA".into()),
        context: SessionContext::Service,
        country: Some("44".into()),
        now: NOW,
    }
}

fn start(f: &FlowDefinition) -> Advanced {
    start_with(f, BTreeMap::new(), &facts())
}

fn start_with(f: &FlowDefinition, fields: BTreeMap<String, String>, facts: &Facts) -> Advanced {
    advance(f, RunState::start(f, fields), FlowEvent::Start, facts)
}

fn reply(f: &FlowDefinition, state: RunState, text: &str) -> Advanced {
    advance(
        f,
        state,
        FlowEvent::Reply(Reply {
            text: text.into(),
            choice: None,
        }),
        &facts(),
    )
}

fn texts(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(OutMessage::Text(t)) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn ended(how: RunEnd) -> RunStatus {
    RunStatus::Ended { how }
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn menu() -> FlowDefinition {
    flow(json!([
        {"id": "menu", "type": "ask", "save_as": "choice",
         "message": {"component": {"type": "question", "text": "Hi {{contact.first_name}}, what do you need?",
            "options": [{"id": "track", "title": "Track my order"}, {"id": "return", "title": "Return an item"}]}},
         "invalid": {"text": "Please answer 1 or 2."},
         "cases": [
            {"when": {"type": "option", "option": "track"}, "next": "tracking"},
            {"when": {"type": "option", "option": "return"}, "next": "returns"},
         ],
         "other": "agent",
         "timeout": {"after_seconds": 600, "next": "bye"}},
        {"id": "tracking", "type": "end", "message": {"text": "Tracking: {{flow.choice}}"}},
        {"id": "returns", "type": "end", "message": {"text": "Returns: {{flow.choice}}"}},
        {"id": "agent", "type": "handoff", "queue": "support"},
        {"id": "bye", "type": "end", "message": {"text": "Bye"}, "end_session": true},
    ]))
}

#[test]
fn send_steps_run_in_order_with_merge_fields_and_the_flow_completes_after_the_last() {
    let f = flow(json!([
        {"id": "a", "type": "send", "message": {"text": "Hi {{contact.first_name}} on {{channel.name}}"}},
        {"id": "b", "type": "send", "message": {"text": "Ref {{flow.ref}}{{flow.missing}}"}},
    ]));
    let out = start_with(&f, fields(&[("ref", "R1")]), &facts());
    assert_eq!(texts(&out.actions), vec!["Hi Zoë on Support", "Ref R1"]);
    assert_eq!(out.state.status, ended(RunEnd::Completed));
    assert_eq!(out.state.step, "b");
}

#[test]
fn send_follows_its_next_and_templates_render_their_parameters() {
    let f = flow(json!([
        {"id": "a", "type": "send", "next": "c",
         "message": {"template": {"name": "order_update", "language": "en", "parameters": ["{{contact.first_name}}"]}}},
        {"id": "b", "type": "send", "message": {"text": "skipped"}},
        {"id": "c", "type": "end"},
    ]));
    let out = start(&f);
    assert_eq!(
        out.actions,
        vec![Action::Send(OutMessage::Template(TemplateRef {
            name: "order_update".into(),
            language: "en".into(),
            parameters: vec!["Zoë".into()],
        }))]
    );
    assert_eq!(out.state.status, ended(RunEnd::Completed));
}

#[test]
fn ask_sends_its_question_remembers_the_options_and_waits_until_the_timeout() {
    let f = menu();
    let out = start(&f);
    assert_eq!(out.state.step, "menu");
    assert_eq!(
        out.state.status,
        RunStatus::WaitingReply {
            timeout_at: Some(Timestamp::from_millis(NOW.millis() + 600_000))
        }
    );
    assert_eq!(
        out.state.options,
        vec![
            ChoiceOption {
                id: "track".into(),
                title: "Track my order".into()
            },
            ChoiceOption {
                id: "return".into(),
                title: "Return an item".into()
            },
        ]
    );
    let [Action::Send(OutMessage::Component(Component::Question { text, .. }))] = &out.actions[..]
    else {
        panic!("{:?}", out.actions)
    };
    assert_eq!(text, "Hi Zoë, what do you need?");
}

#[test]
fn a_reply_of_2_picks_option_2_and_saves_its_id() {
    let f = menu();
    let waiting = start(&f).state;
    let out = reply(&f, waiting, " 2 ");
    assert_eq!(
        out.state.fields.get("choice").map(String::as_str),
        Some("return")
    );
    assert_eq!(texts(&out.actions), vec!["Returns: return"]);
    assert_eq!(out.state.status, ended(RunEnd::Completed));
    assert_eq!(out.state.step, "returns");
}

#[test]
fn a_tapped_option_or_its_title_is_understood_too() {
    let f = menu();
    let waiting = start(&f).state;
    let tapped = advance(
        &f,
        waiting.clone(),
        FlowEvent::Reply(Reply {
            text: "Track my order".into(),
            choice: Some("track".into()),
        }),
        &facts(),
    );
    assert_eq!(texts(&tapped.actions), vec!["Tracking: track"]);
    let written = reply(&f, waiting, "track MY order!");
    assert_eq!(texts(&written.actions), vec!["Tracking: track"]);
}

#[test]
fn an_invalid_reply_says_so_and_keeps_waiting_with_the_same_deadline() {
    let f = menu();
    let waiting = start(&f).state;
    let once = reply(&f, waiting.clone(), "maybe");
    assert_eq!(texts(&once.actions), vec!["Please answer 1 or 2."]);
    assert_eq!(once.state.invalid, 1);
    assert_eq!(once.state.status, waiting.status);
    assert_eq!(once.state.step, "menu");
    let twice = reply(&f, once.state, "3");
    assert_eq!(twice.state.invalid, 2);
    // The third invalid reply reaches max_invalid (3): `other` runs.
    let third = reply(&f, twice.state, "no");
    assert_eq!(third.state.status, ended(RunEnd::HandedOff));
    assert_eq!(third.state.invalid, 0);
    assert!(matches!(
        &third.actions[..],
        [Action::Handoff(HandoffTarget { queue: Some(q), .. })] if q == "support"
    ));
}

#[test]
fn without_an_invalid_message_the_question_is_asked_again_and_without_other_the_run_fails() {
    let mut f = menu();
    f.max_invalid = 2;
    if let StepAction::Ask { invalid, other, .. } = &mut f.steps[0].action {
        *invalid = None;
        *other = None;
    }
    let waiting = start(&f).state;
    let once = reply(&f, waiting, "?");
    assert!(matches!(
        &once.actions[..],
        [Action::Send(OutMessage::Component(
            Component::Question { .. }
        ))]
    ));
    let twice = reply(&f, once.state, "?");
    assert!(twice.actions.is_empty());
    assert_eq!(twice.state.status, ended(RunEnd::Failed));
}

#[test]
fn a_valid_reply_resets_the_invalid_count() {
    let f = flow(json!([
        {"id": "q", "type": "ask", "save_as": "n",
         "cases": [{"when": {"type": "number"}, "next": "q"}]},
    ]));
    let waiting = start(&f).state;
    let bad = reply(&f, waiting, "x");
    assert_eq!(bad.state.invalid, 1);
    // The case goes back to the same ask: it waits again, with a fresh count.
    let good = reply(&f, bad.state, "1,5");
    assert_eq!(good.state.invalid, 0);
    assert_eq!(good.state.fields.get("n").map(String::as_str), Some("1.5"));
    assert!(matches!(good.state.status, RunStatus::WaitingReply { .. }));
}

#[test]
fn a_due_timeout_takes_the_timeout_branch_and_an_early_one_changes_nothing() {
    let f = menu();
    let waiting = start(&f).state;
    let mut early = facts();
    early.now = Timestamp::from_millis(NOW.millis() + 599_999);
    let too_soon = advance(&f, waiting.clone(), FlowEvent::Timeout, &early);
    assert_eq!(too_soon.state, waiting);
    assert!(too_soon.actions.is_empty());
    let mut due = facts();
    due.now = Timestamp::from_millis(NOW.millis() + 600_000);
    let out = advance(&f, waiting, FlowEvent::Timeout, &due);
    assert_eq!(texts(&out.actions), vec!["Bye"]);
    assert_eq!(out.actions.last(), Some(&Action::EndSession));
    assert_eq!(out.state.status, ended(RunEnd::Completed));
}

#[test]
fn an_ask_without_timeout_ignores_timeouts_and_without_message_keeps_the_options() {
    let f = flow(json!([
        {"id": "q", "type": "send", "message": {"component": {"type": "question", "text": "Pick",
            "options": [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]}}},
        {"id": "w", "type": "ask", "save_as": "pick",
         "cases": [{"when": {"type": "option", "option": "b"}, "next": "done"}]},
        {"id": "done", "type": "end"},
    ]));
    let waiting = start(&f);
    assert_eq!(
        waiting.state.status,
        RunStatus::WaitingReply { timeout_at: None }
    );
    assert_eq!(waiting.state.options.len(), 2);
    let mut late = facts();
    late.now = Timestamp::from_millis(i64::MAX);
    let ignored = advance(&f, waiting.state.clone(), FlowEvent::Timeout, &late);
    assert_eq!(ignored.state, waiting.state);
    let out = reply(&f, waiting.state, "2");
    assert_eq!(out.state.fields.get("pick").map(String::as_str), Some("b"));
}

#[test]
fn an_ask_with_a_plain_text_question_forgets_earlier_options() {
    let f = flow(json!([
        {"id": "q", "type": "ask", "message": {"component": {"type": "question", "text": "Pick",
            "options": [{"id": "a", "title": "A"}]}},
         "cases": [{"when": {"type": "any"}, "next": "t"}]},
        {"id": "t", "type": "ask", "message": {"text": "And your name?"},
         "cases": [{"when": {"type": "option", "option": "a"}, "next": "t"}]},
    ]));
    let first = start(&f).state;
    assert_eq!(first.options.len(), 1);
    let second = reply(&f, first, "whatever").state;
    assert!(second.options.is_empty());
    assert_eq!(reply(&f, second, "1").state.invalid, 1);
}

#[test]
fn set_writes_flow_fields_and_other_scopes_through_actions_seen_by_later_steps() {
    let f = flow(json!([
        {"id": "a", "type": "set", "field": {"scope": "flow", "name": "greeting"}, "value": "Hello {{contact.first_name}}"},
        {"id": "b", "type": "set", "field": {"scope": "contact", "name": "first_name"}, "value": "Zed"},
        {"id": "c", "type": "send", "message": {"text": "{{flow.greeting}} / {{contact.first_name}} / {{contact.name}}"}},
    ]));
    let out = start(&f);
    assert_eq!(
        out.state.fields.get("greeting").map(String::as_str),
        Some("Hello Zoë")
    );
    assert_eq!(
        out.actions,
        vec![
            Action::SetField {
                scope: FieldScope::Contact,
                name: "first_name".into(),
                value: "Zed".into()
            },
            Action::Send(OutMessage::Text("Hello Zoë / Zed / Zed Öztürk".into())),
        ]
    );
}

fn branch_to(condition: serde_json::Value) -> String {
    let f = flow(json!([
        {"id": "b", "type": "branch", "cases": [{"when": condition, "next": "yes"}], "otherwise": "no"},
        {"id": "yes", "type": "end"},
        {"id": "no", "type": "end"},
    ]));
    start_with(
        &f,
        fields(&[("total", "12,5"), ("webhook.status", "Shipped")]),
        &facts(),
    )
    .state
    .step
}

#[test]
fn branch_conditions() {
    let cases = [
        (
            json!({"type": "field", "field": "contact.first_name", "op": "eq", "value": "ZOE"}),
            "yes",
        ),
        (
            json!({"type": "field", "field": "contact.first_name", "op": "ne", "value": "zoe"}),
            "no",
        ),
        (
            json!({"type": "field", "field": "webhook.status", "op": "contains", "value": "ship"}),
            "yes",
        ),
        (
            json!({"type": "field", "field": "flow.total", "op": "gt", "value": "12"}),
            "yes",
        ),
        (
            json!({"type": "field", "field": "flow.total", "op": "lt", "value": "12"}),
            "no",
        ),
        (
            json!({"type": "field", "field": "contact.first_name", "op": "gt", "value": "1"}),
            "no",
        ),
        (
            json!({"type": "field", "field": "flow.total", "op": "eq", "value": "{{flow.total}}"}),
            "yes",
        ),
        (
            json!({"type": "field", "field": "contact.email", "op": "absent"}),
            "yes",
        ),
        (
            json!({"type": "field", "field": "contact.email", "op": "present"}),
            "no",
        ),
        (json!({"type": "business_hours"}), "yes"),
        (json!({"type": "business_hours", "open": false}), "no"),
        (json!({"type": "channel", "kind": "whatsapp"}), "yes"),
        (json!({"type": "channel", "kind": "sms"}), "no"),
        (json!({"type": "language", "language": "FR"}), "yes"),
        (json!({"type": "language", "language": "fr_ca"}), "yes"),
        (json!({"type": "language", "language": "fr-FR"}), "no"),
        (json!({"type": "language", "language": "en"}), "no"),
        (json!({"type": "context", "context": "service"}), "yes"),
        (json!({"type": "context", "context": "marketing"}), "no"),
        (
            json!({"type": "all", "conditions": [{"type": "business_hours"}, {"type": "channel", "kind": "sms"}]}),
            "no",
        ),
        (
            json!({"type": "any_of", "conditions": [{"type": "business_hours", "open": false}, {"type": "channel", "kind": "whatsapp"}]}),
            "yes",
        ),
    ];
    for (condition, expected) in cases {
        assert_eq!(branch_to(condition.clone()), expected, "{condition}");
    }
}

#[test]
fn a_branch_without_a_match_or_otherwise_goes_on_to_the_next_step() {
    let f = flow(json!([
        {"id": "b", "type": "branch", "cases": [{"when": {"type": "channel", "kind": "sms"}, "next": "x"}]},
        {"id": "c", "type": "send", "message": {"text": "next one"}},
        {"id": "x", "type": "end"},
    ]));
    let out = start(&f);
    assert_eq!(texts(&out.actions), vec!["next one"]);
    assert_eq!(out.state.step, "x");
}

fn webhook_flow() -> FlowDefinition {
    flow(json!([
        {"id": "ask", "type": "ask", "save_as": "order_number",
         "cases": [{"when": {"type": "regex", "pattern": "^[0-9]{6}$"}, "next": "lookup"}]},
        {"id": "lookup", "type": "webhook", "url": "https://api.example/orders/{{flow.order_number}}?who={{contact.first_name}}",
         "body": {"order": "{{flow.order_number}}", "n": 1}, "save_as": "order", "next": "said", "on_error": "sorry",
         "timeout_ms": 2000, "retries": 1},
        {"id": "said", "type": "end", "message": {"text": "Order {{webhook.status}} / {{flow.order.items.0.name}}"}},
        {"id": "sorry", "type": "end", "message": {"text": "Sorry ({{webhook.status}}: {{webhook.error}})"}},
    ]))
}

#[test]
fn webhook_is_called_with_rendered_url_and_body_and_waits() {
    let f = webhook_flow();
    let waiting = start(&f).state;
    let out = reply(&f, waiting, "123456");
    assert_eq!(out.state.status, RunStatus::WaitingWebhook);
    assert_eq!(out.state.step, "lookup");
    assert_eq!(
        out.actions,
        vec![Action::CallWebhook(WebhookCall {
            url: "https://api.example/orders/123456?who=Zo%C3%AB".into(),
            method: WebhookMethod::Post,
            body: Some(json!({"order": "123456", "n": 1})),
            timeout_ms: 2000,
            retries: 1,
        })]
    );
}

#[test]
fn a_webhook_answer_is_flattened_replacing_the_previous_one_and_mirrored_under_save_as() {
    let f = webhook_flow();
    let mut state = reply(&f, start(&f).state, "123456").state;
    state.fields.insert("webhook.stale".into(), "old".into());
    state.fields.insert("order.stale".into(), "old".into());
    state.fields.insert("kept".into(), "yes".into());
    let body = json!({
        "status": "shipped",
        "total": 12.5,
        "paid": true,
        "note": null,
        "items": [{"name": "Shoes", "qty": 2}],
        "a": {"b": {"c": {"d": "deep", "e": {"f": 1}}}},
    });
    let out = advance(
        &f,
        state,
        FlowEvent::Webhook(WebhookResult::Success {
            status: 200,
            body: Some(body),
        }),
        &facts(),
    );
    assert_eq!(texts(&out.actions), vec!["Order shipped / Shoes"]);
    let got = &out.state.fields;
    for (k, v) in [
        ("webhook.status", "shipped"),
        ("webhook.total", "12.5"),
        ("webhook.paid", "true"),
        ("webhook.note", ""),
        ("webhook.items.0.name", "Shoes"),
        ("webhook.items.0.qty", "2"),
        ("webhook.a.b.c.d", "deep"),
        ("webhook.a.b.c.e", r#"{"f":1}"#),
        ("order.status", "shipped"),
        ("order.items.0.name", "Shoes"),
        ("order_number", "123456"),
        ("kept", "yes"),
    ] {
        assert_eq!(got.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert!(!got.contains_key("webhook.stale"));
    assert!(!got.contains_key("order.stale"));
}

#[test]
fn a_webhook_answer_is_capped_and_a_non_object_body_is_kept_whole() {
    let f = flow(json!([{"id": "w", "type": "webhook", "url": "http://h.example/"}]));
    let waiting = start(&f).state;
    let big: serde_json::Map<String, serde_json::Value> =
        (0..500).map(|i| (format!("k{i:03}"), json!(i))).collect();
    let out = advance(
        &f,
        waiting.clone(),
        FlowEvent::Webhook(WebhookResult::Success {
            status: 200,
            body: Some(serde_json::Value::Object(big)),
        }),
        &facts(),
    );
    assert_eq!(out.state.fields.len(), WEBHOOK_MAX_FIELDS);
    assert_eq!(out.state.status, ended(RunEnd::Completed));
    let list = advance(
        &f,
        waiting.clone(),
        FlowEvent::Webhook(WebhookResult::Success {
            status: 200,
            body: Some(json!([1, "a"])),
        }),
        &facts(),
    );
    assert_eq!(
        list.state.fields.get("webhook.body").map(String::as_str),
        Some(r#"[1,"a"]"#)
    );
    let text = advance(
        &f,
        waiting,
        FlowEvent::Webhook(WebhookResult::Success {
            status: 204,
            body: Some(json!("fine")),
        }),
        &facts(),
    );
    assert_eq!(
        text.state.fields.get("webhook.body").map(String::as_str),
        Some("fine")
    );
}

#[test]
fn a_webhook_failure_goes_to_on_error_with_the_error_or_fails_the_run() {
    let f = webhook_flow();
    let waiting = reply(&f, start(&f).state, "123456").state;
    let out = advance(
        &f,
        waiting,
        FlowEvent::Webhook(WebhookResult::Failure {
            status: Some(503),
            error: "unavailable".into(),
        }),
        &facts(),
    );
    assert_eq!(texts(&out.actions), vec!["Sorry (503: unavailable)"]);
    let bare = flow(
        json!([{"id": "w", "type": "webhook", "url": "http://h.example/"}, {"id": "e", "type": "end"}]),
    );
    let out = advance(
        &bare,
        start(&bare).state,
        FlowEvent::Webhook(WebhookResult::Failure {
            status: None,
            error: "refused".into(),
        }),
        &facts(),
    );
    assert_eq!(out.state.status, ended(RunEnd::Failed));
    assert_eq!(
        out.state.fields.get("webhook.error").map(String::as_str),
        Some("refused")
    );
    assert!(!out.state.fields.contains_key("webhook.status"));
}

#[test]
fn handoff_sends_its_message_and_hands_over_the_flow_fields_without_the_webhook_answer() {
    let f = flow(json!([
        {"id": "h", "type": "handoff", "skills": ["billing"], "agent": "ann@example.com",
         "message": {"text": "An agent will help you, {{contact.first_name}}."}},
        {"id": "never", "type": "send", "message": {"text": "not sent"}},
    ]));
    let out = start_with(
        &f,
        fields(&[
            ("order_number", "1"),
            ("order.status", "x"),
            ("webhook.status", "x"),
        ]),
        &facts(),
    );
    assert_eq!(
        out.actions,
        vec![
            Action::Send(OutMessage::Text("An agent will help you, Zoë.".into())),
            Action::Handoff(HandoffTarget {
                queue: None,
                skills: vec!["billing".into()],
                agent: Some("ann@example.com".into()),
                collected: fields(&[("order_number", "1"), ("order.status", "x")]),
            }),
        ]
    );
    assert_eq!(out.state.status, ended(RunEnd::HandedOff));
}

#[test]
fn start_flow_passes_every_field_on_and_ends_as_continued() {
    let f = flow(json!([{"id": "s", "type": "start_flow", "flow": "returns"}]));
    let seeded = fields(&[("a", "1"), ("webhook.x", "2")]);
    let out = start_with(&f, seeded.clone(), &facts());
    assert_eq!(
        out.actions,
        vec![Action::StartFlow {
            flow: "returns".into(),
            fields: seeded
        }]
    );
    assert_eq!(out.state.status, ended(RunEnd::Continued));
}

#[test]
fn end_sends_its_message_and_ends_the_session_when_asked() {
    let f = flow(json!([
        {"id": "e", "type": "end", "message": {"text": "Bye"}, "end_session": true},
        {"id": "x", "type": "send", "message": {"text": "not sent"}},
    ]));
    let out = start(&f);
    assert_eq!(
        out.actions,
        vec![
            Action::Send(OutMessage::Text("Bye".into())),
            Action::EndSession
        ]
    );
    assert_eq!(out.state.status, ended(RunEnd::Completed));
    let quiet = flow(json!([{"id": "e", "type": "end"}]));
    assert!(start(&quiet).actions.is_empty());
}

#[test]
fn a_next_naming_a_missing_step_fails_the_run_after_what_was_done() {
    let f = flow(json!([
        {"id": "a", "type": "send", "message": {"text": "one"}, "next": "nowhere"},
    ]));
    let out = start(&f);
    assert_eq!(texts(&out.actions), vec!["one"]);
    assert_eq!(out.state.status, ended(RunEnd::Failed));
    assert_eq!(out.state.step, "a");
    let empty = FlowDefinition {
        steps: Vec::new(),
        ..f
    };
    assert_eq!(start(&empty).state.status, ended(RunEnd::Failed));
}

#[test]
fn a_loop_without_waiting_ends_as_looped() {
    let f = flow(json!([
        {"id": "a", "type": "set", "field": {"scope": "flow", "name": "x"}, "value": "1", "next": "a"},
    ]));
    let out = start(&f);
    assert_eq!(out.state.status, ended(RunEnd::Looped));
    assert!(out.actions.is_empty());
}

#[test]
fn exactly_the_step_limit_completes_and_one_more_loops() {
    let steps = |n: usize| {
        serde_json::Value::Array(
            (0..n)
                .map(|i| json!({"id": format!("s{i}"), "type": "send", "message": {"text": "x"}}))
                .collect(),
        )
    };
    let at_limit = start(&flow(steps(MAX_STEPS_PER_ADVANCE)));
    assert_eq!(at_limit.state.status, ended(RunEnd::Completed));
    assert_eq!(at_limit.actions.len(), MAX_STEPS_PER_ADVANCE);
    let over = start(&flow(steps(MAX_STEPS_PER_ADVANCE + 1)));
    assert_eq!(over.state.status, ended(RunEnd::Looped));
    assert_eq!(over.actions.len(), MAX_STEPS_PER_ADVANCE);
    assert_eq!(over.state.step, format!("s{MAX_STEPS_PER_ADVANCE}"));
}

#[test]
fn events_the_run_does_not_wait_for_change_nothing() {
    let f = webhook_flow();
    let at_ask = start(&f).state;
    let at_webhook = reply(&f, at_ask.clone(), "123456").state;
    let done = advance(
        &f,
        at_webhook.clone(),
        FlowEvent::Webhook(WebhookResult::Success {
            status: 200,
            body: None,
        }),
        &facts(),
    )
    .state;
    assert!(done.is_over());
    let success = FlowEvent::Webhook(WebhookResult::Success {
        status: 200,
        body: None,
    });
    let a_reply = FlowEvent::Reply(Reply {
        text: "123456".into(),
        choice: None,
    });
    for (state, event) in [
        (at_ask.clone(), success.clone()),
        (at_ask.clone(), FlowEvent::Start),
        (at_ask, FlowEvent::Timeout),
        (at_webhook.clone(), a_reply.clone()),
        (at_webhook.clone(), FlowEvent::Timeout),
        (at_webhook, FlowEvent::Start),
        (done.clone(), a_reply.clone()),
        (done.clone(), FlowEvent::Start),
        (done, success),
        (RunState::start(&f, BTreeMap::new()), a_reply),
    ] {
        let out = advance(&f, state.clone(), event.clone(), &facts());
        assert_eq!(out.state, state, "{event:?}");
        assert!(out.actions.is_empty(), "{event:?}");
    }
}

#[test]
fn a_waiting_run_whose_step_is_gone_fails() {
    let f = menu();
    let mut waiting = start(&f).state;
    waiting.step = "removed".into();
    let out = reply(&f, waiting, "1");
    assert_eq!(out.state.status, ended(RunEnd::Failed));
}

/// The example at the top of `definition.rs`, completed, as JSON (core has no YAML reader).
fn example() -> serde_json::Value {
    json!({
        "name": "order-status",
        "steps": [
            {"id": "welcome", "type": "send",
             "message": {"text": "Hi {{contact.first_name}}, you are talking to our bot."}},
            {"id": "ask_order", "type": "ask",
             "message": {"text": "What is your order number?"},
             "save_as": "order_number",
             "cases": [
                {"when": {"type": "regex", "pattern": "^[0-9]{6}$"}, "next": "lookup"},
                {"when": {"type": "keyword", "words": ["agent", "human"]}, "next": "to_agent"},
             ],
             "invalid": {"text": "An order number has 6 digits, like 123456."},
             "other": "to_agent",
             "timeout": {"after_seconds": 600, "next": "bye"}},
            {"id": "lookup", "type": "webhook",
             "url": "http://127.0.0.1:8080/demo/orders/{{flow.order_number}}",
             "save_as": "order",
             "on_error": "to_agent"},
            {"id": "status", "type": "send",
             "message": {"text": "Order {{flow.order_number}} is {{flow.order.status}}."}},
            {"id": "more", "type": "ask",
             "message": {"component": {"type": "question", "text": "Anything else?",
                "options": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]}},
             "cases": [
                {"when": {"type": "option", "option": "yes"}, "next": "to_agent"},
                {"when": {"type": "option", "option": "no"}, "next": "bye"},
             ],
             "other": "bye"},
            {"id": "to_agent", "type": "handoff", "queue": "support",
             "message": {"text": "Connecting you to an agent."}},
            {"id": "bye", "type": "end", "message": {"text": "Goodbye!"}, "end_session": true},
        ]
    })
}

#[test]
fn the_documented_example_parses_validates_and_runs() {
    let f: FlowDefinition = serde_json::from_value(example()).unwrap();
    assert_eq!(validate(&f), Ok(()));
    assert_eq!(f.max_invalid, 3);
    assert_eq!(f.context, SessionContext::Service);
    let asked = start(&f);
    assert_eq!(
        texts(&asked.actions),
        vec![
            "Hi Zoë, you are talking to our bot.",
            "What is your order number?"
        ]
    );
    let calling = reply(&f, asked.state, "123456");
    assert!(matches!(
        &calling.actions[..],
        [Action::CallWebhook(WebhookCall { url, method: WebhookMethod::Post, body: None, timeout_ms: 5000, retries: 2 })]
            if url == "http://127.0.0.1:8080/demo/orders/123456"
    ));
    let answered = advance(
        &f,
        calling.state,
        FlowEvent::Webhook(WebhookResult::Success {
            status: 200,
            body: Some(json!({"status": "on its way"})),
        }),
        &facts(),
    );
    assert_eq!(
        texts(&answered.actions),
        vec!["Order 123456 is on its way."]
    );
    let done = reply(&f, answered.state, "2");
    assert_eq!(texts(&done.actions), vec!["Goodbye!"]);
    assert_eq!(done.state.status, ended(RunEnd::Completed));
    // A round trip through serde keeps the definition.
    let again: FlowDefinition = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
    assert_eq!(again, f);
}

#[test]
fn the_example_hands_off_on_the_agent_keyword_with_what_was_collected() {
    let f: FlowDefinition = serde_json::from_value(example()).unwrap();
    let out = reply(&f, start(&f).state, "HUMAN!");
    assert_eq!(
        out.state.fields.get("order_number").map(String::as_str),
        Some("HUMAN!")
    );
    assert!(matches!(
        &out.actions[..],
        [Action::Send(_), Action::Handoff(HandoffTarget { collected, .. })]
            if collected.get("order_number").map(String::as_str) == Some("HUMAN!")
    ));
}

// ---- properties over generated flows ----

const IDS: &[&str] = &["s0", "s1", "s2", "s3", "s4"];

fn target() -> impl Strategy<Value = String> {
    // "zz" is never a step: generated flows are unvalidated on purpose.
    prop::sample::select(vec!["s0", "s1", "s2", "s3", "s4", "zz"]).prop_map(String::from)
}

fn text_message() -> impl Strategy<Value = FlowMessage> {
    "[a-z {}.]{0,10}".prop_map(|t| FlowMessage {
        text: Some(t),
        ..FlowMessage::default()
    })
}

fn message() -> BoxedStrategy<FlowMessage> {
    prop_oneof![
        3 => text_message(),
        1 => Just(FlowMessage {
            component: Some(Component::Question {
                text: "Pick".into(),
                options: ["a", "b", "c"]
                    .iter()
                    .map(|id| ComponentOption {
                        id: (*id).into(),
                        title: id.to_uppercase(),
                        description: None,
                        image_url: None,
                    })
                    .collect(),
                button: None,
                formats: Vec::new(),
                options_from: None,
            }),
            ..FlowMessage::default()
        }),
        1 => Just(FlowMessage::default()),
    ]
    .boxed()
}

fn matcher() -> impl Strategy<Value = Matcher> {
    prop_oneof![
        Just(Matcher::Any),
        Just(Matcher::Number),
        Just(Matcher::Keyword {
            words: vec!["agent".into()]
        }),
        prop::sample::select(vec!["a", "b", "z"])
            .prop_map(|o| Matcher::Option { option: o.into() }),
        Just(Matcher::Regex {
            pattern: "^[0-9]+$".into()
        }),
        Just(Matcher::Regex {
            pattern: "(".into()
        }),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(|open| Condition::BusinessHours { open }),
        Just(Condition::Channel {
            kind: ChannelKind::Sms
        }),
        prop::sample::select(vec!["x", "webhook.status", "contact.first_name"]).prop_map(|f| {
            Condition::Field {
                field: f.into(),
                op: Compare::Present,
                value: None,
            }
        }),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|conditions| Condition::All { conditions }),
            prop::collection::vec(inner, 0..3)
                .prop_map(|conditions| Condition::AnyOf { conditions }),
        ]
    })
}

fn action(waiting: bool) -> BoxedStrategy<StepAction> {
    let opt_target = || prop::option::of(target());
    let mut arms: Vec<BoxedStrategy<StepAction>> = vec![
        (message(), opt_target())
            .prop_map(|(message, next)| StepAction::Send { message, next })
            .boxed(),
        (
            prop::sample::select(vec![FieldScope::Flow, FieldScope::Contact]),
            "[a-z{}. ]{0,8}",
            opt_target(),
        )
            .prop_map(|(scope, value, next)| StepAction::Set {
                field: FieldRef {
                    scope,
                    name: "first_name".into(),
                },
                value,
                next,
            })
            .boxed(),
        (
            prop::collection::vec((condition(), target()), 0..3),
            opt_target(),
        )
            .prop_map(|(cases, otherwise)| StepAction::Branch {
                cases: cases
                    .into_iter()
                    .map(|(when, next)| BranchCase { when, next })
                    .collect(),
                otherwise,
            })
            .boxed(),
        prop::option::of(text_message())
            .prop_map(|message| StepAction::Handoff {
                queue: Some("q".into()),
                skills: Vec::new(),
                agent: None,
                message,
            })
            .boxed(),
        Just(StepAction::StartFlow {
            flow: "other".into(),
        })
        .boxed(),
        (prop::option::of(text_message()), any::<bool>())
            .prop_map(|(message, end_session)| StepAction::End {
                message,
                end_session,
            })
            .boxed(),
    ];
    if waiting {
        arms.push(
            (
                prop::option::of(message()),
                prop::option::of(Just("saved".to_owned())),
                prop::collection::vec((matcher(), target()), 0..3),
                prop::option::of(target()),
                prop::option::of(text_message()),
                prop::option::of((1u32..100, target())),
            )
                .prop_map(
                    |(message, save_as, cases, other, invalid, timeout)| StepAction::Ask {
                        message,
                        save_as,
                        cases: cases
                            .into_iter()
                            .map(|(when, next)| AskCase { when, next })
                            .collect(),
                        other,
                        invalid,
                        timeout: timeout.map(|(after_seconds, next)| Timeout {
                            after_seconds,
                            next,
                        }),
                    },
                )
                .boxed(),
        );
        arms.push(
            (prop::option::of(target()), prop::option::of(target()))
                .prop_map(|(next, on_error)| StepAction::Webhook {
                    url: "http://h.example/{{flow.saved}}".into(),
                    method: WebhookMethod::Post,
                    body: Some(json!({"v": "{{flow.saved}}"})),
                    timeout_ms: 1000,
                    retries: 0,
                    save_as: Some("saved".into()),
                    next,
                    on_error,
                })
                .boxed(),
        );
    }
    prop::strategy::Union::new(arms).boxed()
}

fn arb_flow(waiting: bool) -> impl Strategy<Value = FlowDefinition> {
    (
        prop::collection::vec(action(waiting), 0..6),
        0u32..4,
        any::<bool>(),
    )
        .prop_map(|(actions, max_invalid, duplicate)| FlowDefinition {
            name: "gen".into(),
            description: String::new(),
            context: SessionContext::Service,
            max_invalid,
            steps: actions
                .into_iter()
                .enumerate()
                .map(|(i, action)| Step {
                    // A duplicated id now and then: the first one wins.
                    id: if duplicate && i == 3 {
                        "s1".into()
                    } else {
                        IDS.get(i).copied().unwrap_or("s4").into()
                    },
                    action,
                })
                .collect(),
        })
}

fn event() -> impl Strategy<Value = (FlowEvent, i64)> {
    let reply = (
        prop::sample::select(vec!["1", "2", " 3.", "42", "agent", "", "B", "hello"]),
        prop::option::of(prop::sample::select(vec!["a", "b", "z"])),
    )
        .prop_map(|(text, choice)| {
            FlowEvent::Reply(Reply {
                text: text.into(),
                choice: choice.map(String::from),
            })
        });
    let webhook = prop_oneof![
        Just(FlowEvent::Webhook(WebhookResult::Success {
            status: 200,
            body: Some(json!({"status": "ok", "items": [{"a": {"b": {"c": {"d": 1}}}}]})),
        })),
        Just(FlowEvent::Webhook(WebhookResult::Success {
            status: 200,
            body: None
        })),
        Just(FlowEvent::Webhook(WebhookResult::Failure {
            status: Some(500),
            error: "boom".into()
        })),
    ];
    (
        prop_oneof![
            Just(FlowEvent::Start),
            reply,
            Just(FlowEvent::Timeout),
            webhook
        ],
        prop::sample::select(vec![0i64, 1_000, 200_000]),
    )
}

/// The status names the kind of step the run waits in.
fn check_status(flow: &FlowDefinition, state: &RunState) -> Result<(), TestCaseError> {
    let step = flow.steps.iter().find(|s| s.id == state.step);
    match state.status {
        RunStatus::WaitingReply { .. } => prop_assert!(
            matches!(
                step,
                Some(Step {
                    action: StepAction::Ask { .. },
                    ..
                })
            ),
            "waiting for a reply at {:?}",
            step
        ),
        RunStatus::WaitingWebhook => prop_assert!(
            matches!(
                step,
                Some(Step {
                    action: StepAction::Webhook { .. },
                    ..
                })
            ),
            "waiting for a webhook at {:?}",
            step
        ),
        RunStatus::Ready | RunStatus::Ended { .. } => {}
    }
    Ok(())
}

proptest! {
    #[test]
    fn advance_never_panics_terminates_and_waits_only_where_it_can(
        flow in arb_flow(true),
        events in prop::collection::vec(event(), 0..8),
    ) {
        let mut state = RunState::start(&flow, BTreeMap::new());
        let mut f = facts();
        for (event, later) in events {
            f.now = Timestamp::from_millis(f.now.millis() + later);
            let was_ready_start = state.status == RunStatus::Ready && event == FlowEvent::Start;
            let out = advance(&flow, state, event, &f);
            // Each step adds at most two actions (a message and its own action).
            prop_assert!(out.actions.len() <= 2 * MAX_STEPS_PER_ADVANCE + 2);
            check_status(&flow, &out.state)?;
            if was_ready_start {
                prop_assert_ne!(out.state.status, RunStatus::Ready);
            }
            state = out.state;
        }
    }

    #[test]
    fn a_flow_without_ask_or_webhook_ends_in_one_start(flow in arb_flow(false)) {
        let out = start(&flow);
        prop_assert!(out.state.is_over(), "{:?}", out.state);
    }
}

#[test]
fn falling_into_a_step_whose_id_an_earlier_step_has_fails_the_run() {
    let f = flow(json!([
        {"id": "a", "type": "send", "message": {"text": "one"}, "next": "b"},
        {"id": "b", "type": "send", "message": {"text": "two"}},
        {"id": "a", "type": "ask", "cases": [{"when": {"type": "any"}, "next": "b"}]},
    ]));
    let out = start(&f);
    assert_eq!(texts(&out.actions), vec!["one", "two"]);
    assert_eq!(out.state.status, ended(RunEnd::Failed));
}

/// A flow that asks which order, the options from a webhook's `orders`, with these cases.
fn pick_order(cases: serde_json::Value, done: &str) -> FlowDefinition {
    serde_json::from_value(json!({
        "name": "pick-order",
        "steps": [
            {"id": "orders", "type": "webhook", "url": "http://shop.test/orders"},
            {"id": "pick", "type": "ask",
             "message": {"component": {"type": "question", "text": "Which order?",
                "options_from": {"list": "webhook.orders", "id": "number", "title": "label"}}},
             "save_as": "order",
             "cases": cases},
            {"id": "done", "type": "end", "message": {"text": done}}
        ]
    }))
    .unwrap()
}

/// Starts `flow` and answers its webhook with two orders.
fn with_orders(flow: &FlowDefinition) -> Advanced {
    advance(
        flow,
        start(flow).state,
        FlowEvent::Webhook(WebhookResult::Success {
            status: 200,
            body: Some(json!({"orders": [
                {"number": "A-1", "label": "Shoes"},
                {"number": "B-2", "label": "Coat"}
            ]})),
        }),
        &facts(),
    )
}

/// MC-06: a question whose options come from a webhook's answer is sent with one option per
/// item, and the customer's number picks the item's id.
#[test]
fn a_question_takes_its_options_from_a_webhook_answer() {
    let flow = pick_order(
        json!([{"when": {"type": "any"}, "next": "done"}]),
        "Order {{flow.order}}",
    );
    assert!(validate(&flow).is_ok(), "{:?}", validate(&flow));
    let answered = with_orders(&flow);
    let Some(Action::Send(OutMessage::Component(Component::Question {
        options,
        options_from,
        ..
    }))) = answered.actions.first()
    else {
        panic!("{:?}", answered.actions);
    };
    assert!(options_from.is_none(), "sent with concrete options only");
    let titles: Vec<&str> = options.iter().map(|o| o.title.as_str()).collect();
    assert_eq!(titles, ["Shoes", "Coat"]);
    let picked = reply(&flow, answered.state, "2");
    assert_eq!(
        picked.state.fields.get("order").map(String::as_str),
        Some("2")
    );

    // The `option` matcher reads the id: "2" is the second option, B-2.
    let by_option = pick_order(
        json!([{"when": {"type": "option", "option": "B-2"}, "next": "done"}]),
        "Coat it is",
    );
    assert!(validate(&by_option).is_ok(), "{:?}", validate(&by_option));
    let answered = with_orders(&by_option);
    let s = reply(&by_option, answered.state, "2");
    assert_eq!(
        s.actions.first(),
        Some(&Action::Send(OutMessage::Text("Coat it is".into())))
    );
}
