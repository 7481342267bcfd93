//! The description of every API route's methods, one function per route,
//! called from the route table (`super::super::routes`) beside the
//! handlers it describes. Each lists the parameters, the body, every
//! success answer and every error status the handler can give (the error
//! shape and the 401/403 of a guarded method are added by [`Op`]).

use super::schemas::keys;
use utoipa::openapi::{RefOr, Schema};

use super::{
    Op, binary, boolean, count, delete, get, named, object, one_of, patch, post, put, string,
};

/// The error statuses of a read of one contact's personal data: a bad or
/// missing purpose (400), none by that id (404), erased (410), and 403 for
/// a restricted subject or an objected purpose.
const PERSONAL_READ: &[u16] = &[400, 404, 410];

/// `/healthz`.
pub fn healthz() -> Vec<Op> {
    vec![get("healthz", "operations", "Liveness").public().answer(
        200,
        "The server is up.",
        "text/plain",
        string(),
    )]
}

/// `/metrics`.
pub fn metrics() -> Vec<Op> {
    vec![
        get("metrics", "operations", "Prometheus metrics")
            .describe("OpenMetrics text for a maintainer's or admin's scraper: requests by route template, intake bytes, audit appends and checkpoint age, purge progress, outbox depth. No personal data in any label; 503 while the database is unreachable.")
            .answer(200, "The metrics.", "application/openmetrics-text", string())
            .errors(&[503]),
    ]
}

/// `/api/v1/openapi.json`.
pub fn openapi() -> Vec<Op> {
    vec![
        get("openapi", "operations", "This OpenAPI 3.1 document")
            .public()
            .ok(200, "The document.", object()),
    ]
}

/// `/api/v1/contacts`.
pub fn contacts() -> Vec<Op> {
    vec![
        get("searchContacts", "contacts", "Search contacts")
            .describe("By any of the identifiers (blind-indexed, exact after normalisation) and a time window; an agent sees only their own contacts.")
            .query("phone", false, string(), "A phone number, normalised to E.164.")
            .query("email", false, string(), "An email address.")
            .query("property_id", false, string(), "A property id.")
            .query("customer_number", false, string(), "A customer number.")
            .query("name", false, string(), "A customer's name.")
            .query("hetu", false, string(), "A personal identity code.")
            .query("agent", false, string(), "An agent's user name.")
            .query("service", false, string(), "A service.")
            .query("channel", false, super::schemas::channel(), "A channel.")
            .query("from", false, string(), "RFC 3339 or YYYY-MM-DD; contacts started at or after.")
            .query("to", false, string(), "RFC 3339 or YYYY-MM-DD; contacts started before.")
            .query("limit", false, count(), "At most this many.")
            .purpose()
            .ok(200, "The contacts found.", keys(&["contacts", "count", "withheld"]))
            .errors(&[400, 422]),
        post("createContact", "contacts", "Register a contact")
            .json(named("Contact"))
            .ok(201, "Registered; `Location` names it.", named("Created"))
            .ok(200, "The same `external_id` again: the existing contact.", named("Created"))
            .errors(&[409, 422]),
    ]
}

/// `/api/v1/contacts/{id}`.
pub fn contact() -> Vec<Op> {
    vec![
        get("readContact", "contacts", "Read a contact")
            .path("id", "The contact's id.")
            .purpose()
            .ok(
                200,
                "The contact as stored, with its objects.",
                keys(&["id", "channel"]),
            )
            .errors(PERSONAL_READ),
    ]
}

/// `/api/v1/contacts/{id}/history`.
pub fn contact_history() -> Vec<Op> {
    vec![
        get("contactHistory", "contacts", "A contact's earlier versions")
            .describe("Kept by rectifications; for those who handle data-subject requests (`purpose=data_subject_request`).")
            .path("id", "The contact's id.")
            .purpose()
            .ok(200, "The versions.", keys(&["contact", "versions"]))
            .errors(PERSONAL_READ),
    ]
}

/// `/api/v1/audit`.
pub fn audit() -> Vec<Op> {
    vec![
        get("readAudit", "audit", "Read the audit log, a page at a time")
            .query("contact", false, string(), "Events about this contact.")
            .query("user", false, string(), "Events by this user.")
            .query("action", false, string(), "Events of this action.")
            .query(
                "after",
                false,
                count(),
                "Events after this sequence number.",
            )
            .query("limit", false, count(), "At most this many.")
            .ok(200, "A page of events.", object())
            .errors(&[400, 422]),
    ]
}

