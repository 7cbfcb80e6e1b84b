//! Conversions between protobuf messages and domain types.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::{
    domain::{AppType, Application},
    proto::v1 as pb,
};

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn app_type_to_proto(t: AppType) -> pb::ApplicationType {
    match t {
        AppType::Web => pb::ApplicationType::Web,
        AppType::Native => pb::ApplicationType::Native,
        AppType::UserAgentBased => pb::ApplicationType::UserAgentBased,
        AppType::Service => pb::ApplicationType::Service,
    }
}

/// The requested type; unspecified means WEB. `None` for unknown values.
pub fn app_type_from_proto(value: i32) -> Option<AppType> {
    match pb::ApplicationType::try_from(value).ok()? {
        pb::ApplicationType::Unspecified | pb::ApplicationType::Web => Some(AppType::Web),
        pb::ApplicationType::Native => Some(AppType::Native),
        pb::ApplicationType::UserAgentBased => Some(AppType::UserAgentBased),
        pb::ApplicationType::Service => Some(AppType::Service),
    }
}

pub fn application(app: Application) -> pb::Application {
    let etag = app.etag();
    pb::Application {
        id: app.id.as_str().to_owned(),
        organization_id: app.organization_id,
        name: app.name,
        description: app.description,
        r#type: app_type_to_proto(app.app_type).into(),
        redirect_uris: app.redirect_uris,
        scopes: app.scopes,
        client_id: app.client_id,
        client_secret_hint: app.secret_hint.unwrap_or_default(),
        active: app.active,
        first_party: app.first_party,
        created_by: app.created_by,
        create_time: Some(timestamp(app.create_time)),
        update_time: Some(timestamp(app.update_time)),
        delete_time: app.delete_time.map(timestamp),
        etag,
    }
}
