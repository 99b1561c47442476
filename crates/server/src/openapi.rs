//! The OpenAPI 3.1 document served at `GET /openapi.json`.
//!
//! It is derived, never written by hand: paths and parameters come from each handler's
//! `#[utoipa::path]`, which is also what registers the route (`utoipa_axum::routes!`), so a
//! route cannot be served without being documented; bodies come from the wire types'
//! `ToSchema` with the limits their validation enforces. What every operation shares — the OMS
//! error body on every error status, and which operations need credentials — is added here from
//! the router each operation belongs to, not repeated on each handler.

use std::sync::LazyLock;

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa::OpenApi as _;

use crate::api::ErrorBody;
use crate::app::{authenticated_routes, public_routes};

/// Name of the `X-Auth-Token` security scheme.
const TOKEN_SCHEME: &str = "x_auth_token";
/// Name of the SDK-HMAC-SHA256 (AK/SK) security scheme.
const SIGNATURE_SCHEME: &str = "sdk_hmac_sha256";

/// Error statuses every authenticated operation may answer, with what they mean there.
const AUTHENTICATED_ERRORS: [(&str, &str); 8] = [
    ("400", "A field, parameter or state refused (OMS.0001, OMS.0002, OMS.0067, OMS.0078, OMS.006x, OMS.1009 for tasks)"),
    ("401", "No, or wrong, X-Auth-Token or signature (APIGW.0301)"),
    ("403", "The credentials belong to another project (OMS.0206)"),
    ("404", "No such task group (OMS.1009)"),
    ("408", "The request took longer than the server's timeout"),
    ("429", "Too many requests (APIGW.0308)"),
    ("500", "Internal error; the cause is in the server log only"),
    ("503", "A dependency is unavailable (OMS.2004)"),
];
/// Error statuses every public operation may answer.
const PUBLIC_ERRORS: [(&str, &str); 3] = [
    ("400", "A parameter refused (OMS.0001)"),
    ("408", "The request took longer than the server's timeout"),
    ("500", "Internal error; the cause is in the server log only"),
];

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "tern",
        description = "Object-storage migration speaking the Huawei Cloud OMS API v2. \
            Errors answer `{\"error_code\", \"error_msg\"}` with OMS codes.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "tasks", description = "Migration tasks"),
        (name = "taskgroups", description = "Task groups"),
        (name = "synctasks", description = "Sync tasks and the S3 notifications that feed them"),
        (name = "objectstorage", description = "Vendors and regions"),
        (name = "versions", description = "API versions"),
        (name = "operations", description = "Served beyond OMS: this document and metrics"),
        (name = "privacy", description = "The privacy-agreement record"),
        (name = "identity", description = "Served beyond OMS: who the caller is"),
        (name = "console", description = "Served beyond OMS: the web console's static files")
    )
)]
struct ApiDoc;

/// The document, built once from the routers.
pub fn openapi() -> &'static OpenApi {
    static DOCUMENT: LazyLock<OpenApi> = LazyLock::new(build);
    &DOCUMENT
}

/// The document as JSON text; `GET /openapi.json` sends these bytes.
pub fn openapi_json() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        // Serializing a tree of strings, numbers and maps cannot fail.
        serde_json::to_string(openapi()).unwrap_or_else(|_| "{}".to_owned())
    });
    &TEXT
}

fn build() -> OpenApi {
    let mut document = ApiDoc::openapi();
    let mut authenticated = authenticated_routes().into_openapi();
    for operation in operations(&mut authenticated) {
        operation.security = Some(vec![
            SecurityRequirement::new(TOKEN_SCHEME, Vec::<String>::new()),
            SecurityRequirement::new(SIGNATURE_SCHEME, Vec::<String>::new()),
        ]);
        add_error_responses(operation, &AUTHENTICATED_ERRORS);
    }
    let mut public = public_routes().into_openapi();
    for operation in operations(&mut public) {
        // An empty list overrides nothing at the top level but states "no credentials".
        operation.security = Some(Vec::new());
        add_error_responses(operation, &PUBLIC_ERRORS);
    }
    document.merge(authenticated);
    document.merge(public);
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        TOKEN_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Auth-Token",
            "A token from `tern admin token create`",
        ))),
    );
    components.add_security_scheme(
        SIGNATURE_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Authorization",
            "`SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…` as the Huawei Cloud SDKs \
             sign with an AK/SK from `tern admin credential create` (with `X-Sdk-Date`)",
        ))),
    );
    document
}

fn operations(document: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    document.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.options.as_mut(),
            item.head.as_mut(),
            item.patch.as_mut(),
            item.trace.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

fn add_error_responses(operation: &mut Operation, errors: &[(&str, &str)]) {
    for (status, description) in errors {
        let response = ResponseBuilder::new()
            .description(*description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert(response.into());
    }
}
