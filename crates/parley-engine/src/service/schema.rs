//! OpenAPI schemas for the domain enums of `parley-core`, which knows nothing of OpenAPI. Each is
//! a string schema listing the enum's wire names, so the document can never disagree with the
//! code. Here, beside the service inputs that use them, so one input type serves the API, its
//! document and the workspace file.

use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Object, RefOr, Schema};

fn string_enum(names: &[&'static str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names.iter().copied()))
        .build()
}

/// The same list with `null` allowed, for an `Option` field. A separate function because
/// utoipa's `nullable` does nothing next to `schema_with` (which replaces the whole schema), so
/// `#[schema(schema_with = number_type_or_null)]` documented `null` as not allowed.
fn nullable_string_enum(names: &[&'static str]) -> Object {
    let values = names
        .iter()
        .map(|n| serde_json::Value::from(*n))
        .chain([serde_json::Value::Null]);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .build()
}

macro_rules! enum_schemas {
    ($($fn_name:ident / $or_null:ident => $ty:ty),+ $(,)?) => {
        $(
            pub fn $fn_name() -> RefOr<Schema> {
                RefOr::T(Schema::Object(string_enum(<$ty>::NAMES)))
            }

            pub fn $or_null() -> RefOr<Schema> {
                RefOr::T(Schema::Object(nullable_string_enum(<$ty>::NAMES)))
            }
        )+
    };
}

use parley_core::model::*;

enum_schemas! {
    channel_kind / channel_kind_or_null => ChannelKind,
    number_type / number_type_or_null => NumberType,
    consent_level / consent_level_or_null => ConsentLevel,
    consent_status / consent_status_or_null => ConsentStatus,
    consent_source / consent_source_or_null => ConsentSource,
    case_status / case_status_or_null => CaseStatus,
    session_status / session_status_or_null => SessionStatus,
    session_context / session_context_or_null => SessionContext,
    owner_kind / owner_kind_or_null => OwnerKind,
    direction / direction_or_null => Direction,
    actor / actor_or_null => Actor,
    entry_status / entry_status_or_null => EntryStatus,
    agent_role / agent_role_or_null => AgentRole,
    presence / presence_or_null => Presence,
    routing_model / routing_model_or_null => RoutingModel,
    queue_assignment / queue_assignment_or_null => QueueAssignment,
    template_category / template_category_or_null => TemplateCategory,
    template_status / template_status_or_null => TemplateStatus,
    process_type / process_type_or_null => parley_core::keyword_process::ProcessType,
    process_status / process_status_or_null => parley_core::keyword_process::ProcessStatus,
    rule_author / rule_author_or_null => parley_core::privacy::rules::RuleAuthor,
    detector_kind / detector_kind_or_null => parley_core::privacy::rules::DetectorKind,
    national_id_format / national_id_format_or_null => parley_core::privacy::rules::NationalIdFormat,
    action_kind / action_kind_or_null => parley_core::privacy::rules::ActionKind,
    prechat_kind / prechat_kind_or_null => parley_core::web::PrechatKind,
}

/// A list of authors (`["customer", "agent"]`).
pub fn rule_authors() -> RefOr<Schema> {
    RefOr::T(Schema::Array(
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(RefOr::T(Schema::Object(string_enum(
                parley_core::privacy::rules::RuleAuthor::NAMES,
            ))))
            .build(),
    ))
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
