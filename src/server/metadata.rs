//! A bound on the metadata (HTTP/2 headers) of one call: a call over it is
//! refused with RESOURCE_EXHAUSTED on its own, and the other calls on its
//! connection carry on.

use http::{Request, Response};
use tonic::{Status, body::Body};
use tower_http::validate_request::ValidateRequestHeaderLayer;

use crate::error::Error;

use crate::http::header_bytes as size;

// The validator's signature is tower-http's: the refusal is a response.
#[allow(clippy::result_large_err)]
pub fn layer(
    max_bytes: usize,
) -> ValidateRequestHeaderLayer<impl FnMut(&mut Request<Body>) -> Result<(), Response<Body>> + Clone>
{
    ValidateRequestHeaderLayer::custom(move |req: &mut Request<Body>| {
        let size = size(req.headers());
        if size <= max_bytes {
            return Ok(());
        }
        Err(Status::from(Error::MetadataTooLarge {
            size,
            max: max_bytes,
        })
        .into_http())
    })
}