/// The upload and download of one kind of content of a contact.
fn content(
    name: &str,
    what: &str,
    media_type: &str,
    upload_status: &str,
    body: RefOr<Schema>,
) -> Vec<Op> {
    vec![
        put(&format!("upload{name}"), "contacts", &format!("Store a contact's {what}"))
            .describe(&format!("{upload_status} Stored content is immutable evidence: the same bytes again answer 200 with the same acknowledgement, different bytes 409."))
            .path("id", "The contact's id.")
            .body(media_type, body)
            .ok(201, "Stored.", named("Acknowledgement"))
            .ok(200, "The same bytes again.", named("Acknowledgement"))
            .errors(&[400, 404, 409, 413, 415, 422]),
        get(&format!("download{name}"), "contacts", &format!("Read a contact's {what}, as delivered"))
            .path("id", "The contact's id.")
            .purpose()
            .answer(200, "The bytes as delivered.", media_type, binary())
            .errors(PERSONAL_READ),
    ]
}

/// `/api/v1/contacts/{id}/recording`.
pub fn recording() -> Vec<Op> {
    let mut ops = content(
        "Recording",
        "recording (WAV)",
        "audio/wav",
        "The WAV body is streamed, validated, hashed and encrypted in one pass (also `audio/x-wav`, `audio/wave`, `audio/vnd.wave`).",
        binary(),
    );
    if let Some(download) = ops.pop() {
        ops.push(
            download
                .header("Range", "One byte range (`bytes=START-END`).")
                .answer(206, "The range asked for.", "audio/wav", binary())
                .errors(&[416]),
        );
    }
    ops
}

/// `/api/v1/contacts/{id}/transcript`.
pub fn transcript() -> Vec<Op> {
    content(
        "Transcript",
        "chat transcript",
        "application/json",
        "The transcript JSON: `{\"messages\": [{\"at\", \"from\": \"customer\"|\"agent\"|\"bot\", \"text\"}]}`.",
        keys(&["messages"]),
    )
}

/// `/api/v1/contacts/{id}/message`.
pub fn message() -> Vec<Op> {
    content(
        "Message",
        "email message (RFC 5322)",
        "message/rfc822",
        "The whole message, stored bit-exact.",
        binary(),
    )
}

/// `/api/v1/contacts/{id}/recording/playback`.
pub fn playback() -> Vec<Op> {
    vec![
        get(
            "playRecording",
            "contacts",
            "A recording as 16-bit PCM WAV for a browser's player",
        )
        .path("id", "The contact's id.")
        .purpose()
        .header("Range", "One byte range (`bytes=START-END`).")
        .answer(200, "The whole recording.", "audio/wav", binary())
        .answer(206, "The range asked for.", "audio/wav", binary())
        .errors(PERSONAL_READ)
        .errors(&[416]),
    ]
}

/// `/api/v1/contacts/{id}/recording/peaks`.
pub fn peaks() -> Vec<Op> {
    vec![
        get("recordingPeaks", "contacts", "A recording's waveform")
            .path("id", "The contact's id.")
            .purpose()
            .ok(200, "The peaks.", object())
            .errors(PERSONAL_READ),
    ]
}

/// `/api/v1/forms`.
pub fn forms() -> Vec<Op> {
    vec![
        post(
            "submitForm",
            "contacts",
            "Deliver a web form (the utility's own site)",
        )
        .json(named("Form"))
        .ok(201, "Registered as a form contact.", object())
        .ok(200, "The same form again.", object())
        .errors(&[409, 422]),
    ]
}

/// `/api/v1/contacts/{id}/form`.
pub fn form() -> Vec<Op> {
    vec![
        get("readForm", "contacts", "A form contact's message")
            .path("id", "The contact's id.")
            .purpose()
            .ok(
                200,
                "The form (identity codes masked for all but registrars).",
                object(),
            )
            .errors(PERSONAL_READ),
    ]
}

