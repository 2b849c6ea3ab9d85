//! Authentication (`Authorization: Token X` / `Bearer X`, or the session cookie set by
//! `/api/v2/signin`) and permission checks as InfluxDB's authorizer makes them. Handlers take
//! [`Auth`] (the `/api/v2` routes) or [`V1Auth`] (the 1.x `/write` and `/query`, which also take
//! the token as a password) as an extractor and call [`Auth::require`] for each permission.
//!
//! A permission is an action on a resource type, optionally narrowed to an org and/or an ID.
//! A held permission grants a wanted one when action and type agree and either the held one has
//! neither org nor ID (instance-wide), or its org equals the wanted org, or its ID equals the
//! wanted ID (`influxdb.Permission.Matches`). A denial answers 401 `unauthorized` with
//! InfluxDB's text, `<action>:<resource> is unauthorized`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::App;
use crate::error::ApiError;

/// The name of InfluxDB's session cookie.
pub const SESSION_COOKIE: &str = "influxdb-oss-session";
/// How long a session lives (InfluxDB's default `--session-length`, 60 minutes).
pub const SESSION_LENGTH: Duration = Duration::from_secs(60 * 60);
/// How far a session's expiry is pushed on each use (InfluxDB's `RenewSessionTime`).
pub const SESSION_RENEW: Duration = Duration::from_secs(5 * 60);

pub use meta::{Action, Permission, Resource, ResourceType};
use meta::{Id, Status, UrmFilter, UserType};

/// Builds permissions as InfluxDB's authorizer asks for them.
pub struct Perm;

impl Perm {
    fn with(action: Action, t: ResourceType, org_id: Option<Id>, id: Option<Id>) -> Permission {
        Permission {
            action,
            resource: Resource {
                resource_type: t,
                id,
                org_id,
            },
        }
    }

    /// Instance-wide permission on a type (what creating an org or a user needs).
    pub fn global(action: Action, t: ResourceType) -> Permission {
        Self::with(action, t, None, None)
    }

    /// Permission on every resource of a type in one org (what creating a bucket needs).
    pub fn in_org(action: Action, t: ResourceType, org: Id) -> Permission {
        Self::with(action, t, Some(org), None)
    }

    /// Permission on one resource of an org (`NewPermissionAtID`).
    pub fn at(action: Action, t: ResourceType, org: Id, id: Id) -> Permission {
        Self::with(action, t, Some(org), Some(id))
    }

    /// Permission on one resource that belongs to no org (a user).
    pub fn resource(action: Action, t: ResourceType, id: Id) -> Permission {
        Self::with(action, t, None, Some(id))
    }
}

/// Whether holding `held` grants `want` (InfluxDB's `Permission.Matches`).
pub fn grants(held: &Permission, want: &Permission) -> bool {
    if held.action != want.action || held.resource.resource_type != want.resource.resource_type {
        return false;
    }
    match (held.resource.org_id, held.resource.id) {
        (None, None) => true,
        (Some(o), None) => want.resource.org_id == Some(o),
        (_, Some(i)) => want.resource.id == Some(i),
    }
}

/// `<action>:<resource>` as InfluxDB prints a permission: `read:orgs/<org>/buckets/<id>`,
/// `write:orgs/<org>/buckets`, `read:users/<id>`, `write:orgs`.
pub fn display(p: &Permission) -> String {
    let a = match p.action {
        Action::Read => "read",
        Action::Write => "write",
    };
    let t = p.resource.resource_type.as_str();
    match (p.resource.org_id, p.resource.id) {
        (Some(o), Some(i)) => format!("{a}:orgs/{o}/{t}/{i}"),
        (Some(o), None) => format!("{a}:orgs/{o}/{t}"),
        (None, Some(i)) => format!("{a}:{t}/{i}"),
        (None, None) => format!("{a}:{t}"),
    }
}

/// An org member's permission set (`MemberPermissions`): read on everything of the org.
pub fn member_perms(org: Id) -> Vec<Permission> {
    ResourceType::ALL
        .iter()
        .filter(|t| **t != ResourceType::Instance)
        .map(|&t| {
            if t == ResourceType::Orgs {
                Perm::resource(Action::Read, t, org)
            } else {
                Perm::in_org(Action::Read, t, org)
            }
        })
        .collect()
}

