//! The records kept in the KV store, with the exact JSON InfluxDB 2.x stores for them (field names
//! and order as Go's `encoding/json` writes its structs), plus the filters and paging options of
//! the list calls.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::Id;
use crate::time::Time;

/// An organization (`organizationsv1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// ID.
    pub id: Id,
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Creation time.
    #[serde(rename = "createdAt")]
    pub created_at: Time,
    /// Last update time.
    #[serde(rename = "updatedAt")]
    pub updated_at: Time,
}

/// Bucket type; stored as the integer 0 (user) / 1 (system).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BucketType {
    /// A user bucket (`"user"` in the API).
    #[default]
    User,
    /// A system bucket (`_tasks`, `_monitoring`; `"system"` in the API).
    System,
}

impl BucketType {
    /// API spelling: `user` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            BucketType::User => "user",
            BucketType::System => "system",
        }
    }
}

impl Serialize for BucketType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(match self {
            BucketType::User => 0,
            BucketType::System => 1,
        })
    }
}

impl<'de> Deserialize<'de> for BucketType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match u8::deserialize(d)? {
            1 => BucketType::System,
            _ => BucketType::User,
        })
    }
}

/// A bucket (`bucketsv1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// ID.
    pub id: Id,
    /// Owning organization.
    #[serde(rename = "orgID")]
    pub org_id: Id,
    /// User or system bucket.
    #[serde(rename = "type", default)]
    pub bucket_type: BucketType,
    /// Name, unique within the organization.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Retention policy name (1.x compatibility); omitted when empty.
    #[serde(rename = "rp", default, skip_serializing_if = "String::is_empty")]
    pub retention_policy_name: String,
    /// Retention period in nanoseconds; 0 = infinite.
    #[serde(rename = "retentionPeriod", default)]
    pub retention_period_ns: i64,
    /// Shard group duration in nanoseconds.
    #[serde(rename = "shardGroupDuration", default)]
    pub shard_group_duration_ns: i64,
    /// Creation time.
    #[serde(rename = "createdAt")]
    pub created_at: Time,
    /// Last update time.
    #[serde(rename = "updatedAt")]
    pub updated_at: Time,
}

/// Status of a user or an authorization: `active` or `inactive` (an empty string reads as
/// active, as in InfluxDB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// Usable.
    #[default]
    Active,
    /// Disabled.
    Inactive,
}

impl Status {
    /// `active` or `inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Inactive => "inactive",
        }
    }
}

impl std::str::FromStr for Status {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Status, crate::Error> {
        match s {
            "active" | "" => Ok(Status::Active),
            "inactive" => Ok(Status::Inactive),
            _ => Err(crate::Error::Invalid(format!("invalid status {s:?}"))),
        }
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(if s == "inactive" {
            Status::Inactive
        } else {
            Status::Active
        })
    }
}

/// A user (`usersv1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// ID.
    pub id: Id,
    /// Unique name.
    pub name: String,
    /// OAuth ID; omitted when empty.
    #[serde(rename = "oauthID", default, skip_serializing_if = "String::is_empty")]
    pub oauth_id: String,
    /// Active or inactive.
    #[serde(default)]
    pub status: Status,
}

/// Permission action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read.
    Read,
    /// Write.
    Write,
}

macro_rules! resource_types {
    ($($v:ident => $s:literal),* $(,)?) => {
        /// Resource types of InfluxDB 2.7 permissions, in InfluxDB's order (`AllResourceTypes`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ResourceType {
            $(#[doc = $s] #[serde(rename = $s)] $v,)*
        }
        impl ResourceType {
            /// Every resource type, in InfluxDB's order.
            pub const ALL: &'static [ResourceType] = &[$(ResourceType::$v,)*];
            /// The JSON/API spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(ResourceType::$v => $s,)* }
            }
        }
        impl std::str::FromStr for ResourceType {
            type Err = crate::Error;
            fn from_str(s: &str) -> Result<Self, crate::Error> {
                match s {
                    $($s => Ok(ResourceType::$v),)*
                    _ => Err(crate::Error::Invalid(format!("unknown resource type {s:?}"))),
                }
            }
        }
    };
}

resource_types! {
    Authorizations => "authorizations",
    Buckets => "buckets",
    Dashboards => "dashboards",
    Orgs => "orgs",
    Sources => "sources",
    Tasks => "tasks",
    Telegrafs => "telegrafs",
    Users => "users",
    Variables => "variables",
    Scrapers => "scrapers",
    Secrets => "secrets",
    Labels => "labels",
    Views => "views",
    Documents => "documents",
    NotificationRules => "notificationRules",
    NotificationEndpoints => "notificationEndpoints",
    Checks => "checks",
    Dbrp => "dbrp",
    Notebooks => "notebooks",
    Annotations => "annotations",
    Remotes => "remotes",
    Replications => "replications",
    Instance => "instance",
}