/// `/api/v1/contacts/{id}/attachments`.
pub fn attachments() -> Vec<Op> {
    vec![
        get("listAttachments", "contacts", "A contact's attachments")
            .path("id", "The contact's id.")
            .purpose()
            .ok(200, "The attachments.", object())
            .errors(PERSONAL_READ),
    ]
}

/// `/api/v1/contacts/{id}/attachments/{object}`.
pub fn attachment() -> Vec<Op> {
    vec![
        get(
            "downloadAttachment",
            "contacts",
            "One attachment, as delivered",
        )
        .path("id", "The contact's id.")
        .path("object", "The attachment's object id.")
        .purpose()
        .answer(200, "The file.", "application/octet-stream", binary())
        .errors(PERSONAL_READ),
    ]
}

/// `/api/v1/webhooks/chat`.
pub fn chat_webhook() -> Vec<Op> {
    vec![
        post("chatWebhook", "contacts", "The chat system's signed delivery of a contact and its transcript")
            .describe("Public: the HMAC-SHA-256 signature of the body in `X-Kirjuri-Signature` is the credential, checked before the body is parsed.")
            .public()
            .header("X-Kirjuri-Signature", "`sha256=HEX` of the body under the shared webhook secret.")
            .body("application/json", object())
            .ok(201, "Registered.", object())
            .ok(200, "The same delivery again.", object())
            .errors(&[400, 401, 403, 404, 409, 413, 415, 422]),
    ]
}

/// `/api/v1/session`.
pub fn session() -> Vec<Op> {
    vec![
        post("signIn", "accounts", "Sign in; sets the session cookie")
            .public()
            .json(named("Login"))
            .ok(
                200,
                "Signed in; the CSRF token for unsafe methods.",
                keys(&["user", "role", "csrf_token"]),
            )
            .errors(&[401, 429, 503]),
        get("whoAmI", "accounts", "Who the caller is").ok(
            200,
            "The caller.",
            keys(&["user", "role"]),
        ),
        delete("signOut", "accounts", "Sign out; clears the cookie")
            .empty(204, "Signed out.")
            .errors(&[400]),
    ]
}

/// `/api/v1/session/password`.
pub fn password() -> Vec<Op> {
    vec![
        post("changePassword", "accounts", "Change one's own password")
            .json(named("PasswordChange"))
            .empty(204, "Changed.")
            .errors(&[422, 429, 503]),
    ]
}

/// `/api/v1/session/totp`.
pub fn totp() -> Vec<Op> {
    vec![
        post("beginTotp", "accounts", "Begin TOTP enrolment")
            .json(named("TotpBegin"))
            .ok(200, "The secret to enrol, shown once.", object())
            .errors(&[409, 429, 503]),
    ]
}

/// `/api/v1/session/totp/confirm`.
pub fn totp_confirm() -> Vec<Op> {
    vec![
        post(
            "confirmTotp",
            "accounts",
            "Finish TOTP enrolment with a valid code",
        )
        .json(named("TotpConfirm"))
        .ok(200, "Enrolled.", keys(&["totp_enabled"]))
        .errors(&[409, 422]),
    ]
}

/// `/api/v1/tokens`.
pub fn tokens() -> Vec<Op> {
    vec![
        get(
            "listTokens",
            "accounts",
            "API tokens: one's own, or an administrator's view of all",
        )
        .query(
            "user",
            false,
            string(),
            "An administrator: this user's tokens.",
        )
        .ok(200, "The tokens (never their secrets).", keys(&["tokens"]))
        .errors(&[400, 404]),
        post("createToken", "accounts", "Issue an API token (shown once)")
            .json(named("NewToken"))
            .ok(201, "The token, shown this once.", object())
            .errors(&[404, 422, 429, 503]),
    ]
}

/// `/api/v1/tokens/{id}`.
pub fn token() -> Vec<Op> {
    vec![
        delete("revokeToken", "accounts", "Revoke an API token")
            .path("id", "The token's id.")
            .empty(204, "Revoked.")
            .errors(&[404]),
    ]
}

/// `/api/v1/users`.
pub fn users() -> Vec<Op> {
    vec![
        get("listUsers", "accounts", "Every account (administrators)").ok(
            200,
            "The accounts.",
            keys(&["users"]),
        ),
        post("createUser", "accounts", "Create an account")
            .json(named("NewUser"))
            .ok(
                201,
                "Created; a generated password is answered once.",
                object(),
            )
            .errors(&[409, 422, 503]),
    ]
}