/// Read and write on one's own user (`MePermissions`).
pub fn me_perms(user: Id) -> Vec<Permission> {
    vec![
        Perm::resource(Action::Read, ResourceType::Users, user),
        Perm::resource(Action::Write, ResourceType::Users, user),
    ]
}

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API token; the authorization's ID.
    Token { auth_id: Id },
    /// A session cookie; its key.
    Session { key: String },
}

/// The authenticated caller of a request, with the permissions it holds.
#[derive(Debug, Clone)]
pub struct Auth {
    pub credential: Credential,
    /// The user the token or session belongs to (none for a token without a user).
    pub user_id: Option<Id>,
    /// The org of the token (none for a session).
    pub org_id: Option<Id>,
    pub perms: Vec<Permission>,
}

impl Auth {
    pub fn allowed(&self, want: &Permission) -> bool {
        self.perms.iter().any(|p| grants(p, want))
    }

    /// `Ok` if allowed, else InfluxDB's 401 `<perm> is unauthorized`.
    pub fn require(&self, want: &Permission) -> Result<(), ApiError> {
        if self.allowed(want) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(format!(
                "{} is unauthorized",
                display(want)
            )))
        }
    }

    /// Whether this caller holds the operator's instance-wide permissions.
    pub fn is_operator(&self) -> bool {
        Permission::operator_set().iter().all(|p| self.allowed(p))
    }

    /// InfluxDB's `IsAllowedAll(OperPermissions())`, which backup and restore demand: 401 naming
    /// the first missing permission (`read:authorizations is unauthorized` for an org's
    /// all-access token).
    pub fn require_operator(&self) -> Result<(), ApiError> {
        Permission::operator_set()
            .iter()
            .try_for_each(|p| self.require(p))
    }
}

/// A signed-in user's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Id,
    pub expires: Instant,
}

/// Live sessions, keyed by the cookie value. Kept in memory: a restart signs everyone out.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Creates a session for `user_id` and returns its key.
    pub fn create(&self, user_id: Id) -> String {
        use base64::Engine as _;
        let bytes: [u8; 32] = rand::random();
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let s = Session {
            user_id,
            expires: Instant::now() + SESSION_LENGTH,
        };
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(key.clone(), s);
        key
    }

    /// The live session under `key`, renewed (its expiry pushed to at least
    /// [`SESSION_RENEW`] from now, as InfluxDB renews sessions on use).
    pub fn get(&self, key: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let s = map.get_mut(key).filter(|s| s.expires > now)?;
        s.expires = s.expires.max(now + SESSION_RENEW);
        Some(s.clone())
    }

    pub fn remove(&self, key: &str) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key).is_some()
    }
}

/// What the request presented.
enum Presented {
    Token(String),
    Session(String),
}

/// A token (`Token X` or `Bearer X`) wins over a session cookie; another scheme (basic auth on
/// `/me/password`) leaves the cookie to decide (InfluxDB's `ProbeAuthScheme`).
fn presented(parts: &Parts) -> Option<Presented> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION)
        && let Ok(v) = v.to_str()
        && let Some((scheme, rest)) = v.split_once(' ')
        && matches!(scheme, "Token" | "Bearer")
    {
        return Some(Presented::Token(rest.trim().to_string()));
    }
    for v in parts.headers.get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for kv in v.split(';') {
            if let Some((k, val)) = kv.trim().split_once('=')
                && k == SESSION_COOKIE
            {
                return Some(Presented::Session(val.to_string()));
            }
        }
    }
    None
}

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    /// As InfluxDB's authentication middleware: no credential, an unknown token or an unknown
    /// session is 401 `unauthorized access`; a caller whose user is inactive (or gone) is 403
    /// `User is inactive`. An inactive token authenticates but holds no permission, so every
    /// check on it fails with `<permission> is unauthorized` (`Authorization.Allowed`).
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Auth, ApiError> {
        let found = match presented(parts) {
            None => None,
            Some(Presented::Token(token)) if token.is_empty() => None,
            Some(Presented::Token(token)) => auth_for_token(app, token).await?,
            Some(Presented::Session(key)) => match app.sessions.get(&key) {
                None => None,
                Some(s) => auth_for_session(app, key, s.user_id).await?,
            },
        };
        match found {
            None => Err(ApiError::unauthorized_access()),
            Some((_, false)) => Err(ApiError::forbidden("User is inactive")),
            Some((auth, true)) => Ok(auth),
        }
    }
}