/// The resource a permission applies to. `id`/`org_id` absent = every resource of the type
/// (in every org, if `org_id` is absent too).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// Resource type.
    #[serde(rename = "type")]
    pub resource_type: ResourceType,
    /// One resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    /// Every resource of the type in this org.
    #[serde(rename = "orgID", default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Id>,
}

/// A permission: an action on a resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Permission {
    /// Read or write.
    pub action: Action,
    /// What it applies to.
    pub resource: Resource,
}

impl Permission {
    /// A permission on every resource of a type, instance-wide.
    pub fn new(action: Action, resource_type: ResourceType) -> Permission {
        Permission {
            action,
            resource: Resource {
                resource_type,
                id: None,
                org_id: None,
            },
        }
    }

    /// InfluxDB's `OperPermissions`: read and write on every resource type except `instance`,
    /// with no ID or org: what the setup (operator) token carries.
    pub fn operator_set() -> Vec<Permission> {
        let mut out = Vec::new();
        for &t in ResourceType::ALL {
            if t == ResourceType::Instance {
                continue;
            }
            for a in [Action::Read, Action::Write] {
                out.push(Permission::new(a, t));
            }
        }
        out
    }

    /// InfluxDB's `OwnerPermissions(orgID)` (an "all-access" token): read and write on every
    /// resource type except `instance`, scoped to the org with `orgID`, except type `orgs`, which
    /// is scoped with `id` = the org.
    pub fn owner_set(org_id: Id) -> Vec<Permission> {
        let mut out = Vec::new();
        for &t in ResourceType::ALL {
            if t == ResourceType::Instance {
                continue;
            }
            for a in [Action::Read, Action::Write] {
                let resource = if t == ResourceType::Orgs {
                    Resource {
                        resource_type: t,
                        id: Some(org_id),
                        org_id: None,
                    }
                } else {
                    Resource {
                        resource_type: t,
                        id: None,
                        org_id: Some(org_id),
                    }
                };
                out.push(Permission {
                    action: a,
                    resource,
                });
            }
        }
        out
    }

    /// Whether this permission grants `wanted` (InfluxDB 2.7's `Permission.Matches`): same action,
    /// and either this is an `instance` permission (grants every type), or the same type with no
    /// scope, or scoped to the wanted org (with no ID), or scoped to the wanted ID.
    pub fn matches(&self, wanted: &Permission) -> bool {
        if self.action != wanted.action {
            return false;
        }
        if self.resource.resource_type == ResourceType::Instance {
            return true;
        }
        if self.resource.resource_type != wanted.resource.resource_type {
            return false;
        }
        let r = &self.resource;
        let w = &wanted.resource;
        match (r.org_id, r.id) {
            (None, None) => true,
            (Some(o), None) => w.org_id == Some(o),
            (_, Some(id)) => w.id == Some(id),
        }
    }
}

/// An authorization (token) (`authorizationsv1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Authorization {
    /// ID.
    pub id: Id,
    /// The token in clear (omitted when the store only keeps its hash).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// `$influxdb2-sha256$…` hash of the token (InfluxDB ≥ 2.8 with token hashing).
    #[serde(
        rename = "hashedToken",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub hashed_token: String,
    /// Active or inactive.
    #[serde(default)]
    pub status: Status,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Org the token belongs to.
    #[serde(rename = "orgID")]
    pub org_id: Id,
    /// User the token belongs to.
    #[serde(rename = "userID", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Id>,
    /// What it allows.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Creation time.
    #[serde(rename = "createdAt")]
    pub created_at: Time,
    /// Last update time.
    #[serde(rename = "updatedAt")]
    pub updated_at: Time,
}

impl Authorization {
    /// Whether the token allows `wanted` (and is active).
    pub fn allows(&self, wanted: &Permission) -> bool {
        self.status == Status::Active && self.permissions.iter().any(|p| p.matches(wanted))
    }
}

/// Owner or member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserType {
    /// Owner.
    Owner,
    /// Member.
    Member,
}

/// Mapping type of a URM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MappingType {
    /// A user mapped to a resource.
    #[default]
    User,
    /// An org mapped to a resource.
    Org,
}

/// A user-resource mapping (`userresourcemappingsv1`): owner/member links between users and
/// orgs, buckets, the instance, ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserResourceMapping {
    /// The user.
    #[serde(rename = "userID")]
    pub user_id: Id,
    /// Owner or member.
    #[serde(rename = "userType")]
    pub user_type: UserType,
    /// `user` or `org`.
    #[serde(rename = "mappingType", default)]
    pub mapping_type: MappingType,
    /// Type of the resource.
    #[serde(rename = "resourceType")]
    pub resource_type: ResourceType,
    /// The resource.
    #[serde(rename = "resourceID")]
    pub resource_id: Id,
}

