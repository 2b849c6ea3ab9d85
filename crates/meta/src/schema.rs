//! InfluxDB 2.x's KV layout: the bolt bucket names, the `migrationsv1` list, and the records a new
//! store starts with (what InfluxDB's 20 KV migrations of v2.7 leave in an empty store).

use serde::{Deserialize, Serialize};

/// Organizations: orgID → JSON.
pub const ORGS: &str = "organizationsv1";
/// Org name → orgID.
pub const ORG_INDEX: &str = "organizationindexv1";
/// Buckets: bucketID → JSON.
pub const BUCKETS: &str = "bucketsv1";
/// orgID ‖ bucket name → bucketID.
pub const BUCKET_INDEX: &str = "bucketindexv1";
/// Users: userID → JSON.
pub const USERS: &str = "usersv1";
/// User name → userID.
pub const USER_INDEX: &str = "userindexv1";
/// userID → bcrypt hash.
pub const PASSWORDS: &str = "userspasswordv1";
/// resourceID ‖ userID → URM JSON.
pub const URMS: &str = "userresourcemappingsv1";
/// `userID/resourceID‖userID` → `resourceID‖userID`.
pub const URM_BY_USER: &str = "userresourcemappingsbyuserindexv1";
/// Authorizations: authID → JSON.
pub const AUTHS: &str = "authorizationsv1";
/// Token → authID.
pub const AUTH_INDEX: &str = "authorizationindexv1";
/// Hashed token → authID (InfluxDB ≥ 2.8).
pub const AUTH_HASHED_INDEX: &str = "authorizationhashedindexv1";
/// DBRP mappings: mappingID → JSON.
pub const DBRPS: &str = "dbrpv1";
/// `orgID‖database/mappingID` → mappingID.
pub const DBRP_BY_ORG_DB: &str = "dbrpbyorganddbindexv1";
/// `orgID/mappingID` → mappingID.
pub const DBRP_BY_ORG: &str = "dbrpbyorgv1";
/// orgID ‖ database → mappingID of the default mapping.
pub const DBRP_DEFAULT: &str = "dbrpdefaultv1";
/// Labels: labelID → JSON.
pub const LABELS: &str = "labelsv1";
/// orgID ‖ lower-cased label name → labelID.
pub const LABEL_INDEX: &str = "labelindexv1";
/// resourceID ‖ labelID → label mapping JSON.
pub const LABEL_MAPPINGS: &str = "labelmappingsv1";
/// orgID ‖ secret key → base64 of the secret value.
pub const SECRETS: &str = "secretsv1";
/// Variables: variableID → JSON.
pub const VARIABLES: &str = "variablesv1";
/// orgID ‖ lower-cased variable name → variableID.
pub const VARIABLE_INDEX: &str = "variablesindexv1";
/// orgID ‖ variableID → variableID.
pub const VARIABLE_ORGS: &str = "variableorgsv1";
/// Telegraf configs: configID → JSON.
pub const TELEGRAFS: &str = "telegrafv1";
/// `orgID/configID` → configID.
pub const TELEGRAF_BY_ORG: &str = "telegrafbyorgindexv1";
/// configID → plugin counts JSON.
pub const TELEGRAF_PLUGINS: &str = "telegrafPluginsv1";
/// Dashboards: dashboardID → JSON.
pub const DASHBOARDS: &str = "dashboardsv2";
/// orgID ‖ dashboardID → empty value.
pub const ORG_DASHBOARDS: &str = "orgsdashboardsv1";
/// dashboardID ‖ cellID → view JSON.
pub const DASHBOARD_CELL_VIEWS: &str = "dashboardcellviewsv1";
/// Migration index (16 hex, 1-based) → migration JSON.
pub const MIGRATIONS: &str = "migrationsv1";
/// `id` → instance ID.
pub const IDS: &str = "idsv1";
/// Default source.
pub const SOURCES: &str = "sourcesv1";

