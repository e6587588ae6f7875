//! Merge fields of a triggered notification (TM-06, TM-12): each placeholder of a template
//! (`{{1}}`, `{{2}}`, ...) is filled from a named field resolved against the notification's
//! context record, or from an explicit parameter (a literal, or a `{{field}}` expression).
//!
//! Unlike an agent's quick text ([`crate::merge`]), a notification has no human reading it before
//! it leaves: every field must resolve to a non-empty value, or the send fails and names every
//! field that did not ([`Unresolved`]).
//!
//! Messaging-user fields: TM-03 says a messaging user's fields are not merge fields. We follow it
//! for everything except `messaging_user.platform_key` (the address the message goes to), which is
//! what the brief asks for and reveals nothing the recipient does not already know.

use serde_json::Value;

/// Names a notification may use. `data.<path>` (free JSON, dotted path) is also accepted.
pub const FIELDS: &[&str] = &[
    "contact.first_name",
    "contact.last_name",
    "contact.name",
    "contact.email",
    "contact.phone",
    "case.number",
    "case.subject",
    "case.status",
    "messaging_user.platform_key",
    "channel.name",
];

/// Whether `name` is a field a notification can fill: one of [`FIELDS`], or `data.` and a
/// dotted path of non-empty parts.
pub fn known(name: &str) -> bool {
    FIELDS.contains(&name)
        || name
            .strip_prefix("data.")
            .is_some_and(|p| p.split('.').all(|part| !part.trim().is_empty()))
}

/// A template's declared merge fields (`{"1": "contact.first_name", "2": "case.number"}`) as the
/// ordered list its placeholders take, checked against the template's `placeholders`: every
/// placeholder named once, each by a known field.
pub fn declared(
    fields: &std::collections::BTreeMap<String, String>,
    placeholders: usize,
) -> Result<Vec<String>, String> {
    let mut out = vec![String::new(); placeholders];
    for (k, v) in fields {
        let n: usize = k
            .trim()
            .trim_start_matches("{{")
            .trim_end_matches("}}")
            .trim()
            .parse()
            .map_err(|_| format!("merge_fields: '{k}' is not a placeholder number such as 1"))?;
        let slot = n
            .checked_sub(1)
            .and_then(|i| out.get_mut(i))
            .ok_or_else(|| {
                format!(
                    "merge_fields: the text has no placeholder {{{{{n}}}}} (it has {placeholders})"
                )
            })?;
        let name = v.trim();
        if !known(name) {
            return Err(format!(
                "merge_fields.{k}: '{name}' is not a merge field (one of {}, or data.<path>)",
                FIELDS.join(", ")
            ));
        }
        if !slot.is_empty() {
            return Err(format!("merge_fields: placeholder {n} is named twice"));
        }
        *slot = name.to_owned();
    }
    if let Some(i) = out.iter().position(String::is_empty) {
        return Err(format!(
            "merge_fields: placeholder {{{{{}}}}} has no field (name every placeholder, or none)",
            i + 1
        ));
    }
    Ok(out)
}

/// The record a notification is about, as plain values (the engine reads the rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub contact: Option<ContactValues>,
    pub case: Option<CaseValues>,
    pub platform_key: Option<String>,
    pub channel_name: Option<String>,
    pub data: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactValues {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseValues {
    /// The case's number, or its id until cases have numbers (h2, branch `crm`).
    pub number: String,
    pub subject: String,
    pub status: String,
}

/// The fields that did not resolve to a non-empty value, each once, in order of first use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("merge fields without a value: {}", .missing.join(", "))]
pub struct Unresolved {
    pub missing: Vec<String>,
}

/// The value of one field, `None` when the context lacks it, it is empty, or the name is unknown.
pub fn resolve(name: &str, ctx: &Context) -> Option<String> {
    let v = match name {
        "contact.first_name" => ctx.contact.as_ref()?.first_name.clone(),
        "contact.last_name" => ctx.contact.as_ref()?.last_name.clone(),
        "contact.name" => {
            let c = ctx.contact.as_ref()?;
            crate::merge::full_name(&c.first_name, &c.last_name)
        }
        "contact.email" => ctx.contact.as_ref()?.email.clone(),
        "contact.phone" => ctx.contact.as_ref()?.phone.clone(),
        "case.number" => ctx.case.as_ref()?.number.clone(),
        "case.subject" => ctx.case.as_ref()?.subject.clone(),
        "case.status" => ctx.case.as_ref()?.status.clone(),
        "messaging_user.platform_key" => ctx.platform_key.clone()?,
        "channel.name" => ctx.channel_name.clone()?,
        _ => {
            let path = name.strip_prefix("data.")?;
            let mut at = ctx.data.as_ref()?;
            for part in path.split('.') {
                at = match at {
                    Value::Object(m) => m.get(part)?,
                    Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                    _ => return None,
                };
            }
            match at {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                // An object, an array or null is not text a customer should read.
                _ => return None,
            }
        }
    };
    let v = v.trim().to_owned();
    (!v.is_empty()).then_some(v)
}

/// One explicit parameter: `{{field}}` (whole value, spaces allowed inside) or a literal.
pub fn field_of(param: &str) -> Option<&str> {
    let inner = param.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.is_empty() && !inner.contains('{') && !inner.contains('}')).then_some(inner)
}

