//! The API's OpenAPI 3.1 description, built from the route table
//! ([`super::routes`]): every API route carries the description of each of
//! its methods ([`Op`]) beside its handlers, so the router and the document
//! are made from one list and a route cannot be added to one alone (a test
//! in `tests/api/openapi.rs` also checks the served document against the
//! router, method by method). Served, without personal data and without
//! credentials, at `GET /api/v1/openapi.json`.
//!
//! This module holds the small vocabulary the descriptions are written in
//! (parameters, bodies, answers and the error answers with the one error
//! shape), the shared components (the error schema, the two security
//! schemes) and the handler that serves the document. The descriptions
//! themselves are in `operations`; the schemas of bodies and answers in
//! `schemas`. Not here: any HTML page (the UI is not part of the API).

use axum::Json;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder,
    PathItem, PathsBuilder, Ref, RefOr, Required, Schema,
};

pub mod operations;
pub mod schemas;

/// The name of the error schema in `components.schemas`.
const ERROR_SCHEMA: &str = "Error";

/// The description of one method of one route.
pub struct Op {
    /// The HTTP method it describes.
    pub method: HttpMethod,
    /// The OpenAPI operation.
    operation: OperationBuilder,
    /// The error statuses it can answer with the error shape.
    errors: Vec<u16>,
    /// Whether it needs a caller (bearer token or session cookie).
    guarded: bool,
}

/// Starts the description of a method: its operation id (unique in the
/// document, what a generated client names the call) and a one-line summary.
pub fn op(method: HttpMethod, id: &str, tag: &str, summary: &str) -> Op {
    Op {
        method,
        operation: OperationBuilder::new()
            .operation_id(Some(id))
            .tag(tag)
            .summary(Some(summary)),
        errors: Vec::new(),
        guarded: true,
    }
}

/// A `GET` (see [`op`]).
pub fn get(id: &str, tag: &str, summary: &str) -> Op {
    op(HttpMethod::Get, id, tag, summary)
}

/// A `POST` (see [`op`]).
pub fn post(id: &str, tag: &str, summary: &str) -> Op {
    op(HttpMethod::Post, id, tag, summary)
}

/// A `PUT` (see [`op`]).
pub fn put(id: &str, tag: &str, summary: &str) -> Op {
    op(HttpMethod::Put, id, tag, summary)
}

/// A `PATCH` (see [`op`]).
pub fn patch(id: &str, tag: &str, summary: &str) -> Op {
    op(HttpMethod::Patch, id, tag, summary)
}

/// A `DELETE` (see [`op`]).
pub fn delete(id: &str, tag: &str, summary: &str) -> Op {
    op(HttpMethod::Delete, id, tag, summary)
}

/// A plain string schema.
pub fn string() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).into()
}

/// A string schema with one of `values`.
pub fn one_of(values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .into()
}

/// A non-negative integer schema.
pub fn count() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .into()
}

/// A boolean schema.
pub fn boolean() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Boolean).into()
}

/// Any JSON object (an answer whose inner shape is described in the
/// README rather than here).
pub fn object() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Object).into()
}

/// Binary content (a WAV, a ZIP, a signed file).
pub fn binary() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .content_media_type("application/octet-stream")
        .into()
}