/// `/api/v1/users/{name}`.
pub fn user() -> Vec<Op> {
    vec![
        patch(
            "changeUser",
            "accounts",
            "Change an account's role, disabled flag or confidentiality agreement",
        )
        .path("name", "The user name.")
        .json(named("UserChange"))
        .ok(200, "The account.", object())
        .errors(&[404, 409, 422]),
    ]
}

/// `/api/v1/users/{name}/unlock`.
pub fn unlock() -> Vec<Op> {
    vec![
        post(
            "unlockUser",
            "accounts",
            "Unlock an account locked by failed sign-ins",
        )
        .path("name", "The user name.")
        .ok(200, "The account.", object())
        .errors(&[404]),
    ]
}

/// `/api/v1/users/{name}/password`.
pub fn reset_password() -> Vec<Op> {
    vec![
        post(
            "resetPassword",
            "accounts",
            "Reset an account's password; the new one is answered once",
        )
        .path("name", "The user name.")
        .ok(200, "The new password.", keys(&["password"]))
        .errors(&[404, 503]),
    ]
}

/// `/api/v1/holds`.
pub fn holds() -> Vec<Op> {
    vec![
        get("listHolds", "retention", "Legal holds: active ones, or all")
            .query("all", false, boolean(), "Also lifted and expired holds.")
            .ok(200, "The holds.", keys(&["holds"]))
            .errors(&[400]),
        post("placeHold", "retention", "Place a legal hold")
            .json(named("Hold"))
            .ok(201, "Placed, with its targets.", keys(&["id"]))
            .errors(&[404, 409, 422]),
    ]
}

/// `/api/v1/holds/{id}`.
pub fn hold() -> Vec<Op> {
    vec![
        get("showHold", "retention", "A hold and a page of its targets")
            .path("id", "The hold's id.")
            .query("after", false, string(), "Targets after this one.")
            .query("limit", false, count(), "At most this many targets.")
            .ok(200, "The hold.", object())
            .errors(&[400, 404, 422]),
    ]
}

/// `/api/v1/holds/{id}/lift`.
pub fn lift() -> Vec<Op> {
    vec![
        post("liftHold", "retention", "Lift a hold")
            .path("id", "The hold's id.")
            .json(named("Lift"))
            .ok(200, "The hold.", object())
            .errors(&[404, 409, 422]),
    ]
}

/// `/api/v1/holds/{id}/review`.
pub fn review() -> Vec<Op> {
    vec![
        post(
            "reviewHold",
            "retention",
            "Record a hold's review and its next date",
        )
        .path("id", "The hold's id.")
        .json(named("Review"))
        .ok(200, "The hold.", object())
        .errors(&[404, 409, 422]),
    ]
}

/// `/api/v1/retention`.
pub fn retention() -> Vec<Op> {
    vec![
        get(
            "retentionOverview",
            "retention",
            "What expires soon, active holds, the last purge",
        )
        .query("days", false, count(), "The horizon in days.")
        .ok(200, "The overview.", object())
        .errors(&[400, 422]),
    ]
}

/// `/api/v1/processing-record`.
pub fn processing_record() -> Vec<Op> {
    vec![
        get(
            "processingRecord",
            "disclosures",
            "The record of processing activities (Art. 30)",
        )
        .query(
            "format",
            false,
            one_of(&["json", "csv", "html"]),
            "The format.",
        )
        .query("lang", false, one_of(&["fi", "sv", "en"]), "The language.")
        .answers(
            200,
            "The record, in the format asked for.",
            &[
                ("application/json", object()),
                ("text/csv", string()),
                ("text/html", string()),
            ],
        )
        .errors(&[400, 422]),
    ]
}

/// A statistics report's GET: its dimensions named in `by`, the window
/// and the format.
fn statistics_report(id: &str, summary: &str, dimensions: &str, answer: &[&str]) -> Op {
    get(id, "statistics", summary)
        .query("by", false, string(), dimensions)
        .query("from", false, string(), "YYYY-MM-DD.")
        .query("to", false, string(), "YYYY-MM-DD.")
        .query("period", false, string(), "`day`, `week`, `month`, …")
        .query("format", false, one_of(&["json", "csv"]), "The format.")
        .answers(
            200,
            "The report, in the format asked for.",
            &[("application/json", keys(answer)), ("text/csv", string())],
        )
        .errors(&[400, 422])
}

