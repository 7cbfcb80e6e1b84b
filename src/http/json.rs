//! Request messages from JSON bodies and query strings, through the proto3
//! JSON mapping the generated serde impls follow (pbjson): both spellings
//! of a field name, enums by name, RFC 3339 timestamps, `"3600s"`
//! durations, a FieldMask as one string. An unknown field, a wrong type or
//! malformed JSON is INVALID_ARGUMENT naming the field: nothing a caller
//! sends is silently dropped.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::routes::{Query, QueryType};
use crate::{domain::FieldViolation, error::Error};

/// Most values a body's arrays and objects hold, counted as the commas
/// between them: more than any valid request has (20 redirect URIs, 5
/// contacts, the grant types, the catalog's scopes). Without it, 64 KiB of
/// `["","",…]` becomes 21,845 strings, 24 bytes each before the vector's
/// growth: 20 times the body, while a request of that size is refused
/// anyway (BENCHMARKS.md, "Hostile JSON bodies").
pub const MAX_VALUES: usize = 1024;

/// A message from a JSON body; an empty body is the empty message.
pub fn body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if commas_outside_strings(bytes) >= MAX_VALUES {
        return Err(Error::invalid(
            "",
            format!("the body holds more than {MAX_VALUES} values in its arrays and objects"),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(refusal)?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

/// The commas of `bytes` outside JSON strings: one fewer than the values
/// of its arrays and objects when it is JSON.
fn commas_outside_strings(bytes: &[u8]) -> usize {
    let (mut commas, mut in_string, mut escaped) = (0, false, false);
    for &b in bytes {
        if escaped {
            escaped = false;
        } else if in_string {
            match b {
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b',' {
            commas += 1;
        }
    }
    commas
}

/// A message from the query string's parameters, each typed as `params`
/// declares it.
pub fn query<T: DeserializeOwned>(raw: Option<&str>, params: &[Query]) -> Result<T, Error> {
    let mut fields = Map::new();
    let mut violations = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let Some(param) = params.iter().find(|p| p.json == name || p.proto == name) else {
            violations.push(FieldViolation::new(
                name.as_ref(),
                "unknown query parameter",
            ));
            continue;
        };
        if fields.contains_key(param.json) {
            violations.push(FieldViolation::new(name.as_ref(), "given more than once"));
            continue;
        }
        match typed(&value, param.ty) {
            Some(v) => {
                fields.insert(param.json.to_owned(), v);
            }
            None => violations.push(FieldViolation::new(name.as_ref(), type_hint(param.ty))),
        }
    }
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        let path = e.path().to_string();
        Error::invalid(&path, e.into_inner().to_string())
    })
}

/// A route that takes no query parameters names each one it was sent.
pub fn no_query(raw: Option<&str>) -> Result<(), Error> {
    let violations: Vec<_> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(name, _)| FieldViolation::new(name.as_ref(), "unknown query parameter"))
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(violations))
    }
}

fn typed(value: &str, ty: QueryType) -> Option<Value> {
    match ty {
        QueryType::String => Some(Value::String(value.to_owned())),
        QueryType::Integer => value.parse::<i32>().ok().map(Value::from),
        // proto3 JSON: one string of lowerCamelCase paths; the message
        // holds the proto's snake_case names.
        QueryType::FieldMask => {
            let paths: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(heck::ToSnakeCase::to_snake_case)
                .collect();
            Some(serde_json::json!({ "paths": paths }))
        }
        QueryType::Boolean => match value {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
    }
}

fn type_hint(ty: QueryType) -> &'static str {
    match ty {
        QueryType::String | QueryType::FieldMask => "must be a string",
        QueryType::Integer => "must be a 32-bit integer",
        QueryType::Boolean => "must be true or false",
    }
}

/// A syntax error has no field: its place in the body is named instead.
fn malformed(e: &serde_json::Error) -> Error {
    Error::invalid(
        "",
        format!("malformed JSON at line {} column {}", e.line(), e.column()),
    )
}

