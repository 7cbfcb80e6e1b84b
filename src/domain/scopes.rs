//! The scope catalog: what applications may be granted, which of those only
//! an OWNER may grant, and the check of a requested list against it.

use std::collections::HashMap;

use super::refusal::FieldViolation;

/// Scopes only an OWNER may grant to an application.
pub const OWNER_ONLY_SCOPES: &[&str] = &["admin:organization", "admin:all"];

/// The default scope catalog, as `OAUTH_APPS_SCOPES` would write it (space
/// separated): what applications may be granted unless it says otherwise.
pub const DEFAULT_SCOPE_LIST: &str = "read:user write:user read:organization write:organization \
read:members write:members read:webhooks write:webhooks admin:organization admin:all";

/// The scopes an application may be granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeCatalog {
    scopes: Vec<String>,
}

impl Default for ScopeCatalog {
    fn default() -> Self {
        Self {
            scopes: DEFAULT_SCOPE_LIST.split(' ').map(str::to_owned).collect(),
        }
    }
}

impl ScopeCatalog {
    /// Parses a space- or comma-separated list. Each scope must be a valid
    /// RFC 6749 §3.3 scope token.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut scopes: Vec<String> = Vec::new();
        for s in list.split([' ', ',', '\n', '\t']).filter(|s| !s.is_empty()) {
            if !is_scope_token(s) {
                return Err(format!("{s:?} is not a valid OAuth scope token"));
            }
            if !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_owned());
            }
        }
        if scopes.is_empty() {
            return Err("the scope catalog must name at least one scope".into());
        }
        Ok(Self { scopes })
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

pub fn is_owner_only_scope(scope: &str) -> bool {
    OWNER_ONLY_SCOPES.contains(&scope)
}

pub fn validate_scopes(
    scopes: &[String],
    catalog: &ScopeCatalog,
    field: &str,
    out: &mut Vec<FieldViolation>,
) {
    if scopes.is_empty() {
        out.push(FieldViolation::new(field, "at least one scope is required"));
    }
    // More than the catalog holds cannot be valid: said once, not per item.
    let most = catalog.scopes().len();
    if scopes.len() > most {
        out.push(FieldViolation::new(
            field,
            format!(
                "at most {most} scopes (the catalog's size) are allowed (has {})",
                scopes.len()
            ),
        ));
        return;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, scope) in scopes.iter().enumerate() {
        let path = format!("{field}[{i}]");
        if let Some(first) = seen.get(scope.as_str()) {
            out.push(FieldViolation::new(
                path,
                format!("duplicate of {field}[{first}]"),
            ));
            continue;
        }
        seen.insert(scope, i);
        if !catalog.contains(scope) {
            out.push(FieldViolation::new(
                path,
                format!(
                    "unknown scope {:?}; allowed: {}",
                    truncate(scope, 100),
                    catalog.scopes().join(" ")
                ),
            ));
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn scopes() {
        let catalog = ScopeCatalog::default();
        let mut out = vec![];
        validate_scopes(
            &strings(&["read:user", "admin:all"]),
            &catalog,
            "scopes",
            &mut out,
        );
        assert!(out.is_empty());

        let mut out = vec![];
        validate_scopes(&[], &catalog, "scopes", &mut out);
        assert_eq!(
            out,
            vec![FieldViolation::new(
                "scopes",
                "at least one scope is required"
            )]
        );

        let mut out = vec![];
        validate_scopes(
            &strings(&["read:user", "nope", "read:user"]),
            &catalog,
            "scopes",
            &mut out,
        );
        let fields: Vec<_> = out.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["scopes[1]", "scopes[2]"]);
        assert!(out[1].description.contains("duplicate of scopes[0]"));
    }

    #[test]
    fn default_scope_list_matches_the_catalog() {
        assert_eq!(
            ScopeCatalog::parse(DEFAULT_SCOPE_LIST).unwrap(),
            ScopeCatalog::default()
        );
    }

    #[test]
    fn scope_catalog_parsing() {
        let c = ScopeCatalog::parse("a:b, c  d a:b").unwrap();
        assert_eq!(c.scopes(), ["a:b", "c", "d"]);
        assert!(ScopeCatalog::parse("  ").is_err());
        assert!(ScopeCatalog::parse("ok bad\"quote").is_err());
    }
}
