//! The RFC 7591/7592 routes in the document. They have no RPC (the RFCs
//! define them over HTTP), so they are described here, next to the
//! route handler's own shapes (`http/register.rs`): the client metadata,
//! the registration response and RFC 7591's error body, and the bearer
//! that authenticates them (a registration token, or the client's
//! registration access token; never a member's JWT).

use serde_json::{Map, Value, json};

use super::super::register::PATH;

/// `paths` entries and `components.schemas` of the routes.
pub fn paths() -> (Map<String, Value>, Map<String, Value>) {
    let mut paths = Map::new();
    paths.insert(
        PATH.to_owned(),
        json!({ "post": operation(
            "RegisterClient",
            "RFC 7591 dynamic client registration, with a registration token (CreateRegistrationToken) as the initial access token, or none when open registration is on (OAUTH_APPS_OPEN_REGISTRATION_ORG). The client's rules are CreateApplication's.",
            true,
            ("201", "Registered: the metadata, client_id, client_secret (confidential clients only, shown once), registration_access_token and registration_client_uri."),
        ) }),
    );
    let client = json!({
        "get": operation("GetClientRegistration", "RFC 7592 read, with the client's registration access token.", false, ("200", "The registered metadata.")),
        "put": operation("UpdateClientRegistration", "RFC 7592 update: the metadata replaces the client's (its type and authentication method cannot change); the response carries a new registration_access_token, and the old one stops working.", true, ("200", "The registered metadata and the new registration_access_token.")),
        "delete": operation("DeleteClientRegistration", "RFC 7592 delete: the application is soft-deleted and the registration access token stops working.", false, ("204", "Deleted.")),
    });
    paths.insert(format!("{PATH}/{{client_id}}"), client);
    let mut schemas = Map::new();
    schemas.insert("ClientMetadata".into(), metadata_schema());
    schemas.insert("RegistrationError".into(), error_schema());
    (paths, schemas)
}

/// The security scheme of these routes.
pub fn security_scheme() -> Value {
    json!({
        "type": "http",
        "scheme": "bearer",
        "description": "A registration token (oarg_...) for POST /oauth2/register; the client's registration access token (oarat_...) for /oauth2/register/{client_id}.",
    })
}

fn operation(id: &str, description: &str, body: bool, ok: (&str, &str)) -> Value {
    let (ok_status, ok_description) = ok;
    let mut responses = Map::new();
    let ok_response = if ok_status == "204" {
        json!({ "description": ok_description })
    } else {
        json!({
            "description": ok_description,
            "content": { "application/json": { "schema": {
                "$ref": "#/components/schemas/ClientMetadata"
            } } },
        })
    };
    responses.insert(ok_status.into(), ok_response);
    let errors = [
        ("400", "invalid_client_metadata or invalid_redirect_uri: every violation named in error_description."),
        ("401", "invalid_token (with WWW-Authenticate): no, an unknown, expired, revoked or spent token, or another client's; it never says whether the client exists."),
        ("413", "The body is over the server's limit."),
        ("415", "The body is not sent as application/json."),
        ("429", "Over the open-registration limits (with Retry-After), or the service is busy."),
        ("431", "The request's headers are over the server's limit."),
        ("500", "A failure of the service."),
        ("503", "The database is unavailable; retry."),
        ("504", "The call's deadline passed."),
    ];
    for (status, description) in errors {
        if !body && matches!(status, "413" | "415") {
            continue;
        }
        responses.insert(
            status.into(),
            json!({
                "description": description,
                "content": { "application/json": { "schema": {
                    "$ref": "#/components/schemas/RegistrationError"
                } } },
            }),
        );
    }
    let mut op = json!({
        "operationId": id,
        "summary": description.split(". ").next().unwrap_or(description),
        "description": description,
        "security": [{ "registrationToken": [] }],
        "responses": responses,
    });
    if id != "RegisterClient" {
        op["parameters"] = json!([{
            "name": "client_id", "in": "path", "required": true,
            "schema": { "type": "string" },
        }]);
    }
    if body {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": {
                "$ref": "#/components/schemas/ClientMetadata"
            } } },
        });
    }
    op
}

fn metadata_schema() -> Value {
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    json!({
        "type": "object",
        "description": "RFC 7591 client metadata (and OIDC's application_type). Members the service does not know are ignored, as RFC 7591 asks; scope is required.",
        "properties": {
            "redirect_uris": strings,
            "token_endpoint_auth_method": { "type": "string", "enum": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"] },
            "grant_types": strings,
            "response_types": strings,
            "client_name": { "type": "string" },
            "client_uri": { "type": "string" },
            "logo_uri": { "type": "string" },
            "scope": { "type": "string" },
            "contacts": strings,
            "tos_uri": { "type": "string" },
            "policy_uri": { "type": "string" },
            "jwks": { "type": "object" },
            "software_id": { "type": "string" },
            "software_version": { "type": "string" },
            "application_type": { "type": "string", "enum": ["web", "native"] },
            "client_id": { "type": "string" },
            "client_secret": { "type": "string" },
            "client_id_issued_at": { "type": "integer" },
            "client_secret_expires_at": { "type": "integer" },
            "registration_access_token": { "type": "string" },
            "registration_client_uri": { "type": "string" },
        },
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "RFC 7591 section 3.2.2's error.",
        "required": ["error"],
        "properties": {
            "error": { "type": "string" },
            "error_description": { "type": "string" },
        },
    })
}
