//! `GET /openapi.json`: an OpenAPI 3.1 document of the HTTP/JSON routes,
//! generated once at start-up from the route table ([`routes::table`]) and
//! the service's descriptor set (with its comments), so that it cannot
//! drift from what the server does. Operations are named after their RPCs;
//! bodies and responses are the messages as proto3 JSON
//! ([`schemas`]); errors are AIP-193's body ([`responses`]).

mod registration;
mod responses;
mod schemas;

use serde_json::{Map, Value, json};

use super::routes::{self, Body, QueryType, Route, Template};
use crate::api::proto::FILE_DESCRIPTOR_SET;
use schemas::{Descriptors, Flavor, Schemas};

/// Where the document is served.
pub const PATH: &str = "/openapi.json";

/// The operation id of the document's own route.
pub const OPERATION: &str = "GetOpenApiDocument";

/// The document, from the compiled-in descriptor set.
pub fn document() -> Result<Value, prost::DecodeError> {
    let descriptors = Descriptors::decode(FILE_DESCRIPTOR_SET)?;
    Ok(generate(&descriptors, &routes::table()))
}

fn generate(descriptors: &Descriptors, table: &[Route]) -> Value {
    let mut schemas = Schemas::new(descriptors);
    let mut paths = Map::new();
    for route in table {
        let operation = operation(descriptors, &mut schemas, route);
        let item = paths
            .entry(route.template)
            .or_insert_with(|| Value::Object(Map::new()));
        item[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    paths.insert(PATH.to_owned(), json!({ "get": own_operation() }));
    let (registration_paths, registration_schemas) = registration::paths();
    paths.extend(registration_paths);
    let mut components = schemas.components;
    components.extend(responses::schemas());
    components.extend(registration_schemas);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "oauth-apps",
            "version": env!("CARGO_PKG_VERSION"),
            "description": descriptors.service_comment().unwrap_or_default(),
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": responses::components(),
            "securitySchemes": { "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
            },
            "registrationToken": registration::security_scheme() },
        },
        "security": [{ "bearerAuth": [] }],
    })
}

/// The document's own route: no token needed.
fn own_operation() -> Value {
    json!({
        "operationId": OPERATION,
        "summary": "This document: the HTTP/JSON routes as OpenAPI 3.1.",
        "security": [],
        "responses": { "200": {
            "description": "The OpenAPI document.",
            "content": { "application/json": { "schema": { "type": "object" } } },
        } },
    })
}