/// The caller of an InfluxDB 1.x route (`/write`, `/query`), authenticated as InfluxDB 2.x's
/// 1.x handler does: the password is an API token, given as `?u=USER&p=TOKEN`,
/// `Authorization: Token [USER:]TOKEN` (or `Bearer TOKEN`), or basic auth `USER:TOKEN`. A
/// user name, when given, must be the token's user (403 `Username and Token do not match`).
/// Session cookies are accepted too.
#[derive(Debug, Clone)]
pub struct V1Auth(pub Auth);

/// `(user, token)` from a 1.x request.
fn v1_credentials(parts: &Parts) -> Option<(String, String)> {
    if let Some(q) = parts.uri.query() {
        let (mut u, mut p) = (String::new(), String::new());
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "u" => u = v,
                "p" => p = v,
                _ => {}
            }
        }
        if !u.is_empty() && !p.is_empty() {
            return Some((u, p));
        }
    }
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    match scheme {
        "Token" => Some(match rest.trim().split_once(':') {
            Some((u, t)) => (u.to_string(), t.to_string()),
            None => (String::new(), rest.trim().to_string()),
        }),
        "Bearer" => Some((String::new(), rest.trim().to_string())),
        "Basic" => {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (u, p) = text.split_once(':')?;
            Some((u.to_string(), p.to_string()))
        }
        _ => None,
    }
}

