//! The route table of the HTTP/JSON door: one row per RPC, as the contract
//! pins it. The router matches requests against it and the OpenAPI document
//! is generated from it, so the two cannot drift apart.

use http::Method;

/// The RPCs the door serves, each behind exactly one route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rpc {
    CreateApplication,
    GetApplication,
    ListApplications,
    UpdateApplication,
    DeleteApplication,
    UndeleteApplication,
    RotateClientSecret,
    VerifyClientCredentials,
    LookupClient,
    MatchRedirectUri,
    VerifyClientAssertion,
    CreateRegistrationToken,
    ListRegistrationTokens,
    RevokeRegistrationToken,
    /// Server-Sent Events, not one JSON answer (`http/sse.rs`).
    WatchApplications,
}

/// Where a route's request message comes from, besides its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// Nothing: path (and query) only.
    None,
    /// The request message itself.
    Request,
    /// The request's `application` field (UpdateApplication).
    Application,
}

/// The type of a query parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryType {
    Integer,
    Boolean,
    String,
    /// A FieldMask: one comma-separated string of paths.
    FieldMask,
}

/// A query parameter: a scalar field of the request message, by its JSON
/// name (the proto name is accepted too).
#[derive(Clone, Copy, Debug)]
pub struct Query {
    pub json: &'static str,
    pub proto: &'static str,
    pub ty: QueryType,
}

/// One route.
#[derive(Clone, Debug)]
pub struct Route {
    pub method: Method,
    /// Path template: literal segments, `{field}` parameters, and an
    /// optional `:verb` after the last segment.
    pub template: &'static str,
    pub rpc: Rpc,
    pub body: Body,
    pub query: &'static [Query],
}

const ORG_APPS: &str = "/v1/organizations/{organization_id}/applications";
const ORG_TOKENS: &str = "/v1/organizations/{organization_id}/registrationTokens";

const LIST_QUERY: &[Query] = &[
    Query {
        json: "pageSize",
        proto: "page_size",
        ty: QueryType::Integer,
    },
    Query {
        json: "pageToken",
        proto: "page_token",
        ty: QueryType::String,
    },
    Query {
        json: "showDeleted",
        proto: "show_deleted",
        ty: QueryType::Boolean,
    },
];

/// WatchApplications' request: `Last-Event-ID` may carry the token too.
const WATCH_QUERY: &[Query] = &[
    Query {
        json: "resumeToken",
        proto: "resume_token",
        ty: QueryType::String,
    },
    Query {
        json: "initialSnapshot",
        proto: "initial_snapshot",
        ty: QueryType::Boolean,
    },
];

/// ListRegistrationTokens pages as ListApplications does, without
/// `showDeleted`.
const TOKENS_QUERY: &[Query] = LIST_QUERY.split_at(2).0;

const UPDATE_QUERY: &[Query] = &[
    Query {
        json: "updateMask",
        proto: "update_mask",
        ty: QueryType::FieldMask,
    },
    Query {
        json: "etag",
        proto: "etag",
        ty: QueryType::String,
    },
];

fn route(method: Method, template: &'static str, rpc: Rpc, body: Body) -> Route {
    Route {
        method,
        template,
        rpc,
        body,
        query: &[],
    }
}

/// Every route, in the contract's order.
pub fn table() -> Vec<Route> {
    use Rpc::*;
    const ORG_APP: &str = "/v1/organizations/{organization_id}/applications/{id}";
    vec![
        route(Method::POST, ORG_APPS, CreateApplication, Body::Request),
        route(Method::GET, ORG_APP, GetApplication, Body::None),
        Route {
            query: LIST_QUERY,
            ..route(Method::GET, ORG_APPS, ListApplications, Body::None)
        },
        Route {
            query: UPDATE_QUERY,
            ..route(Method::PATCH, ORG_APP, UpdateApplication, Body::Application)
        },
        route(Method::DELETE, ORG_APP, DeleteApplication, Body::None),
        route(
            Method::POST,
            "/v1/organizations/{organization_id}/applications/{id}:undelete",
            UndeleteApplication,
            Body::None,
        ),
        route(
            Method::POST,
            "/v1/organizations/{organization_id}/applications/{id}:rotateSecret",
            RotateClientSecret,
            Body::Request,
        ),
        route(
            Method::POST,
            "/v1/clients:verifyCredentials",
            VerifyClientCredentials,
            Body::Request,
        ),
        route(
            Method::GET,
            "/v1/clients/{client_id}",
            LookupClient,
            Body::None,
        ),
        route(
            Method::POST,
            "/v1/clients:matchRedirectUri",
            MatchRedirectUri,
            Body::Request,
        ),
        route(
            Method::POST,
            "/v1/clients:verifyAssertion",
            VerifyClientAssertion,
            Body::Request,
        ),
    ]
    .into_iter()
    .chain(token_routes())
    .chain(watch_routes())
    .collect()
}