/// One route's operation.
fn operation(descriptors: &Descriptors, schemas: &mut Schemas<'_>, route: &Route) -> Value {
    let rpc = route.rpc.name();
    let (input, output, comment) = descriptors.method(rpc).unwrap_or(("", "", None));
    let comment = comment.unwrap_or_default();
    let mut parameters = path_parameters(descriptors, input, route);
    parameters.extend(query_parameters(descriptors, input, route));
    if route.rpc.is_stream() {
        parameters.push(last_event_id());
    }
    let mut responses = Map::new();
    let message = schemas.message(output, Flavor::Output, &[]);
    let ok = if route.rpc.is_stream() {
        events(message)
    } else {
        json!({
            "description": "OK",
            "content": { "application/json": { "schema": message } },
        })
    };
    responses.insert("200".to_owned(), ok);
    let has_body = route.body != Body::None;
    for status in responses::statuses(route.rpc, has_body) {
        responses.insert(status.to_string(), responses::reference(status));
    }
    let mut operation = json!({
        "operationId": route.operation_id(),
        "summary": summary(comment),
        "description": comment,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = request_body(descriptors, schemas, input, route) {
        operation["requestBody"] = body;
    }
    operation
}

/// A stream's 200: Server-Sent Events whose data is the response message.
fn events(message: Value) -> Value {
    json!({
        "description": "Server-Sent Events, until the client leaves: each event's `id` is \
            its resume token (none on SNAPSHOT events) and its `data` one line of JSON, the \
            WatchApplicationsResponse (`x-event-data`). An error that ends a running stream \
            (RESOURCE_EXHAUSTED: too slow, resume; PERMISSION_DENIED: no longer a member; \
            UNAVAILABLE: the server is stopping, resume) is a last event named `error` whose \
            data is the `Error` body.",
        "headers": { "Cache-Control": {
            "description": "`no-store`.",
            "schema": { "type": "string" },
        } },
        "content": { "text/event-stream": {
            "schema": { "type": "string" },
            "x-event-data": message,
            "x-error-event-data": { "$ref": "#/components/schemas/Error" },
        } },
    })
}

/// The header an EventSource resumes with.
fn last_event_id() -> Value {
    json!({
        "name": "Last-Event-ID",
        "in": "header",
        "required": false,
        "description": "The `id` of the last event received: the resume token. It wins \
            over `resumeToken` and `initialSnapshot`, as an EventSource reconnects with \
            its first URL and the last id it got (the later position).",
        "schema": { "type": "string" },
    })
}

/// The comment's first sentence.
fn summary(comment: &str) -> String {
    let flat = comment.replace('\n', " ");
    match flat.find(". ") {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
}

/// The path's parameters the route's handler fills into its request (the
/// organization is taken apart, for the authorizer).
fn filled(route: &Route) -> Vec<&'static str> {
    Template::parse(route.template)
        .params()
        .filter(|p| *p != "organization_id")
        .collect()
}

fn path_parameters(descriptors: &Descriptors, input: &str, route: &Route) -> Vec<Value> {
    Template::parse(route.template)
        .params()
        .map(|name| {
            let description = match descriptors.field(input, name) {
                Some((_, Some(comment))) => comment.to_owned(),
                _ if name == "organization_id" => "The organization's id.".to_owned(),
                _ => format!("The application's `{name}`."),
            };
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": description,
                "schema": { "type": "string", "minLength": 1 },
            })
        })
        .collect()
}

fn query_parameters(descriptors: &Descriptors, input: &str, route: &Route) -> Vec<Value> {
    route
        .query
        .iter()
        .map(|q| {
            let schema = match q.ty {
                QueryType::Integer => json!({ "type": "integer", "format": "int32" }),
                QueryType::Boolean => json!({ "type": "boolean" }),
                QueryType::String => json!({ "type": "string" }),
                QueryType::FieldMask => json!({ "type": "string" }),
            };
            let mut parameter = json!({
                "name": q.json,
                "in": "query",
                "required": false,
                "schema": schema,
            });
            if let Some((_, Some(comment))) = descriptors.field(input, q.proto) {
                parameter["description"] = Value::from(comment);
            }
            parameter
        })
        .collect()
}