/// A reference to a schema of `components.schemas`.
pub fn named(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

impl Op {
    /// Reachable without credentials (sign-in, liveness, the document
    /// itself, the signed webhook).
    pub fn public(mut self) -> Self {
        self.guarded = false;
        self
    }

    /// A longer description.
    pub fn describe(mut self, text: &str) -> Self {
        self.operation = self.operation.description(Some(text));
        self
    }

    /// A path parameter (every one is a string; a malformed id names
    /// nothing, so it is answered 404 like a missing one).
    pub fn path(mut self, name: &str, description: &str) -> Self {
        self.operation = self.operation.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(string())),
        );
        self
    }

    /// A query parameter.
    pub fn query(
        mut self,
        name: &str,
        required: bool,
        schema: RefOr<Schema>,
        description: &str,
    ) -> Self {
        self.operation = self.operation.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(if required {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(description))
                .schema(Some(schema)),
        );
        self
    }

    /// A header parameter.
    pub fn header(mut self, name: &str, description: &str) -> Self {
        self.operation = self.operation.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(string())),
        );
        self
    }

    /// `purpose=` (required, ACC-2) and `reason=` (a ticket reference) of
    /// every read of personal data.
    pub fn purpose(self) -> Self {
        self.query(
            "purpose",
            true,
            string(),
            "Why the data is read (ACC-2), e.g. `customer_service`; a read without one is refused with 400.",
        )
        .query(
            "reason",
            false,
            string(),
            "A ticket reference such as `INC-12345` (a maintainer must give one, ACC-1); kept in the audit log.",
        )
    }

    /// A required body of `media_type`.
    pub fn body(mut self, media_type: &str, schema: RefOr<Schema>) -> Self {
        self.operation = self.operation.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    media_type,
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .build(),
        ));
        self
    }

    /// An optional JSON body (when sent, as for [`Op::json`]).
    pub fn optional_json(mut self, schema: RefOr<Schema>) -> Self {
        self.operation = self.operation.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::False))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .build(),
        ));
        self.errors(&[400, 413, 415])
    }

    /// A required JSON body (sent as `Content-Type: application/json`,
    /// else 415; unknown fields refused with 400).
    pub fn json(self, schema: RefOr<Schema>) -> Self {
        self.body("application/json", schema)
            .errors(&[400, 413, 415])
    }

    /// A successful answer with a body of `media_type`.
    pub fn answer(
        mut self,
        status: u16,
        description: &str,
        media_type: &str,
        schema: RefOr<Schema>,
    ) -> Self {
        self.operation = self.operation.response(
            status.to_string(),
            ResponseBuilder::new().description(description).content(
                media_type,
                ContentBuilder::new().schema(Some(schema)).build(),
            ),
        );
        self
    }

    /// A successful answer in one of several media types (as asked for).
    pub fn answers(
        mut self,
        status: u16,
        description: &str,
        contents: &[(&str, RefOr<Schema>)],
    ) -> Self {
        let mut response = ResponseBuilder::new().description(description);
        for (media_type, schema) in contents {
            response = response.content(
                *media_type,
                ContentBuilder::new().schema(Some(schema.clone())).build(),
            );
        }
        self.operation = self.operation.response(status.to_string(), response);
        self
    }

    /// A successful JSON answer.
    pub fn ok(self, status: u16, description: &str, schema: RefOr<Schema>) -> Self {
        self.answer(status, description, "application/json", schema)
    }

    /// A successful answer without a body.
    pub fn empty(mut self, status: u16, description: &str) -> Self {
        self.operation = self.operation.response(
            status.to_string(),
            ResponseBuilder::new().description(description),
        );
        self
    }

    /// Error statuses this method can answer, each with the error shape.
    pub fn errors(mut self, statuses: &[u16]) -> Self {
        for status in statuses {
            if !self.errors.contains(status) {
                self.errors.push(*status);
            }
        }
        self
    }

    /// The finished operation: the error answers added, and the security
    /// requirement of a guarded one (with the 401 and 403 every guarded
    /// method can give: no or a bad credential; the access decision or a
    /// session's missing CSRF token).
    fn build(self) -> Operation {
        let mut errors = self.errors;
        if self.guarded {
            for status in [401, 403] {
                if !errors.contains(&status) {
                    errors.push(status);
                }
            }
        }
        errors.sort_unstable();
        let mut operation = self.operation;
        for status in errors {
            operation = operation.response(status.to_string(), error_response(status));
        }
        if self.guarded {
            operation = operation
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .security(SecurityRequirement::new("session", Vec::<String>::new()));
        }
        operation.build()
    }
}

/// An error answer: the one error shape, with the headers that go with its
/// status (see `crate::error`).
fn error_response(status: u16) -> utoipa::openapi::Response {
    let description = match status {
        400 => {
            "The request is malformed: a missing or unknown parameter or field, or a value of the wrong type."
        }
        401 => {
            "No credential, or one that is not valid (`unauthenticated`, `login_failed`, `totp_required`)."
        }
        403 => {
            "The access decision refused the caller, or a session's CSRF token is missing (`csrf_failed`)."
        }
        404 => "Nothing by that id that the caller may know of.",
        409 => "The request conflicts with what is stored or with the resource's state.",
        410 => "Erased: only its tombstone remains (`error.tombstone`).",
        413 => "The body is larger than the configured limit.",
        415 => "The body was not sent with the media type this operation takes.",
        416 => "The range lies outside the content.",
        422 => "Well-formed, but a value is not acceptable.",
        429 => "Too many attempts; try again after `Retry-After` seconds.",
        500 => "The operator's error: an opaque code; the cause is in the server's log.",
        503 => "Busy (too many password checks at once); try again after `Retry-After` seconds.",
        _ => "An error.",
    };
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(named(ERROR_SCHEMA)))
            .build(),
    );
    let header = match status {
        401 => Some(("WWW-Authenticate", "`Bearer`.")),
        429 | 503 => Some(("Retry-After", "Seconds to wait.")),
        416 => Some(("Content-Range", "`bytes */LENGTH`.")),
        _ => None,
    };
    if let Some((name, description)) = header {
        response = response.header(
            name,
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some(description))
                .build(),
        );
    }
    response.build()
}