/// Every bucket a v2.7 store has after its 20 KV migrations.
pub const ALL_BUCKETS: &[&str] = &[
    "authorizationindexv1",
    "authorizationsv1",
    "bucketindexv1",
    "bucketsv1",
    "checkindexv1",
    "checksv1",
    "dashboardcellviewsv1",
    "dashboardsv2",
    "dbrpbyorganddbindexv1",
    "dbrpbyorgv1",
    "dbrpdefaultv1",
    "dbrpv1",
    "idsv1",
    "keyvaluelogindexv1",
    "keyvaluelogv1",
    "labelindexv1",
    "labelmappingsv1",
    "labelsv1",
    "legacy/authorizationPasswordv1",
    "legacy/authorizationindexv1",
    "legacy/authorizationsv1",
    "migrationsv1",
    "notificationEndpointIndexv1",
    "notificationEndpointv1",
    "notificationRulev1",
    "onboardingv1",
    "organizationindexv1",
    "organizationsv1",
    "orgsdashboardsv1",
    "remotesv2",
    "replicationsv2",
    "scraperv2",
    "secretsv1",
    "sourcesv1",
    "taskIndexsv1",
    "taskRunsv1",
    "tasksv1",
    "telegrafPluginsv1",
    "telegrafbyorgindexv1",
    "telegrafv1",
    "templates/documents/content",
    "templates/documents/meta",
    "userindexv1",
    "userresourcemappingsbyuserindexv1",
    "userresourcemappingsv1",
    "userspasswordv1",
    "usersv1",
    "v1_pkger_stacks",
    "v1_pkger_stacks_index",
    "v1_tsm1_metadata",
    "variableorgsv1",
    "variablesindexv1",
    "variablesv1",
];

/// Names of InfluxDB's KV migrations, in order. The first 20 are v2.7's (written into new
/// stores); the 21st comes with v2.8 and is accepted in stores that have it.
pub const MIGRATION_NAMES: &[&str] = &[
    "initial migration",
    "add index \"userresourcemappingsbyuserindexv1\"",
    "migrate task owner id",
    "create DBRP buckets",
    "create pkger stacks buckets",
    "delete sessionsv1 bucket",
    "Create TSM metadata buckets",
    "Create Legacy authorization buckets",
    "Create legacy auth password bucket",
    "add index \"telegrafbyorgindexv1\"",
    "populate dashboards owner id",
    "add index \"dbrpbyorgv1\"",
    "repair DBRP owner and bucket IDs",
    "add index \"dbrpbyorgv1\"",
    "record shard group durations in bucket metadata",
    "add annotations and notebooks resource types to operator token",
    "add annotations and notebooks resource types to all-access tokens",
    "repair missing shard group durations",
    "add remotes and replications resource types to operator and all-access tokens",
    "create remotes and replications metrics buckets",
    "create authorizationhashedindexv1 bucket",
];

/// Number of migrations a v2.7 store records (what ironflux writes).
pub const V27_MIGRATIONS: usize = 20;

/// A `migrationsv1` value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    /// 16-hex 1-based index.
    pub id: String,
    /// Name (must match [`MIGRATION_NAMES`]).
    pub name: String,
    /// Start time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<crate::Time>,
    /// End time; absent while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<crate::Time>,
}

/// Key and value of the default source written by the initial migration.
pub const DEFAULT_SOURCE: (&str, &str) = (
    "020f755c3c082000",
    r#"{"id":"020f755c3c082000","orgID":"50616e67652c206c","default":true,"name":"autogen","type":"self","url":"","telegraf":"","token":"","defaultRP":""}"#,
);

/// Serializes as Go's `encoding/json` does: no spaces, and `<`, `>`, `&`, U+2028, U+2029
/// escaped (they can only occur inside strings).
pub fn to_go_json<T: Serialize>(v: &T) -> Vec<u8> {
    let s = serde_json::to_string(v).unwrap_or_default();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

/// Parses a stored JSON value; damage is reported as a corrupt store.
pub fn from_json<'a, T: Deserialize<'a>>(what: &str, b: &'a [u8]) -> crate::Result<T> {
    serde_json::from_slice(b).map_err(|e| crate::Error::corrupt(format!("{what}: {e}")))
}