/// The change feed's two routes (contract section 9): one organization's
/// (any member), every organization's (the watch scope).
fn watch_routes() -> [Route; 2] {
    let watch = |template| Route {
        query: WATCH_QUERY,
        ..route(Method::GET, template, Rpc::WatchApplications, Body::None)
    };
    [
        watch("/v1/organizations/{organization_id}/applications:watch"),
        watch("/v1/applications:watch"),
    ]
}

/// The registration tokens' routes (contract section 8).
fn token_routes() -> [Route; 3] {
    use Rpc::*;
    [
        route(
            Method::POST,
            ORG_TOKENS,
            CreateRegistrationToken,
            Body::Request,
        ),
        Route {
            query: TOKENS_QUERY,
            ..route(Method::GET, ORG_TOKENS, ListRegistrationTokens, Body::None)
        },
        route(
            Method::DELETE,
            "/v1/organizations/{organization_id}/registrationTokens/{id}",
            RevokeRegistrationToken,
            Body::None,
        ),
    ]
}

impl Rpc {
    /// The RPC's name, as the access table and telemetry know it.
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateApplication => "CreateApplication",
            Self::GetApplication => "GetApplication",
            Self::ListApplications => "ListApplications",
            Self::UpdateApplication => "UpdateApplication",
            Self::DeleteApplication => "DeleteApplication",
            Self::UndeleteApplication => "UndeleteApplication",
            Self::RotateClientSecret => "RotateClientSecret",
            Self::VerifyClientCredentials => "VerifyClientCredentials",
            Self::LookupClient => "LookupClient",
            Self::MatchRedirectUri => "MatchRedirectUri",
            Self::VerifyClientAssertion => "VerifyClientAssertion",
            Self::CreateRegistrationToken => "CreateRegistrationToken",
            Self::ListRegistrationTokens => "ListRegistrationTokens",
            Self::RevokeRegistrationToken => "RevokeRegistrationToken",
            Self::WatchApplications => "WatchApplications",
        }
    }

    /// Whether the route answers with a stream of events rather than one
    /// message.
    pub fn is_stream(self) -> bool {
        self == Self::WatchApplications
    }
}

impl Route {
    /// The route's OpenAPI operation id: its RPC's name, unique but for
    /// WatchApplications' route of every organization.
    pub fn operation_id(&self) -> &'static str {
        match self.rpc {
            Rpc::WatchApplications if !self.template.contains("{organization_id}") => {
                "WatchAllApplications"
            }
            rpc => rpc.name(),
        }
    }
}

/// A path template, split once.
#[derive(Clone, Debug)]
pub struct Template {
    segments: Vec<Segment>,
    verb: Option<&'static str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Param(&'static str),
}