/// The whole document: the documented routes of [`super::routes`], the
/// error schema and the security schemes. Holds no data of the register.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for spec in super::routes() {
        for op in spec.doc {
            paths = paths.path(spec.path, PathItem::new(op.method.clone(), op.build()));
        }
    }
    let components = schemas::register(
        ComponentsBuilder::new()
            .schema(ERROR_SCHEMA, schemas::error())
            .security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "An API token from `kirjuri token create` or `POST /api/v1/tokens`.",
                        ))
                        .build(),
                ),
            )
            .security_scheme(
                "session",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    "kirjuri_session",
                    "The web UI's session cookie (`POST /api/v1/session`); every POST, PUT, PATCH and DELETE with it must also send the session's CSRF token in `X-CSRF-Token`.",
                ))),
            ),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Kirjuri")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Kirjuri's HTTP API: a GDPR-compliant register of customer contacts and their recordings. Errors are `{\"error\": {\"code\", \"message\"}}` with a fitting status.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

/// `GET /api/v1/openapi.json`: the document above, the same for every
/// caller.
pub async fn serve() -> Response {
    Json(document()).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use http_body_util::BodyExt;
    use kirjuri_app::app::Kirjuri;
    use kirjuri_app::config::Config;
    use kirjuri_core::clock::SystemClock;
    use tower::ServiceExt;

    /// The machine endpoints outside `/api/` that the document describes.
    const MACHINE: &[&str] = &["/healthz", "/metrics"];

    fn is_api(path: &str) -> bool {
        path.starts_with("/api/") || MACHINE.contains(&path)
    }

    /// A path with every parameter filled in.
    fn concrete(path: &str) -> String {
        path.split('/')
            .map(|part| match part {
                p if p.starts_with('{') => "0192f5c4-8f5e-7000-8000-000000000001".to_owned(),
                p => p.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    async fn app() -> (tempfile::TempDir, Kirjuri) {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data: dir.path().to_path_buf(),
            ..Config::default()
        };
        let app = Kirjuri::open(config, Arc::new(SystemClock)).await.unwrap();
        (dir, app)
    }

    async fn served_document(app: &Kirjuri) -> serde_json::Value {
        let request = Request::get("/api/v1/openapi.json")
            .body(Body::empty())
            .unwrap();
        let response = super::super::router(app.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// The methods the served document gives each path.
    fn documented(document: &serde_json::Value) -> BTreeMap<String, BTreeSet<String>> {
        document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(path, item)| {
                let methods = item
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| {
                        matches!(
                            k.as_str(),
                            "get"
                                | "put"
                                | "post"
                                | "delete"
                                | "patch"
                                | "head"
                                | "options"
                                | "trace"
                        )
                    })
                    .map(|k| k.to_uppercase())
                    .collect();
                (path.clone(), methods)
            })
            .collect()
    }

    #[tokio::test]
    async fn the_served_document_and_the_router_agree_on_every_api_route_and_method() {
        // Arrange
        let (_dir, app) = app().await;
        let document = served_document(&app).await;
        let documented = documented(&document);
        let table: BTreeSet<&str> = super::super::routes().iter().map(|s| s.path).collect();

        // Assert: every API route of the table is documented, no page is,
        // and nothing is documented that the table lacks.
        for path in &table {
            assert_eq!(
                documented.contains_key(*path),
                is_api(path),
                "{path}: an API route must be in the document, a page must not"
            );
        }
        for path in documented.keys() {
            assert!(
                table.contains(path.as_str()),
                "{path} is documented but not routed"
            );
        }
        assert!(documented.len() >= 50, "{} paths", documented.len());

        // Assert: method by method, what the router answers (anything but
        // 405) is what the document lists. An anonymous request is refused
        // (401) or answered by a public handler, never 405, when the method
        // is routed; axum answers 405 before any extractor otherwise.
        let router = super::super::router(app.clone());
        for (path, methods) in &documented {
            for method in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ] {
                let request = Request::builder()
                    .method(method.clone())
                    .uri(concrete(path))
                    .body(Body::empty())
                    .unwrap();
                let status = router.clone().oneshot(request).await.unwrap().status();
                let routed = status != StatusCode::METHOD_NOT_ALLOWED;
                assert_eq!(
                    routed,
                    methods.contains(method.as_str()),
                    "{method} {path}: the router answers {status}, the document lists {methods:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn every_guarded_operation_names_its_security_and_every_error_has_the_one_shape() {
        let (_dir, app) = app().await;
        let document = served_document(&app).await;
        assert_eq!(document["openapi"], "3.1.0");
        let mut ids = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{method} {path} has no success answer"
                );
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/Error",
                            "{method} {path} {status}"
                        );
                    }
                }
                if operation.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path}");
                }
            }
        }
        let error = &document["components"]["schemas"]["Error"];
        assert_eq!(error["required"], serde_json::json!(["error"]));
        assert_eq!(
            error["properties"]["error"]["required"],
            serde_json::json!(["code", "message"])
        );
    }

    #[test]
    fn the_document_refers_only_to_schemas_it_defines() {
        let text = serde_json::to_string(&super::document()).unwrap();
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        let defined = document["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                defined.contains_key(name),
                "{name} is referred to but not defined"
            );
        }
    }
}