fn refusal(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return malformed(&inner);
    }
    let message = inner.to_string();
    // The path ends in the unknown key; serde's message lists every
    // known one, too long for a field violation.
    if message.starts_with("unknown field `") {
        return Error::invalid(&path, "unknown field");
    }
    // Drop serde's position suffix: the field is named already.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m);
    Error::invalid(if path == "." { "" } else { &path }, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::proto::v1 as pb;

    fn violations(e: Error) -> Vec<(String, String)> {
        match e {
            Error::Invalid(v) => v.into_iter().map(|v| (v.field, v.description)).collect(),
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn both_spellings_enums_by_name_and_durations() {
        let r: pb::CreateApplicationRequest = body(
            br#"{"name": "a", "redirect_uris": ["https://x"], "type": "APPLICATION_TYPE_NATIVE", "firstParty": true}"#,
        )
        .unwrap();
        assert_eq!(r.name, "a");
        assert_eq!(r.redirect_uris, ["https://x"]);
        assert_eq!(r.r#type, pb::ApplicationType::Native as i32);
        assert!(r.first_party);
        let r: pb::RotateClientSecretRequest =
            body(br#"{"previousSecretGrace": "3600s"}"#).unwrap();
        assert_eq!(r.previous_secret_grace.unwrap().seconds, 3600);
        let r: pb::RotateClientSecretRequest = body(b"").unwrap();
        assert_eq!(r.previous_secret_grace, None);
    }

    #[test]
    fn an_unknown_field_a_wrong_type_and_bad_json_are_named() {
        let e = body::<pb::CreateApplicationRequest>(br#"{"name": "a", "redirectUri": "x"}"#);
        assert_eq!(
            violations(e.unwrap_err()),
            [("redirectUri".to_owned(), "unknown field".to_owned())]
        );
        let e = body::<pb::CreateApplicationRequest>(br#"{"redirectUris": ["a", 7]}"#);
        let v = violations(e.unwrap_err());
        assert_eq!(v[0].0, "redirectUris[1]");
        assert!(v[0].1.contains("invalid type"), "{v:?}");
        let e = body::<pb::CreateApplicationRequest>(br#"{"name": "a""#);
        assert!(violations(e.unwrap_err())[0].1.contains("malformed JSON"));
        let e = body::<pb::CreateApplicationRequest>(br#"{"name": "a"} x"#);
        assert!(violations(e.unwrap_err())[0].1.contains("malformed JSON"));
        let e = body::<pb::CreateApplicationRequest>(br#"{"type": "APPLICATION_TYPE_BOAT"}"#);
        assert_eq!(violations(e.unwrap_err())[0].0, "type");
    }

    #[test]
    fn more_values_than_any_request_holds_are_refused_before_decoding() {
        let items = vec![r#""""#; MAX_VALUES + 1].join(",");
        let e =
            body::<pb::CreateApplicationRequest>(format!(r#"{{"scopes":[{items}]}}"#).as_bytes());
        let v = violations(e.unwrap_err());
        assert!(v[0].1.contains("more than 1024 values"), "{v:?}");
        // One fewer value is decoded as usual.
        let items = vec![r#""a""#; MAX_VALUES].join(",");
        let r: pb::CreateApplicationRequest =
            body(format!(r#"{{"scopes":[{items}]}}"#).as_bytes()).unwrap();
        assert_eq!(r.scopes.len(), MAX_VALUES);
        // Commas in strings, escaped quotes included, are not values.
        let name = format!(r#"a\",{}"#, ",".repeat(2 * MAX_VALUES));
        let r: pb::CreateApplicationRequest =
            body(format!(r#"{{"name":"{name}","scopes":["x"]}}"#).as_bytes()).unwrap();
        assert_eq!(r.name.len(), 2 * MAX_VALUES + 3);
        assert_eq!(commas_outside_strings(br#"["\\",1,"\",",2]"#), 3);
    }

    #[test]
    fn query_parameters_are_typed_and_unknown_ones_refused() {
        let params = crate::http::routes::table()
            .into_iter()
            .find(|r| r.rpc == crate::http::routes::Rpc::ListApplications)
            .unwrap()
            .query;
        let r: pb::ListApplicationsRequest =
            query(Some("pageSize=5&page_token=t&showDeleted=true"), params).unwrap();
        assert_eq!(
            (r.page_size, r.page_token.as_str(), r.show_deleted),
            (5, "t", true)
        );
        let e = query::<pb::ListApplicationsRequest>(
            Some("pageSize=x&showDeleted=yes&limit=3&pageToken=a&pageToken=b"),
            params,
        );
        let fields: Vec<_> = violations(e.unwrap_err())
            .into_iter()
            .map(|v| v.0)
            .collect();
        assert_eq!(fields, ["pageSize", "showDeleted", "limit", "pageToken"]);
        let update = &crate::http::routes::table()[3];
        let r: pb::UpdateApplicationRequest = query(
            Some("updateMask=description,redirectUris&etag=v2"),
            update.query,
        )
        .unwrap();
        assert_eq!(
            r.update_mask.unwrap().paths,
            ["description", "redirect_uris"]
        );
        assert_eq!(r.etag, "v2");
    }
}
