//! What the rules answer when they refuse a request: every bad field at
//! once, or the one state that stops it. The API edge turns these into
//! `google.rpc.BadRequest` field violations and statuses.

/// One problem with one field of a request, such as `redirect_uris[1]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// A request the rules refuse, with what the caller can do about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Bad fields, every one of the request at once.
    Invalid(Vec<FieldViolation>),
    /// The application is soft-deleted: undelete it first.
    Deleted,
    /// The application has no client secret to rotate (a public client).
    NoSecret,
    /// The caller's etag is stale: read the application again.
    EtagMismatch,
}

impl From<Vec<FieldViolation>> for Refusal {
    fn from(v: Vec<FieldViolation>) -> Self {
        Self::Invalid(v)
    }
}

impl Refusal {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}