/// Decodes `%XX` and `+` in a query value.
fn percent_decode(s: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl FromRequestParts<App> for V1Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<V1Auth, ApiError> {
        let Some((user, token)) = v1_credentials(parts) else {
            // No 1.x credentials: a session cookie may still do.
            return Auth::from_request_parts(parts, app).await.map(V1Auth);
        };
        if token.is_empty() {
            return Err(ApiError::unauthorized_access());
        }
        let Some((auth, active)) = auth_for_token(app, token).await? else {
            return Err(ApiError::unauthorized_access());
        };
        if !user.is_empty() {
            let owner = auth.user_id;
            let named = app
                .meta(move |m| match m.find_user_by_name(&user) {
                    Ok(u) => Ok(Some(u.id)),
                    Err(meta::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                })
                .await?;
            match named {
                None => return Err(ApiError::unauthorized_access()),
                Some(id) if Some(id) != owner => {
                    return Err(ApiError::forbidden("Username and Token do not match"));
                }
                Some(_) => {}
            }
        }
        if !active {
            return Err(ApiError::forbidden("User is inactive"));
        }
        Ok(V1Auth(auth))
    }
}

/// Whether the user exists and is active.
fn user_active(m: &meta::MetaStore, id: Id) -> meta::Result<bool> {
    match m.get_user(id) {
        Ok(u) => Ok(u.status == Status::Active),
        Err(meta::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Looks a token up; the flag says whether its user (if any) is active.
async fn auth_for_token(app: &App, token: String) -> Result<Option<(Auth, bool)>, ApiError> {
    app.meta(move |m| {
        let a = match m.find_authorization_by_token(&token) {
            Ok(a) => a,
            Err(meta::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let active_user = match a.user_id {
            Some(u) => user_active(m, u)?,
            None => true,
        };
        let perms = if a.status == Status::Active {
            a.permissions
        } else {
            Vec::new()
        };
        let auth = Auth {
            credential: Credential::Token { auth_id: a.id },
            user_id: a.user_id,
            org_id: Some(a.org_id),
            perms,
        };
        Ok(Some((auth, active_user)))
    })
    .await
}

/// A user's permissions, from its resource mappings as InfluxDB derives them: owner of an org →
/// the owner set, member → the member set, instance owner → the operator set, owner/member of
/// another resource → write+read / read on it; plus read+write on oneself. A session holds these.
pub fn user_permissions(m: &meta::MetaStore, user_id: Id) -> meta::Result<Vec<Permission>> {
    let f = UrmFilter {
        user_id: Some(user_id),
        ..UrmFilter::default()
    };
    let mut perms = Vec::new();
    for urm in m.list_urms(&f)? {
        let owner = urm.user_type == UserType::Owner;
        match urm.resource_type {
            ResourceType::Instance => perms.extend(Permission::operator_set()),
            ResourceType::Orgs if owner => perms.extend(Permission::owner_set(urm.resource_id)),
            ResourceType::Orgs => perms.extend(member_perms(urm.resource_id)),
            t => {
                perms.push(Perm::resource(Action::Read, t, urm.resource_id));
                if owner {
                    perms.push(Perm::resource(Action::Write, t, urm.resource_id));
                }
            }
        }
    }
    perms.extend(me_perms(user_id));
    Ok(perms)
}

/// A session's caller, with [`user_permissions`]; the flag says whether its user is active.
async fn auth_for_session(
    app: &App,
    key: String,
    user_id: Id,
) -> Result<Option<(Auth, bool)>, ApiError> {
    app.meta(move |m| {
        if !user_active(m, user_id)? {
            let auth = Auth {
                credential: Credential::Session { key },
                user_id: Some(user_id),
                org_id: None,
                perms: Vec::new(),
            };
            return Ok(Some((auth, false)));
        }
        let perms = user_permissions(m, user_id)?;
        let auth = Auth {
            credential: Credential::Session { key },
            user_id: Some(user_id),
            org_id: None,
            perms,
        };
        Ok(Some((auth, true)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> Id {
        Id::new(v).unwrap_or(Id::INSTANCE)
    }

    #[test]
    fn matching_as_influxdb() {
        let (org, other, b) = (id(0xaa), id(0xbb), id(0x11));
        let bk = ResourceType::Buckets;
        let want = Perm::at(Action::Read, bk, org, b);
        assert!(grants(&Perm::global(Action::Read, bk), &want));
        assert!(!grants(&Perm::global(Action::Write, bk), &want));
        assert!(!grants(
            &Perm::global(Action::Read, ResourceType::Orgs),
            &want
        ));
        assert!(grants(&Perm::in_org(Action::Read, bk, org), &want));
        assert!(!grants(&Perm::in_org(Action::Read, bk, other), &want));
        assert!(grants(&Perm::at(Action::Read, bk, other, b), &want));
        assert!(!grants(&Perm::resource(Action::Read, bk, id(0x12)), &want));
        // An org-scoped permission does not grant an instance-wide one.
        let o = ResourceType::Orgs;
        assert!(!grants(
            &Perm::in_org(Action::Write, o, org),
            &Perm::global(Action::Write, o)
        ));
    }

    #[test]
    fn display_as_influxdb() {
        let bk = ResourceType::Buckets;
        assert_eq!(
            display(&Perm::at(Action::Read, bk, id(1), id(2))),
            "read:orgs/0000000000000001/buckets/0000000000000002"
        );
        assert_eq!(
            display(&Perm::in_org(Action::Write, bk, id(1))),
            "write:orgs/0000000000000001/buckets"
        );
        assert_eq!(
            display(&Perm::global(Action::Read, ResourceType::Authorizations)),
            "read:authorizations"
        );
        assert_eq!(
            display(&Perm::resource(Action::Write, ResourceType::Users, id(3))),
            "write:users/0000000000000003"
        );
    }

    #[test]
    fn permission_sets() {
        assert!(member_perms(id(5)).iter().all(|p| p.action == Action::Read));
        assert!(member_perms(id(5)).contains(&Perm::resource(
            Action::Read,
            ResourceType::Orgs,
            id(5)
        )));
        assert_eq!(me_perms(id(5)).len(), 2);
    }

    #[test]
    fn operator_check_names_the_first_missing_permission() {
        let caller = |perms| Auth {
            credential: Credential::Token { auth_id: id(1) },
            user_id: None,
            org_id: None,
            perms,
        };
        assert!(
            caller(Permission::operator_set())
                .require_operator()
                .is_ok()
        );
        let all_access = caller(Permission::owner_set(id(9)));
        assert!(!all_access.is_operator());
        assert_eq!(
            all_access.require_operator().err().map(|e| e.message),
            Some("read:authorizations is unauthorized".to_string())
        );
    }

    #[test]
    fn query_values_decode() {
        assert_eq!(percent_decode("a%2Bb+c%3D%3D"), "a+b c==");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("ü%C3%BC"), "üü");
    }

    #[test]
    fn sessions_expire_and_remove() {
        let s = Sessions::default();
        let k = s.create(id(7));
        assert_eq!(s.get(&k).map(|s| s.user_id), Some(id(7)));
        assert!(s.remove(&k));
        assert!(s.get(&k).is_none());
    }
}
