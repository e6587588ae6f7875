//! OpenAPI schemas for the domain enums of `parley-core` (the engine's, which its service inputs
//! use too, so the API's document and the inputs cannot disagree), and the error answers every
//! operation can give, added to the document by rule rather than by hand on each route.

use std::collections::BTreeSet;

use utoipa::ToSchema;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::AnyOfBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder, Schema};

pub use parley_engine::service::schema::*;

/// Who may call the operations of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Behind an authentication layer: any operation can be refused with 401 (no valid
    /// credentials) and 403 (a role that may not, a console request without its CSRF token).
    Authenticated,
    /// Open to anyone (see [`open_to_anyone`]).
    Public,
    /// Open to pages of allowed origins (the web chat widget): refused with 403 from any other
    /// origin and 429 past the per-visitor and per-address limits.
    Origin,
}

/// Documents the error answers that the layers in front of every handler can give, with `E` as
/// their body, on every operation of `doc` that does not document that status itself. By what
/// an operation takes, not by which it is, so a route added later is covered without any
/// annotation of its own:
/// - every operation: 500 (a failure on the server's side; `E` still);
/// - every write (not GET): 409 (a name or address in use, a change meanwhile: the store's
///   unique constraints and guards can refuse any write);
/// - `Access::Authenticated`: 401 and 403; `Access::Origin`: 403 and 429;
/// - path parameters: 400 (a malformed value, such as an id that is not a UUID) and 404;
/// - query parameters: 400 (a malformed or unknown parameter);
/// - a request body: 413 (over the route's limit), 415 (another content type), 422 (a value
///   not allowed), and 400 for a JSON body (not valid JSON).
///
/// A 4xx or 5xx documented by hand without a body gets `E` as its body; one documented with a
/// body of the handler's own gets `E` as an alternative (`anyOf`), since the extractors and
/// layers in front of the handler answer with `E`.
///
/// What only some handlers answer (503 when work cannot be stored, 404 for an id named in a body,
/// 422 on a read) stays in their own `responses(...)`.
pub fn document_errors<E: ToSchema>(doc: &mut OpenApi, access: Access) {
    let body = E::name().into_owned();
    let components = doc.components.get_or_insert_with(Default::default);
    if !components.schemas.contains_key(&body) {
        components.schemas.insert(body.clone(), E::schema());
        let mut deps = Vec::new();
        E::schemas(&mut deps);
        for (name, schema) in deps {
            components.schemas.entry(name).or_insert(schema);
        }
    }
    for item in doc.paths.paths.values_mut() {
        let shared_params = item.parameters.clone().unwrap_or_default();
        for (reads, op) in operations_mut(item) {
            let mut statuses = BTreeSet::from([500]);
            match access {
                Access::Authenticated => statuses.extend([401, 403]),
                Access::Public => open(op),
                Access::Origin => {
                    statuses.extend([403, 429]);
                    open(op);
                }
            }
            if !reads {
                statuses.insert(409);
            }
            let params = shared_params.iter().chain(op.parameters.iter().flatten());
            for p in params {
                match p {
                    RefOr::T(p) if p.parameter_in == ParameterIn::Path => {
                        statuses.extend([400, 404]);
                    }
                    RefOr::T(p) if p.parameter_in == ParameterIn::Query => {
                        statuses.insert(400);
                    }
                    _ => {}
                }
            }
            if let Some(RefOr::T(request)) = &op.request_body {
                statuses.extend([413, 415, 422]);
                if request.content.keys().any(|t| t.contains("json")) {
                    statuses.insert(400);
                }
            }
            for status in statuses {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error_response(status, &body));
            }
            // A status written by hand is still answered with the error body when the request
            // fails before the handler's own answer: every error goes through the same type.
            for (status, response) in &mut op.responses.responses {
                if status.starts_with('4') || status.starts_with('5') {
                    also_error_body(response, &body);
                }
            }
        }
    }
}

/// Marks every operation of `doc` as open to anyone: an empty security requirement, so the
/// document's global bearer requirement does not claim they refuse anonymous callers.
pub fn open_to_anyone(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        operations_mut(item).for_each(|(_, op)| open(op));
    }
}

fn open(op: &mut Operation) {
    op.security = Some(vec![SecurityRequirement::default()]);
}

/// Lets `response` hold the error body `body`: added when it documents no JSON body, and as an
/// alternative when it documents another (a handler's own 422, such as a refused message's,
/// can still be the extractor's `invalid_request` for a malformed request).
fn also_error_body(response: &mut RefOr<utoipa::openapi::Response>, body: &str) {
    let RefOr::T(response) = response else { return };
    let error = || RefOr::Ref(Ref::from_schema_name(body));
    match response.content.get_mut("application/json") {
        None => {
            response.content.insert(
                "application/json".to_owned(),
                RefOr::T(Content::new(Some(error()))),
            );
        }
        Some(RefOr::T(content)) => match content.schema.take() {
            Some(RefOr::Ref(r)) if r == Ref::from_schema_name(body) => {
                content.schema = Some(RefOr::Ref(r));
            }
            Some(other) => {
                let either = AnyOfBuilder::new().item(other).item(error()).build();
                content.schema = Some(RefOr::T(Schema::AnyOf(either)));
            }
            None => content.schema = Some(error()),
        },
        Some(RefOr::Ref(_)) => {}
    }
}

fn error_response(status: u16, body: &str) -> RefOr<utoipa::openapi::Response> {
    let description = match status {
        400 => {
            "the request's form is wrong: a malformed path or query value, or a body that is not valid JSON"
        }
        401 => "no valid credentials",
        403 => {
            "the caller's role may not do this, or a console request came without its CSRF token"
        }
        404 => "no such item",
        409 => "the change clashes with another item (a name in use) or with a change meanwhile",
        413 => "the body is larger than this operation accepts",
        415 => "the body is not sent in the content type this operation takes",
        422 => "a value in the request is not allowed",
        _ => "a failure on the server's side, logged there",
    };
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(body))),
        )
        .build()
        .into()
}

/// Every operation of `item`, with whether it only reads (GET, HEAD, OPTIONS, TRACE).
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (bool, &mut Operation)> {
    [
        (true, &mut item.get),
        (false, &mut item.put),
        (false, &mut item.post),
        (false, &mut item.delete),
        (false, &mut item.patch),
        (true, &mut item.head),
        (true, &mut item.options),
        (true, &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(reads, op)| op.as_mut().map(|op| (reads, op)))
    .chain(
        item.additional_operations
            .values_mut()
            .map(|op| (false, op)),
    )
}