/// `/api/v1/statistics/contacts`.
pub fn statistics() -> Vec<Op> {
    vec![statistics_report(
        "contactStatistics",
        "Contact counts with disclosure control",
        "Comma-separated: `channel`, `service`, …",
        &["k", "cells"],
    )]
}

/// `/api/v1/statistics/surveys`.
pub fn survey_statistics() -> Vec<Op> {
    vec![statistics_report(
        "surveyStatistics",
        "Survey response rates and scores with disclosure control",
        "Comma-separated: `service`, `period`.",
        &["k", "cells"],
    )]
}

/// `/api/v1/statistics/requests`.
pub fn request_statistics() -> Vec<Op> {
    vec![statistics_report(
        "requestStatistics",
        "Data-subject requests closed on time or late, with disclosure control",
        "Comma-separated: `right`, `outcome`, `timeliness`, `period`.",
        &["k", "cells"],
    )]
}

/// `/api/v1/statistics/disclosures`.
pub fn disclosure_statistics() -> Vec<Op> {
    vec![statistics_report(
        "disclosureStatistics",
        "Disclosures approved, by recipient kind, with disclosure control",
        "Comma-separated: `recipient_kind`, `period`.",
        &["k", "cells"],
    )]
}

/// `/api/v1/requests`.
pub fn requests() -> Vec<Op> {
    vec![
        get(
            "requestQueue",
            "requests",
            "Data-subject requests, overdue first",
        )
        .ok(200, "The queue.", keys(&["requests"])),
        post(
            "registerRequest",
            "requests",
            "Register a data-subject request",
        )
        .json(named("Request"))
        .ok(
            201,
            "Registered.",
            keys(&["id", "reference", "state", "due_date"]),
        )
        .errors(&[422]),
    ]
}

/// A `POST /api/v1/requests/{id}/…` action with a JSON body, answered with
/// the request.
fn request_action(id: &str, summary: &str, body: &str) -> Op {
    post(id, "requests", summary)
        .path("id", "The request's id.")
        .json(named(body))
        .ok(200, "The request.", object())
        .errors(&[404, 409, 422])
}

/// `/api/v1/requests/{id}`.
pub fn request() -> Vec<Op> {
    vec![
        get(
            "showRequest",
            "requests",
            "A request with its state, deadline, verification and timeline",
        )
        .path("id", "The request's id.")
        .ok(200, "The request.", keys(&["id", "state", "due_date"]))
        .errors(&[404]),
    ]
}

/// `/api/v1/requests/{id}/verification`.
pub fn verification() -> Vec<Op> {
    vec![
        request_action(
            "verifyRequest",
            "Verify the requester's identity",
            "Verification",
        )
        .ok(202, "A one-time code was sent.", object())
        .errors(&[429]),
    ]
}

/// `/api/v1/requests/{id}/transition`.
pub fn transition() -> Vec<Op> {
    vec![request_action(
        "transitionRequest",
        "Move a request to its next state",
        "Transition",
    )]
}

/// `/api/v1/requests/{id}/extension`.
pub fn extension() -> Vec<Op> {
    vec![request_action(
        "extendRequest",
        "Extend a request's deadline (once)",
        "Extension",
    )]
}

/// `/api/v1/requests/{id}/refusal`.
pub fn refusal() -> Vec<Op> {
    vec![request_action(
        "proposeRefusal",
        "Propose refusing a request",
        "RefusalProposal",
    )]
}

/// `/api/v1/requests/{id}/refusal/approve`.
pub fn approve_refusal() -> Vec<Op> {
    vec![
        post(
            "approveRefusal",
            "requests",
            "Approve a proposed refusal (another person)",
        )
        .path("id", "The request's id.")
        .ok(200, "The request.", object())
        .errors(&[404, 409]),
    ]
}

/// `/api/v1/requests/{id}/package`.
pub fn request_package() -> Vec<Op> {
    vec![
        get(
            "requestPackage",
            "requests",
            "The access package (ZIP with manifest.json)",
        )
        .path("id", "The request's id.")
        .query("purpose", true, string(), "`data_subject_request`.")
        .answer(200, "The package.", "application/zip", binary())
        .errors(&[400, 404, 409]),
    ]
}

