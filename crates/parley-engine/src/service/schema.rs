//! OpenAPI schemas for the domain enums of `parley-core`, which knows nothing of OpenAPI. Each is
//! a string schema listing the enum's wire names, so the document can never disagree with the
//! code. Here, beside the service inputs that use them, so one input type serves the API, its
//! document and the workspace file.

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Object, RefOr, Schema};

fn string_enum(names: &[&'static str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names.iter().copied()))
        .build()
}

macro_rules! enum_schemas {
    ($($fn_name:ident => $ty:ty),+ $(,)?) => {
        $(
            pub fn $fn_name() -> RefOr<Schema> {
                RefOr::T(Schema::Object(string_enum(<$ty>::NAMES)))
            }
        )+
    };
}

use parley_core::model::*;

enum_schemas! {
    channel_kind => ChannelKind,
    number_type => NumberType,
    consent_level => ConsentLevel,
    consent_status => ConsentStatus,
    consent_source => ConsentSource,
    case_status => CaseStatus,
    session_status => SessionStatus,
    session_context => SessionContext,
    owner_kind => OwnerKind,
    direction => Direction,
    actor => Actor,
    entry_status => EntryStatus,
    agent_role => AgentRole,
    presence => Presence,
    routing_model => RoutingModel,
    template_category => TemplateCategory,
    template_status => TemplateStatus,
    process_type => parley_core::keyword_process::ProcessType,
    process_status => parley_core::keyword_process::ProcessStatus,
}

/// Providers are an open set: the document lists the ones this build registers.
pub fn provider() -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(parley_channels::providers().names()))
            .build(),
    ))
}