/// A DBRP mapping (`dbrpv1`): InfluxDB 1.x database + retention policy → bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbrpMapping {
    /// ID (a virtual mapping carries its bucket's ID).
    pub id: Id,
    /// 1.x database name.
    pub database: String,
    /// 1.x retention policy name.
    pub retention_policy: String,
    /// Whether this is the default RP of the database (computed from the default index).
    #[serde(default)]
    pub default: bool,
    /// Synthesized from a bucket name rather than stored.
    #[serde(default)]
    pub r#virtual: bool,
    /// Org.
    #[serde(rename = "orgID")]
    pub org_id: Id,
    /// Target bucket.
    #[serde(rename = "bucketID")]
    pub bucket_id: Id,
}

/// Paging of list calls (InfluxDB `FindOptions`). Results are in ID order; `after` starts after
/// that ID, then `offset` skips, then `limit` caps (0 = no cap).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindOptions {
    /// Skip this many.
    pub offset: usize,
    /// At most this many; 0 = all.
    pub limit: usize,
    /// Start after this ID.
    pub after: Option<Id>,
    /// Reverse ID order.
    pub descending: bool,
}

impl FindOptions {
    pub(crate) fn apply<T>(&self, mut items: Vec<T>, id: impl Fn(&T) -> Id) -> Vec<T> {
        items.sort_by_key(|t| id(t));
        if self.descending {
            items.reverse();
        }
        if let Some(a) = self.after {
            items.retain(|t| {
                if self.descending {
                    id(t) < a
                } else {
                    id(t) > a
                }
            });
        }
        let it = items.into_iter().skip(self.offset);
        if self.limit > 0 {
            it.take(self.limit).collect()
        } else {
            it.collect()
        }
    }
}

/// Filter of [`crate::MetaStore::list_orgs`]. Unset fields match everything.
#[derive(Clone, Debug, Default)]
pub struct OrgFilter {
    /// Only this ID.
    pub id: Option<Id>,
    /// Only this name.
    pub name: Option<String>,
    /// Only orgs this user has a URM for.
    pub user_id: Option<Id>,
}

/// Filter of [`crate::MetaStore::list_buckets`].
#[derive(Clone, Debug, Default)]
pub struct BucketFilter {
    /// Only this ID.
    pub id: Option<Id>,
    /// Only this name.
    pub name: Option<String>,
    /// Only this org.
    pub org_id: Option<Id>,
    /// Only the org with this name (not found → empty result).
    pub org: Option<String>,
}

/// Filter of [`crate::MetaStore::list_users`].
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Only this ID.
    pub id: Option<Id>,
    /// Only this name.
    pub name: Option<String>,
}

/// Filter of [`crate::MetaStore::list_authorizations`].
#[derive(Clone, Debug, Default)]
pub struct AuthorizationFilter {
    /// Only this ID.
    pub id: Option<Id>,
    /// Only this token.
    pub token: Option<String>,
    /// Only this user.
    pub user_id: Option<Id>,
    /// Only the user of this name.
    pub user: Option<String>,
    /// Only this org.
    pub org_id: Option<Id>,
    /// Only the org of this name.
    pub org: Option<String>,
}

/// Filter of [`crate::MetaStore::list_urms`].
#[derive(Clone, Debug, Default)]
pub struct UrmFilter {
    /// Only this resource.
    pub resource_id: Option<Id>,
    /// Only this resource type.
    pub resource_type: Option<ResourceType>,
    /// Only this user.
    pub user_id: Option<Id>,
    /// Only owners or only members.
    pub user_type: Option<UserType>,
}

/// Filter of [`crate::MetaStore::list_dbrps`].
#[derive(Clone, Debug, Default)]
pub struct DbrpFilter {
    /// Only this ID.
    pub id: Option<Id>,
    /// Only this org.
    pub org_id: Option<Id>,
    /// Only this bucket.
    pub bucket_id: Option<Id>,
    /// Only this database.
    pub database: Option<String>,
    /// Only this retention policy.
    pub retention_policy: Option<String>,
    /// Only default (true) or non-default (false) mappings.
    pub default: Option<bool>,
    /// Only virtual (true) or physical (false) mappings.
    pub r#virtual: Option<bool>,
}