/// `/api/v1/requests/{id}/deliver`.
pub fn deliver() -> Vec<Op> {
    vec![
        post(
            "deliverPackage",
            "requests",
            "Send the requester a download link to the package",
        )
        .path("id", "The request's id.")
        .ok(201, "Sent; when the link expires.", keys(&["expires_at"]))
        .errors(&[404, 409, 422]),
    ]
}

/// `/api/v1/requests/{id}/third-party-review`.
pub fn third_party_review() -> Vec<Op> {
    vec![request_action(
        "thirdPartyReview",
        "Record the review of third parties' data in the package",
        "ThirdPartyReview",
    )]
}

/// `/api/v1/requests/{id}/execute`.
pub fn execute() -> Vec<Op> {
    vec![request_action(
        "executeRequest",
        "Carry out a verified request's restriction, objection, rectification or erasure",
        "Execution",
    )]
}

/// `/api/v1/requests/{id}/receipt`.
pub fn receipt() -> Vec<Op> {
    vec![
        get("erasureReceipt", "requests", "The signed erasure receipt")
            .path("id", "The request's id.")
            .ok(200, "The receipt.", object())
            .errors(&[404, 409]),
    ]
}

/// `/api/v1/requests/{id}/recipient-tasks`.
pub fn recipient_tasks() -> Vec<Op> {
    vec![
        get(
            "recipientTasks",
            "requests",
            "The request's Art. 19 notifications to recipients",
        )
        .path("id", "The request's id.")
        .ok(200, "The tasks.", keys(&["tasks"]))
        .errors(&[404]),
    ]
}

/// `/api/v1/requests/{id}/recipient-tasks/{task}`.
pub fn recipient_task() -> Vec<Op> {
    vec![
        request_action(
            "closeRecipientTask",
            "Close an Art. 19 notification task",
            "TaskOutcome",
        )
        .path("task", "The task's id."),
    ]
}

/// `/api/v1/recipients`.
pub fn recipients() -> Vec<Op> {
    vec![
        get("listRecipients", "disclosures", "The recipients register").ok(
            200,
            "The recipients, by name.",
            keys(&["recipients"]),
        ),
        post("addRecipient", "disclosures", "Add a recipient")
            .json(named("Recipient"))
            .ok(201, "Added.", object())
            .errors(&[409, 422]),
    ]
}

/// `/api/v1/incidents`.
pub fn incidents() -> Vec<Op> {
    vec![
        get("listIncidents", "incidents", "Personal-data breaches").ok(
            200,
            "The incidents.",
            keys(&["incidents"]),
        ),
        post(
            "recordIncident",
            "incidents",
            "Record a personal-data breach",
        )
        .json(object())
        .ok(201, "Recorded, with its 72-hour clock.", object())
        .errors(&[422]),
    ]
}

/// `/api/v1/incidents/{id}`.
pub fn incident() -> Vec<Op> {
    vec![
        get("showIncident", "incidents", "A breach with its updates")
            .path("id", "The incident's id.")
            .ok(200, "The incident.", object())
            .errors(&[404]),
    ]
}

/// `/api/v1/incidents/{id}/updates`.
pub fn incident_updates() -> Vec<Op> {
    vec![
        post(
            "updateIncident",
            "incidents",
            "Add an update to a breach's record",
        )
        .path("id", "The incident's id.")
        .json(object())
        .ok(201, "The incident.", object())
        .errors(&[404, 409, 422]),
    ]
}

/// `/api/v1/incidents/{id}/impact`.
pub fn incident_impact() -> Vec<Op> {
    vec![
        post(
            "incidentImpact",
            "incidents",
            "What a breach touched, from the audit log",
        )
        .path("id", "The incident's id.")
        .json(named("Impact"))
        .ok(200, "The impact.", object())
        .errors(&[404, 422]),
    ]
}