/// The placeholder values: from `parameters` when given (literals pass as written, fields are
/// resolved), otherwise from the template's named `merge_fields`. Fails naming every missing field.
pub fn values(
    parameters: Option<&[String]>,
    merge_fields: &[String],
    ctx: &Context,
) -> Result<Vec<String>, Unresolved> {
    let mut missing: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut take = |name: &str, out: &mut Vec<String>| match resolve(name, ctx) {
        Some(v) => out.push(v),
        None => {
            if !missing.iter().any(|m| m == name) {
                missing.push(name.to_owned());
            }
        }
    };
    match parameters {
        Some(ps) => {
            for p in ps {
                match field_of(p) {
                    Some(name) => take(name, &mut out),
                    None => out.push(p.clone()),
                }
            }
        }
        None => {
            for f in merge_fields {
                take(f, &mut out);
            }
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(Unresolved { missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            contact: Some(ContactValues {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                email: String::new(),
                phone: "+14155550100".into(),
            }),
            case: Some(CaseValues {
                number: "42".into(),
                subject: "Order".into(),
                status: "closed".into(),
            }),
            platform_key: Some("+14155550100".into()),
            channel_name: Some("SMS".into()),
            data: Some(serde_json::json!({"order": {"id": 7, "items": ["a"], "ok": true}})),
        }
    }

    #[test]
    fn named_fields_resolve() {
        let c = ctx();
        let names: Vec<String> = [
            "contact.name",
            "case.number",
            "data.order.id",
            "data.order.items.0",
            "channel.name",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            values(None, &names, &c).unwrap(),
            ["Ada Lovelace", "42", "7", "a", "SMS"]
        );
    }

    #[test]
    fn every_missing_field_is_named_once() {
        let c = ctx();
        let names: Vec<String> = [
            "contact.email",
            "data.order",
            "data.nope",
            "contact.email",
            "agent.name",
        ]
        .map(String::from)
        .to_vec();
        let e = values(None, &names, &c).unwrap_err();
        assert_eq!(
            e.missing,
            ["contact.email", "data.order", "data.nope", "agent.name"]
        );
    }

    #[test]
    fn explicit_parameters_mix_literals_and_fields() {
        let c = ctx();
        let ps = vec!["Hello".to_owned(), "{{ contact.first_name }}".to_owned()];
        assert_eq!(values(Some(&ps), &[], &c).unwrap(), ["Hello", "Ada"]);
        let ps = vec!["{{case.subject}}".to_owned()];
        let empty = Context::default();
        assert_eq!(
            values(Some(&ps), &[], &empty).unwrap_err().missing,
            ["case.subject"]
        );
    }

    #[test]
    fn declared_fields_name_every_placeholder() {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(
            declared(
                &map(&[("2", "case.number"), ("1", "contact.first_name")]),
                2
            )
            .unwrap(),
            ["contact.first_name", "case.number"]
        );
        assert!(declared(&map(&[("1", "contact.first_name")]), 2).is_err());
        assert!(declared(&map(&[("3", "contact.first_name")]), 2).is_err());
        assert!(declared(&map(&[("1", "agent.name")]), 1).is_err());
        assert!(declared(&map(&[("x", "contact.first_name")]), 1).is_err());
        assert!(declared(&map(&[("1", "data.")]), 1).is_err());
        assert_eq!(
            declared(&map(&[("1", "data.order.id")]), 1).unwrap(),
            ["data.order.id"]
        );
    }

    #[test]
    fn no_context_resolves_nothing() {
        for f in FIELDS {
            assert_eq!(resolve(f, &Context::default()), None, "{f}");
        }
    }
}