impl Template {
    pub fn parse(template: &'static str) -> Self {
        let (path, verb) = match template.rsplit_once('/') {
            Some((_, last)) if last.contains(':') => {
                let at = template.rfind(':').unwrap_or(template.len());
                (&template[..at], Some(&template[at + 1..]))
            }
            _ => (template, None),
        };
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name),
                    None => Segment::Literal(s),
                },
            )
            .collect();
        Self { segments, verb }
    }

    /// The parameters' names, in path order.
    pub fn params(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(p) => Some(*p),
            Segment::Literal(_) => None,
        })
    }

    /// The raw (still percent-encoded) values of the parameters when `path`
    /// matches.
    pub fn matches<'p>(&self, path: &'p str) -> Option<Vec<(&'static str, &'p str)>> {
        let mut path = path.strip_prefix('/')?;
        match self.verb {
            Some(verb) => path = path.strip_suffix(verb)?.strip_suffix(':')?,
            // A `:` in the last segment names a verb (one not percent-encoded
            // as `%3A`): the route of that verb, not this one, serves it, so
            // that a path's routes (and its `Allow`) are only its verb's.
            None if path.rsplit('/').next().is_some_and(|l| l.contains(':')) => return None,
            None => {}
        }
        let mut parts = path.split('/');
        let mut params = Vec::new();
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(l) if *l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(_) if part.is_empty() => return None,
                Segment::Param(name) => params.push((*name, part)),
            }
        }
        parts.next().is_none().then_some(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_their_paths_only() {
        let get = Template::parse("/v1/organizations/{organization_id}/applications/{id}");
        assert_eq!(
            get.matches("/v1/organizations/acme/applications/app_1"),
            Some(vec![("organization_id", "acme"), ("id", "app_1")])
        );
        for other in [
            "/v1/organizations/acme/applications",
            "/v1/organizations/acme/applications/",
            "/v1/organizations/acme/applications/app_1/x",
            "/v1/organizations//applications/app_1",
            "v1/organizations/acme/applications/app_1",
        ] {
            assert_eq!(get.matches(other), None, "{other}");
        }
        let undelete =
            Template::parse("/v1/organizations/{organization_id}/applications/{id}:undelete");
        assert_eq!(
            undelete.matches("/v1/organizations/acme/applications/app_1:undelete"),
            Some(vec![("organization_id", "acme"), ("id", "app_1")])
        );
        assert_eq!(
            undelete.matches("/v1/organizations/acme/applications/app_1"),
            None
        );
        assert_eq!(
            undelete.matches("/v1/organizations/acme/applications/:undelete"),
            None
        );
        // A verb is not an id: GET of `{id}:undelete` is no GetApplication.
        assert_eq!(
            get.matches("/v1/organizations/acme/applications/app_1:undelete"),
            None
        );
        assert_eq!(
            get.matches("/v1/organizations/acme/applications/app_1%3Ax"),
            Some(vec![("organization_id", "acme"), ("id", "app_1%3Ax")])
        );
        assert_eq!(
            undelete.matches("/v1/organizations/acme/applications/a:b:undelete"),
            Some(vec![("organization_id", "acme"), ("id", "a:b")])
        );
        let verify = Template::parse("/v1/clients:verifyCredentials");
        assert_eq!(
            verify.matches("/v1/clients:verifyCredentials"),
            Some(vec![])
        );
        assert_eq!(verify.matches("/v1/clients"), None);
        let lookup = Template::parse("/v1/clients/{client_id}");
        assert_eq!(lookup.params().collect::<Vec<_>>(), ["client_id"]);
        assert_eq!(lookup.matches("/v1/clients:verifyCredentials"), None);
    }

    #[test]
    fn every_rpc_has_one_route_and_the_access_table_knows_it() {
        let table = table();
        for route in &table {
            assert!(crate::auth::methods::access_of(route.rpc.name()).is_some());
            // WatchApplications has two: one organization's, every one's.
            let routes = if route.rpc.is_stream() { 2 } else { 1 };
            let same = table.iter().filter(|r| r.rpc == route.rpc).count();
            assert_eq!(same, routes, "{}", route.rpc.name());
        }
        let methods = crate::auth::methods::METHODS.len();
        assert_eq!(table.len(), methods + 1);
        let mut ids: Vec<_> = table.iter().map(Route::operation_id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), table.len(), "operation ids are unique");
    }

    #[test]
    fn the_watch_routes_are_not_list_or_get() {
        let org = Template::parse("/v1/organizations/{organization_id}/applications:watch");
        assert_eq!(
            org.matches("/v1/organizations/acme/applications:watch"),
            Some(vec![("organization_id", "acme")])
        );
        let list = Template::parse(ORG_APPS);
        assert_eq!(
            list.matches("/v1/organizations/acme/applications:watch"),
            None
        );
        let all = Template::parse("/v1/applications:watch");
        assert_eq!(all.matches("/v1/applications:watch"), Some(vec![]));
        assert_eq!(all.matches("/v1/applications"), None);
    }
}