/// The body: the request message, or the `Application` for an update,
/// without the fields the path fills. An empty body is the empty message.
fn request_body(
    descriptors: &Descriptors,
    schemas: &mut Schemas<'_>,
    input: &str,
    route: &Route,
) -> Option<Value> {
    let message = match route.body {
        Body::None => return None,
        Body::Request => input.to_owned(),
        Body::Application => descriptors
            .field(input, "application")
            .map(|(f, _)| f.type_name().to_owned())
            .unwrap_or_default(),
    };
    let schema = schemas.message(&message, Flavor::Input, &filled(route));
    Some(json!({
        "required": false,
        "content": { "application/json": { "schema": schema } },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        let bytes = serde_json::to_vec(&document().unwrap()).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Every `$ref` of `value`.
    fn refs<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_names_every_route_and_its_refs_resolve() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        for route in routes::table() {
            let op = &doc["paths"][route.template][route.method.as_str().to_ascii_lowercase()];
            assert_eq!(
                op["operationId"],
                route.operation_id(),
                "{}",
                route.template
            );
            let media = match route.rpc.is_stream() {
                true => "text/event-stream",
                false => "application/json",
            };
            assert!(op["responses"]["200"]["content"][media].is_object());
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let expected: Vec<&str> = Template::parse(route.template)
                .params()
                .chain(route.query.iter().map(|q| q.json))
                .chain(route.rpc.is_stream().then_some("Last-Event-ID"))
                .collect();
            assert_eq!(params, expected, "{}", route.template);
            assert_eq!(op.get("requestBody").is_some(), route.body != Body::None);
        }
        assert_eq!(doc["paths"][PATH]["get"]["security"], json!([]));
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 50, "{}", all.len());
        for r in all {
            let pointer = r.strip_prefix('#').unwrap();
            let target = doc.pointer(pointer);
            assert!(target.is_some_and(Value::is_object), "{r} does not resolve");
        }
    }

    #[test]
    fn messages_are_proto3_json() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let app = &schemas["Application"];
        assert_eq!(app["additionalProperties"], false);
        let props = &app["properties"];
        assert_eq!(props["redirectUris"]["type"], "array");
        assert_eq!(props["createTime"]["format"], "date-time");
        assert_eq!(
            props["type"]["$ref"],
            "#/components/schemas/ApplicationType"
        );
        assert!(
            props["id"]["description"]
                .as_str()
                .unwrap()
                .contains("app_")
        );
        let required = app["required"].as_array().unwrap();
        assert!(required.contains(&json!("name")) && required.contains(&json!("contacts")));
        // An unset Timestamp is left out, not written as null.
        assert!(!required.contains(&json!("deleteTime")));
        // The PATCH body: nothing required, the path's id not in it.
        let input = &schemas["ApplicationInput"];
        assert!(input.get("required").is_none());
        assert!(input["properties"].get("id").is_none());
        let rotate = &schemas["RotateClientSecretRequest"]["properties"];
        assert!(rotate.get("id").is_none());
        // A message field of a request may be null, as pbjson reads it.
        let grace = &rotate["previousSecretGrace"]["anyOf"];
        assert_eq!(grace[0]["pattern"], schemas::DURATION_PATTERN);
        assert_eq!(grace[1]["type"], "null");
        let body: crate::api::proto::v1::RotateClientSecretRequest =
            crate::http::json::body(br#"{"previousSecretGrace": null}"#).unwrap();
        assert_eq!(body.previous_secret_grace, None);
        let kinds = schemas["ApplicationType"]["enum"].as_array().unwrap();
        assert!(kinds.contains(&json!("APPLICATION_TYPE_NATIVE")));
        let create = &schemas["CreateApplicationRequest"];
        assert_eq!(create["properties"]["active"]["anyOf"][1]["type"], "null");
        let name = &create["properties"]["name"];
        assert_eq!(name["type"], "string", "a string field is not nullable");
    }

    #[test]
    fn query_parameters_have_their_fields_types() {
        use prost_types::field_descriptor_proto::Type;
        let descriptors = Descriptors::decode(FILE_DESCRIPTOR_SET).unwrap();
        for route in routes::table() {
            let (input, _, _) = descriptors.method(route.rpc.name()).unwrap();
            for q in route.query {
                let (field, comment) = descriptors.field(input, q.proto).unwrap();
                assert_eq!(field.json_name(), q.json);
                assert!(comment.is_some(), "{}", q.proto);
                let ty = match field.r#type() {
                    Type::Int32 => QueryType::Integer,
                    Type::Bool => QueryType::Boolean,
                    Type::String => QueryType::String,
                    Type::Message if field.type_name() == ".google.protobuf.FieldMask" => {
                        QueryType::FieldMask
                    }
                    other => panic!("{}: {other:?}", q.proto),
                };
                assert_eq!(ty, q.ty, "{}", q.proto);
            }
        }
    }

    #[test]
    fn errors_are_aip_193_with_retry_after_on_429() {
        let doc = doc();
        let responses = &doc["components"]["responses"];
        let limited = &responses["TooManyRequests"];
        assert_eq!(
            limited["headers"]["Retry-After"]["schema"]["type"],
            "integer"
        );
        let error = &doc["components"]["schemas"]["Error"]["properties"]["error"];
        let status = error["properties"]["status"]["enum"].as_array().unwrap();
        assert!(status.contains(&json!("INVALID_ARGUMENT")));
        let create = &doc["paths"]["/v1/organizations/{organization_id}/applications"]["post"];
        for code in [
            "400", "401", "403", "409", "413", "415", "429", "431", "500", "503",
        ] {
            assert!(create["responses"][code]["$ref"].is_string(), "{code}");
        }
        assert!(create["responses"].get("404").is_none());
    }
}