/// `/api/v1/disclosures`.
pub fn disclosures() -> Vec<Op> {
    vec![
        get(
            "listDisclosures",
            "disclosures",
            "Disclosures, awaiting approval first",
        )
        .query("state", false, string(), "Only disclosures in this state.")
        .ok(200, "The disclosures.", keys(&["disclosures"]))
        .errors(&[400, 422]),
        post(
            "requestDisclosure",
            "disclosures",
            "Request a disclosure to a recipient",
        )
        .json(named("Disclosure"))
        .ok(
            201,
            "Awaiting approval by another person.",
            keys(&["id", "state"]),
        )
        .errors(&[404, 409, 422]),
    ]
}

/// `/api/v1/disclosures/{id}`.
pub fn disclosure() -> Vec<Op> {
    vec![
        get("showDisclosure", "disclosures", "A disclosure")
            .path("id", "The disclosure's id.")
            .ok(200, "The disclosure.", keys(&["id", "state"]))
            .errors(&[404]),
    ]
}

/// `/api/v1/disclosures/{id}/approve`.
pub fn approve_disclosure() -> Vec<Op> {
    vec![
        post(
            "approveDisclosure",
            "disclosures",
            "Approve a disclosure (by another person than its requester)",
        )
        .path("id", "The disclosure's id.")
        .ok(200, "The disclosure.", keys(&["id", "state"]))
        .errors(&[404, 409]),
    ]
}

/// `/api/v1/disclosures/{id}/refuse`.
pub fn refuse_disclosure() -> Vec<Op> {
    vec![
        post("refuseDisclosure", "disclosures", "Refuse a disclosure")
            .path("id", "The disclosure's id.")
            .json(named("Refusal"))
            .ok(200, "The disclosure.", keys(&["id", "state"]))
            .errors(&[404, 409, 422]),
    ]
}

/// `/api/v1/disclosures/{id}/package`.
pub fn disclosure_package() -> Vec<Op> {
    vec![
        get(
            "disclosurePackage",
            "disclosures",
            "An approved disclosure's package (ZIP with manifest.json)",
        )
        .path("id", "The disclosure's id.")
        .answer(200, "The package.", "application/zip", binary())
        .errors(&[404, 409]),
    ]
}

/// `/api/v1/disclosures/{id}/link`.
pub fn disclosure_link() -> Vec<Op> {
    vec![
        post(
            "disclosureLink",
            "disclosures",
            "A one-time download link for the recipient (shown once)",
        )
        .path("id", "The disclosure's id.")
        .optional_json(named("Link"))
        .ok(
            201,
            "The link and when it expires.",
            keys(&["url", "expires_at"]),
        )
        .errors(&[404, 409, 422]),
    ]
}

/// `/api/v1/surveys/settings`.
pub fn survey_settings() -> Vec<Op> {
    vec![
        get(
            "surveySettings",
            "surveys",
            "Every service's survey settings",
        )
        .ok(200, "The settings.", keys(&["services"])),
    ]
}

/// `/api/v1/surveys/settings/{service}`.
pub fn survey_setting() -> Vec<Op> {
    vec![
        put("putSurveySettings", "surveys", "Set one service's survey settings")
            .describe("Sampling per mille, delay, quiet hours (HH:MM Helsinki), one invitation per person per period, and the invitation in fi/sv/en. Audited; a parallel change wins with 409.")
            .path("service", "The service.")
            .json(keys(&[
                "enabled",
                "sample_per_mille",
                "delay_minutes",
                "quiet_start",
                "quiet_end",
                "period_days",
                "text_fi",
                "text_sv",
                "text_en",
            ]))
            .ok(200, "The stored settings.", object())
            .errors(&[409, 422]),
    ]
}

/// `/api/v1/surveys/replies`.
pub fn survey_replies() -> Vec<Op> {
    vec![
        get("surveyReply", "surveys", "A reply SMS, delivered by Kannel's get-url")
            .describe("Public: the `token` (`[surveys] reply_secret`) is the credential. The answer is the same whether or not the reply matched an invitation.")
            .public()
            .query("token", false, string(), "The shared secret.")
            .query("id", false, string(), "Kannel's message id.")
            .query("from", false, string(), "The sender's number.")
            .query("to", false, string(), "The number it was sent to (not used).")
            .query("text", false, string(), "The reply.")
            .query("at", false, string(), "Kannel's time stamp (not used).")
            .ok(200, "Taken (or ignored).", keys(&["accepted"]))
            .errors(&[400, 401, 404, 422]),
    ]
}
