//! UpdateApplication's field mask: which fields a request names, and what
//! to tell a caller who names one that cannot change or does not exist.

use std::collections::BTreeSet;

use heck::ToLowerCamelCase as _;

use super::refusal::FieldViolation;

/// The fields UpdateApplication may change, in the order the audit trail
/// lists them.
pub const UPDATABLE: &[&str] = &[
    "name",
    "description",
    "redirect_uris",
    "scopes",
    "active",
    "first_party",
    "grant_types",
    "jwks",
    "client_uri",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "contacts",
];

/// Fields of Application that exist but never change through an update.
pub const IMMUTABLE: &[&str] = &[
    "id",
    "organization_id",
    "type",
    "token_endpoint_auth_method",
    "client_id",
    "client_secret_hint",
    "created_by",
    "create_time",
    "update_time",
    "delete_time",
    "etag",
];

/// The mask's fields, and a violation for every path that is not updatable.
///
/// Paths are snake_case field names, as on the wire. A JSON client writes
/// the FieldMask as one lowerCamelCase string (`"redirectUris"`) and its
/// protobuf library sends `redirect_uris`; the hints name both spellings for
/// whoever reads them, and a camelCase path that still arrives (built by
/// hand into the binary message) is pointed at its wire name.
pub fn parse_update_mask(paths: &[String]) -> (BTreeSet<&'static str>, Vec<FieldViolation>) {
    let mut fields = BTreeSet::new();
    let mut violations = Vec::new();
    if paths.is_empty() {
        violations.push(FieldViolation::new(
            "update_mask",
            format!("must name at least one of: {}", updatable_hint()),
        ));
    }
    for (i, path) in paths.iter().enumerate() {
        let field = format!("update_mask.paths[{i}]");
        if let Some(known) = UPDATABLE.iter().find(|f| **f == path) {
            fields.insert(*known);
        } else if IMMUTABLE.contains(&path.as_str()) {
            violations.push(FieldViolation::new(
                field,
                format!("{path} cannot be changed"),
            ));
        } else if let Some(wire) = UPDATABLE
            .iter()
            .chain(IMMUTABLE)
            .find(|f| f.contains('_') && lower_camel(f) == *path)
        {
            violations.push(FieldViolation::new(
                field,
                format!(
                    "unknown field {path:?}: mask paths are snake_case on the wire ({wire}); \
                     a JSON FieldMask string writes {path} and the client library converts it"
                ),
            ));
        } else {
            violations.push(FieldViolation::new(
                field,
                format!("unknown field {path:?}; updatable: {}", updatable_hint()),
            ));
        }
    }
    (fields, violations)
}

/// The updatable paths, with the lowerCamelCase spelling JSON clients use
/// where it differs: `redirect_uris (redirectUris in JSON)`.
fn updatable_hint() -> String {
    UPDATABLE
        .iter()
        .map(|f| {
            let camel = lower_camel(f);
            if camel == *f {
                (*f).to_owned()
            } else {
                format!("{f} ({camel} in JSON)")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ProtoJSON name of a snake_case field: `redirect_uris` -> `redirectUris`.
fn lower_camel(snake: &str) -> String {
    snake.to_lower_camel_case()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_masks() {
        let paths = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (fields, violations) = parse_update_mask(&paths(&["name", "scopes", "name"]));
        assert_eq!(fields.into_iter().collect::<Vec<_>>(), ["name", "scopes"]);
        assert!(violations.is_empty());
        let (_, violations) = parse_update_mask(&paths(&["client_id", "bogus"]));
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["update_mask.paths[0]", "update_mask.paths[1]"]);
        assert!(violations[0].description.contains("cannot be changed"));
        assert!(violations[1].description.contains("unknown field"));
        let (_, violations) = parse_update_mask(&[]);
        assert_eq!(violations[0].field, "update_mask");
    }

    #[test]
    fn mask_hints_name_the_json_spelling_too() {
        let paths = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (fields, violations) =
            parse_update_mask(&paths(&["bogus", "redirectUris", "clientId"]));
        assert!(fields.is_empty());
        let [bogus, camel, immutable_camel] = &violations[..] else {
            panic!("{violations:?}");
        };
        assert!(
            bogus.description.contains(
                "updatable: name, description, redirect_uris (redirectUris in JSON), scopes, \
                 active, first_party (firstParty in JSON)"
            ),
            "{}",
            bogus.description
        );
        assert!(
            camel
                .description
                .contains("snake_case on the wire (redirect_uris)"),
            "{}",
            camel.description
        );
        assert!(
            immutable_camel.description.contains("(client_id)"),
            "{}",
            immutable_camel.description
        );
        let (_, violations) = parse_update_mask(&[]);
        assert!(
            violations[0]
                .description
                .contains("first_party (firstParty in JSON)"),
            "{}",
            violations[0].description
        );
        for (snake, camel) in [
            ("name", "name"),
            ("redirect_uris", "redirectUris"),
            ("client_secret_hint", "clientSecretHint"),
        ] {
            assert_eq!(lower_camel(snake), camel);
        }
    }
}