/// Input of [`crate::MetaStore::setup`] (InfluxDB onboarding request).
#[derive(Clone, Debug, Default)]
pub struct SetupRequest {
    /// First user's name.
    pub username: String,
    /// Password (at least 8 chars) or none.
    pub password: Option<String>,
    /// First org's name.
    pub org: String,
    /// First bucket's name.
    pub bucket: String,
    /// Retention of the bucket in ns; 0 = infinite.
    pub retention_period_ns: i64,
    /// Operator token to use instead of a random one.
    pub token: Option<String>,
}

/// What [`crate::MetaStore::setup`] created.
#[derive(Clone, Debug)]
pub struct SetupResult {
    /// The user.
    pub user: User,
    /// The org.
    pub org: Organization,
    /// The bucket.
    pub bucket: Bucket,
    /// The operator authorization.
    pub auth: Authorization,
}

/// Input of [`crate::MetaStore::create_bucket`].
#[derive(Clone, Debug, Default)]
pub struct BucketCreate {
    /// Org.
    pub org_id: Option<Id>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Retention in ns; 0 = infinite; otherwise at least one hour.
    pub retention_period_ns: i64,
    /// Shard group duration in ns; 0 = InfluxDB's default for the retention.
    pub shard_group_duration_ns: i64,
    /// 1.x retention policy name (`rp`), usually empty.
    pub rp: String,
    /// User or system.
    pub bucket_type: BucketType,
}

/// Changes of [`crate::MetaStore::update_bucket`]; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct BucketUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New retention in ns.
    pub retention_period_ns: Option<i64>,
    /// New shard group duration in ns (0 = default for the retention).
    pub shard_group_duration_ns: Option<i64>,
}

/// Input of [`crate::MetaStore::create_authorization`].
#[derive(Clone, Debug, Default)]
pub struct AuthorizationCreate {
    /// Org.
    pub org_id: Option<Id>,
    /// User; the server passes the requesting user when the request names none.
    pub user_id: Option<Id>,
    /// Description.
    pub description: String,
    /// Status (default active).
    pub status: Status,
    /// Permissions (at least one).
    pub permissions: Vec<Permission>,
    /// Token to use instead of a random one.
    pub token: Option<String>,
}

/// Changes of [`crate::MetaStore::update_authorization`].
#[derive(Clone, Debug, Default)]
pub struct AuthorizationUpdate {
    /// New status.
    pub status: Option<Status>,
    /// New description.
    pub description: Option<String>,
}

/// Changes of [`crate::MetaStore::update_dbrp`]: only the RP name and the default flag can
/// change (as in InfluxDB).
#[derive(Clone, Debug, Default)]
pub struct DbrpUpdate {
    /// New retention policy name.
    pub retention_policy: Option<String>,
    /// New default flag.
    pub default: Option<bool>,
}

/// Input of [`crate::MetaStore::create_dbrp`].
#[derive(Clone, Debug, Default)]
pub struct DbrpCreate {
    /// Org.
    pub org_id: Option<Id>,
    /// Target bucket.
    pub bucket_id: Option<Id>,
    /// 1.x database.
    pub database: String,
    /// 1.x retention policy.
    pub retention_policy: String,
    /// Make it the default for the database (the first mapping of a database always is).
    pub default: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(action: Action, t: ResourceType, id: Option<u64>, org: Option<u64>) -> Permission {
        Permission {
            action,
            resource: Resource {
                resource_type: t,
                id: id.and_then(Id::new),
                org_id: org.and_then(Id::new),
            },
        }
    }

    #[test]
    fn permission_matching_follows_influxdb() {
        use Action::*;
        use ResourceType::*;
        let want = perm(Write, Buckets, Some(7), Some(1));
        assert!(perm(Write, Buckets, None, None).matches(&want));
        assert!(perm(Write, Instance, None, None).matches(&want));
        assert!(!perm(Read, Instance, None, None).matches(&want));
        assert!(perm(Write, Buckets, None, Some(1)).matches(&want));
        assert!(!perm(Write, Buckets, None, Some(2)).matches(&want));
        assert!(perm(Write, Buckets, Some(7), None).matches(&want));
        assert!(!perm(Write, Buckets, Some(8), Some(1)).matches(&want));
        assert!(!perm(Read, Buckets, None, None).matches(&want));
        assert!(!perm(Write, Orgs, None, None).matches(&want));
        // Operator set: 22 types × read/write, all unscoped.
        let op = Permission::operator_set();
        assert_eq!(op.len(), 44);
        assert_eq!(op[0], perm(Read, Authorizations, None, None));
        let owner = Permission::owner_set(Id::new(1).unwrap());
        assert!(owner.contains(&perm(Write, Orgs, Some(1), None)));
        assert!(owner.contains(&perm(Read, Dbrp, None, Some(1))));
    }
}
