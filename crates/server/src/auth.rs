//! Authentication (`Authorization: Token X` / `Bearer X`, or the session cookie set by
//! `/api/v2/signin`) and permission checks as InfluxDB's authorizer makes them. Handlers take
//! [`Auth`] (the `/api/v2` routes) or [`V1Auth`] (the 1.x `/write` and `/query`: a legacy
//! username and password, or a token as the password) as an extractor and call
//! [`Auth::require`] for each permission.
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
    /// A legacy (1.x) username and password; the legacy authorization's ID.
    Legacy { auth_id: Id },
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
/// 1.x handler does (`Influx1xAuthenticationHandler` and the v1 `Authorizer`):
/// * `?u=USER&p=PASSWORD` or basic auth `USER:PASSWORD`: a legacy (1.x) authorization whose
///   username is `USER` and whose password is `PASSWORD`; when no legacy authorization has that
///   username, `PASSWORD` is taken as an API token (any `USER` then);
/// * `Authorization: Token [USER:]TOKEN`: an API token (`USER` is ignored).
///
/// No credentials (a `Bearer` header included) is 401 `unauthorized access`; a wrong password, an
/// unknown token, an inactive authorization, or a user that is inactive or gone is 401
/// `Unauthorized`. The caller holds the authorization's permissions.
#[derive(Debug, Clone)]
pub struct V1Auth(pub Auth);

/// How 1.x credentials were given (InfluxDB's `SchemeV1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V1Scheme {
    /// `u` and `p` query parameters.
    Url,
    /// Basic auth.
    Basic,
    /// `Authorization: Token [user:]token`.
    Token,
}

/// 1.x credentials: scheme, user name, password or token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct V1Credentials {
    scheme: V1Scheme,
    user: String,
    password: String,
}

/// The first value of query parameter `key`.
fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

/// Credentials of a 1.x request, as InfluxDB parses them: `u` and `p` (both non-empty) first,
/// then a two-word `Token` header, then basic auth.
fn v1_credentials(parts: &Parts) -> Option<V1Credentials> {
    if let Some(q) = parts.uri.query() {
        let u = query_value(q, "u").unwrap_or_default();
        let p = query_value(q, "p").unwrap_or_default();
        if !u.is_empty() && !p.is_empty() {
            return Some(V1Credentials {
                scheme: V1Scheme::Url,
                user: u,
                password: p,
            });
        }
    }
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if v.is_empty() {
        return None;
    }
    let words: Vec<&str> = v.split(' ').collect();
    if let [scheme, rest] = words[..]
        && scheme == "Token"
    {
        let (user, token) = rest.split_once(':').unwrap_or(("", rest));
        return Some(V1Credentials {
            scheme: V1Scheme::Token,
            user: user.to_string(),
            password: token.to_string(),
        });
    }
    // Go's `Request.BasicAuth`: a case-insensitive `Basic ` prefix, standard base64.
    let prefix = v.get(..6)?;
    if !prefix.eq_ignore_ascii_case("Basic ") {
        return None;
    }
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&v[6..])
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some(V1Credentials {
        scheme: V1Scheme::Basic,
        user: u.to_string(),
        password: p.to_string(),
    })
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
        let creds = v1_credentials(parts).ok_or_else(ApiError::unauthorized_access)?;
        app.meta(move |m| authorize_v1(m, &creds))
            .await?
            .map(V1Auth)
    }
}

/// InfluxDB's `ErrCredentialsUnauthorized`.
fn credentials_unauthorized() -> ApiError {
    ApiError::unauthorized("Unauthorized")
}

/// The v1 `Authorizer`: the authorization `creds` prove, checked as InfluxDB checks it (active,
/// and its user exists and is active). Failures of the store are `Err` of the outer result.
fn authorize_v1(
    m: &meta::MetaStore,
    creds: &V1Credentials,
) -> meta::Result<Result<Auth, ApiError>> {
    let mut found = None;
    if creds.scheme != V1Scheme::Token {
        match m.find_legacy_authorization_by_username(&creds.user) {
            Ok(a) => match m.compare_legacy_password(a.id, &creds.password) {
                Ok(()) => {
                    found = Some(Auth {
                        credential: Credential::Legacy { auth_id: a.id },
                        user_id: a.user_id,
                        org_id: Some(a.org_id),
                        perms: a.permissions.clone(),
                    });
                    if a.status != Status::Active {
                        return Ok(Err(credentials_unauthorized()));
                    }
                }
                // Deleted in between: as if there were none.
                Err(meta::Error::NotFound { .. }) => {}
                Err(meta::Error::Unauthorized(_)) => return Ok(Err(credentials_unauthorized())),
                Err(e) => return Err(e),
            },
            Err(meta::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let auth = match found {
        Some(a) => a,
        None => match m.find_authorization_by_token(&creds.password) {
            Ok(a) if a.status != Status::Active => return Ok(Err(credentials_unauthorized())),
            Ok(a) => Auth {
                credential: Credential::Token { auth_id: a.id },
                user_id: a.user_id,
                org_id: Some(a.org_id),
                perms: a.permissions,
            },
            Err(meta::Error::NotFound { .. }) => return Ok(Err(credentials_unauthorized())),
            Err(e) => return Err(e),
        },
    };
    // The user must still be there and active; a token without a user is refused, as
    // InfluxDB's look-up of user 0 fails.
    let Some(user) = auth.user_id else {
        return Ok(Err(ApiError::unauthorized_access()));
    };
    if !user_active(m, user)? {
        return Ok(Err(credentials_unauthorized()));
    }
    Ok(Ok(auth))
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

    fn creds(uri: &str, authorization: Option<&str>) -> Option<V1Credentials> {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(a) = authorization {
            b = b.header(header::AUTHORIZATION, a);
        }
        let (parts, ()) = b.body(()).expect("request").into_parts();
        v1_credentials(&parts)
    }

    fn c(scheme: V1Scheme, user: &str, password: &str) -> Option<V1Credentials> {
        Some(V1Credentials {
            scheme,
            user: user.into(),
            password: password.into(),
        })
    }

    #[test]
    fn v1_credentials_as_influxdb_parses_them() {
        // `u` and `p` win over a header; both must be non-empty; the first value counts.
        assert_eq!(
            creds("/write?db=x&u=al%20ice&p=s%3Dcret&p=two", Some("Token t")),
            c(V1Scheme::Url, "al ice", "s=cret")
        );
        assert_eq!(
            creds("/write?u=alice", Some("Token t")),
            c(V1Scheme::Token, "", "t")
        );
        assert_eq!(
            creds("/write", Some("Token bob:tok")),
            c(V1Scheme::Token, "bob", "tok")
        );
        // "YWxpY2U6cDpx" is base64 of "alice:p:q": the password keeps its colon.
        assert_eq!(
            creds("/write", Some("basic YWxpY2U6cDpx")),
            c(V1Scheme::Basic, "alice", "p:q")
        );
        for refused in ["Bearer tok", "Token a b", "Basic !!", "Basic YWxpY2U=", ""] {
            assert_eq!(creds("/write", Some(refused)), None, "{refused}");
        }
        assert_eq!(creds("/write?u=&p=x", None), None);
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
