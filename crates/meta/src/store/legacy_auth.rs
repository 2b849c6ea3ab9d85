//! Legacy (1.x) authorizations: the username/password credentials InfluxDB 2.x keeps for 1.x
//! clients (`influx v1 auth`), with its KV layout and rules (`v1/authorization/`).
//!
//! Format, in three bolt buckets:
//! * `legacy/authorizationsv1`: authID (16 hex digits) → the authorization's JSON, the very shape
//!   of a 2.x authorization (`id`, `token`, `status`, `description`, `orgID`, `userID`,
//!   `permissions`, `createdAt`, `updatedAt`) where `token` holds the 1.x **username**;
//! * `legacy/authorizationindexv1`: username → authID (the unique index; a second authorization
//!   with the same username is a conflict, `token already exists`);
//! * `legacy/authorizationPasswordv1`: authID → the password's bcrypt hash (cost 10, Go's
//!   `bcrypt.DefaultCost`, `$2a$` prefix), absent until a password is set.
//!
//! Rules: creating needs a username, an existing user and org and at least one permission (a
//! missing user or org is `unable to create token`); the status defaults to `active`; only the
//! status and the description change afterwards; passwords have at least 8 bytes. A password
//! check ([`MetaStore::compare_legacy_password`]) is a full bcrypt comparison the first time; a
//! password that matched is remembered for the life of the process as a salted SHA-256 keyed by
//! the stored hash (InfluxDB's `CachingPasswordsService`), so 1.x clients that send the password
//! on every request do not pay a bcrypt each time. The key being the hash itself, a changed or
//! restored password can never match a remembered one.

use std::sync::Mutex;

use sha2::Digest as _;

use super::*;

/// `legacy/authorizationsv1`.
const LEGACY_AUTHS: &str = "legacy/authorizationsv1";
/// `legacy/authorizationindexv1`.
const LEGACY_INDEX: &str = "legacy/authorizationindexv1";
/// `legacy/authorizationPasswordv1`.
const LEGACY_PASSWORDS: &str = "legacy/authorizationPasswordv1";

/// InfluxDB's answer to a wrong or missing password (`EIncorrectPassword`).
const INCORRECT_PASSWORD: &str = "your username or password is incorrect";
/// InfluxDB's answer when the user, the org or the username of a new one is missing.
const UNABLE_TO_CREATE: &str = "unable to create token";

/// Most remembered passwords; past it the memory starts over.
const CACHE_MAX: usize = 4096;

/// A password that matched a bcrypt hash: a random salt and SHA-256 of salt ‖ password.
type Verified = ([u8; 32], Vec<u8>);

/// Passwords that matched, by the bcrypt hash they matched.
static VERIFIED: Mutex<Option<HashMap<String, Verified>>> = Mutex::new(None);

fn salted(salt: &[u8; 32], password: &str) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    h.finalize().to_vec()
}

fn remembered(hash: &str, password: &str) -> bool {
    let cache = lock(&VERIFIED);
    cache
        .as_ref()
        .and_then(|m| m.get(hash))
        .is_some_and(|(salt, digest)| salted(salt, password) == *digest)
}

fn remember(hash: &str, password: &str) {
    let salt: [u8; 32] = rand::random();
    let digest = salted(&salt, password);
    let mut cache = lock(&VERIFIED);
    let m = cache.get_or_insert_with(HashMap::new);
    if m.len() >= CACHE_MAX {
        m.clear();
    }
    m.insert(hash.to_string(), (salt, digest));
}

fn legacy_not_found() -> Error {
    Error::not_found(Kind::Authorization)
}

fn tx_get_legacy(t: &Tree, id: Id) -> Result<Authorization> {
    get_json(t, LEGACY_AUTHS, &id.encode(), Kind::Authorization)
}

impl MetaStore {
    /// Creates a legacy authorization. `req.token` is the 1.x username (required), `req.user_id`
    /// the user it acts for (required), `req.org_id` its org; no password is set yet (see
    /// [`MetaStore::set_legacy_password`]). [`Error::Invalid`] `unable to create token` when the
    /// username is empty or the user or org does not exist, [`Error::Conflict`]
    /// `token already exists` when the username is taken.
    pub fn create_legacy_authorization(&self, req: AuthorizationCreate) -> Result<Authorization> {
        if req.permissions.is_empty() {
            return Err(Error::Invalid(
                "authorization must include permissions".into(),
            ));
        }
        let username = req
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Invalid(UNABLE_TO_CREATE.into()))?;
        let (Some(user_id), Some(org_id)) = (req.user_id, req.org_id) else {
            return Err(Error::Invalid(UNABLE_TO_CREATE.into()));
        };
        self.update(|t| {
            if t.get(schema::USERS, &user_id.encode()).is_none()
                || t.get(schema::ORGS, &org_id.encode()).is_none()
            {
                return Err(Error::Invalid(UNABLE_TO_CREATE.into()));
            }
            if t.get(LEGACY_INDEX, username.as_bytes()).is_some() {
                return Err(Error::Conflict("token already exists".into()));
            }
            let mut id = Id::generate();
            while t.get(LEGACY_AUTHS, &id.encode()).is_some() {
                id = Id::generate();
            }
            let now = Time::now();
            let a = Authorization {
                id,
                token: username.clone(),
                hashed_token: String::new(),
                status: req.status,
                description: req.description,
                org_id,
                user_id: Some(user_id),
                permissions: req.permissions,
                created_at: now,
                updated_at: now,
            };
            t.put(LEGACY_AUTHS, id.encode().to_vec(), to_go_json(&a));
            t.put(LEGACY_INDEX, username.into_bytes(), id.encode().to_vec());
            Ok(a)
        })
    }

    /// The legacy authorization with this ID.
    pub fn get_legacy_authorization(&self, id: Id) -> Result<Authorization> {
        tx_get_legacy(&self.view(), id)
    }

    /// The legacy authorization whose username is `username`.
    pub fn find_legacy_authorization_by_username(&self, username: &str) -> Result<Authorization> {
        let t = self.view();
        let id = t
            .get(LEGACY_INDEX, username.as_bytes())
            .ok_or_else(legacy_not_found)?;
        tx_get_legacy(&t, id_from(id)?)
    }

    /// Legacy authorizations matching `filter` (`token` is the username), in ID order. A filter
    /// by ID or username that matches nothing is [`Error::NotFound`], as in InfluxDB; so is a
    /// user or org name that does not exist.
    pub fn list_legacy_authorizations(
        &self,
        filter: &AuthorizationFilter,
    ) -> Result<Vec<Authorization>> {
        let t = self.view();
        if let Some(id) = filter.id {
            let a = tx_get_legacy(&t, id)?;
            return Ok(vec![a]);
        }
        if let Some(name) = &filter.token {
            let id = t
                .get(LEGACY_INDEX, name.as_bytes())
                .ok_or_else(legacy_not_found)?;
            return Ok(vec![tx_get_legacy(&t, id_from(id)?)?]);
        }
        let user = match &filter.user {
            Some(n) => Some(id_from(
                t.get(schema::USER_INDEX, n.as_bytes())
                    .ok_or(Error::not_found(Kind::User))?,
            )?),
            None => None,
        };
        let org = match &filter.org {
            Some(n) => Some(id_from(
                t.get(schema::ORG_INDEX, n.trim().as_bytes())
                    .ok_or(Error::not_found(Kind::Organization))?,
            )?),
            None => None,
        };
        let mut v: Vec<Authorization> = all_json(&t, LEGACY_AUTHS)?;
        v.retain(|a| {
            filter.user_id.is_none_or(|u| a.user_id == Some(u))
                && user.is_none_or(|u| a.user_id == Some(u))
                && filter.org_id.is_none_or(|o| a.org_id == o)
                && org.is_none_or(|o| a.org_id == o)
        });
        v.sort_by_key(|a| a.id);
        Ok(v)
    }

    /// Changes a legacy authorization's status and/or description.
    pub fn update_legacy_authorization(
        &self,
        id: Id,
        upd: AuthorizationUpdate,
    ) -> Result<Authorization> {
        self.update(|t| {
            let mut a = tx_get_legacy(t, id)?;
            if let Some(s) = upd.status {
                a.status = s;
            }
            if let Some(d) = upd.description {
                a.description = d;
            }
            a.updated_at = Time::now();
            t.put(
                LEGACY_INDEX,
                a.token.as_bytes().to_vec(),
                id.encode().to_vec(),
            );
            t.put(LEGACY_AUTHS, id.encode().to_vec(), to_go_json(&a));
            Ok(a)
        })
    }

    /// Deletes a legacy authorization, its username index entry and its password.
    pub fn delete_legacy_authorization(&self, id: Id) -> Result<()> {
        self.update(|t| {
            let a = tx_get_legacy(t, id)?;
            t.delete(LEGACY_INDEX, a.token.as_bytes());
            t.delete(LEGACY_PASSWORDS, &id.encode());
            t.delete(LEGACY_AUTHS, &id.encode());
            Ok(())
        })
    }

    /// Sets the password of a legacy authorization (bcrypt, cost 10). [`Error::Invalid`] if
    /// shorter than 8 bytes; [`Error::NotFound`] if the authorization does not exist.
    pub fn set_legacy_password(&self, id: Id, password: &str) -> Result<()> {
        if password.len() < MIN_PASSWORD_LEN {
            return Err(Error::Invalid(format!(
                "passwords must be at least {MIN_PASSWORD_LEN} characters long"
            )));
        }
        self.get_legacy_authorization(id)?;
        let hash = bcrypt::hash_with_result(password, BCRYPT_COST)
            .map_err(|e| Error::Invalid(format!("unable to hash password: {e}")))?
            .format_for_version(bcrypt::Version::TwoA);
        self.set_legacy_password_hash(id, &hash)
    }

    /// Stores an existing bcrypt hash as the password (what an upgrade from 1.x carries over).
    /// [`Error::Invalid`] `invalid bcrypt hash` if it is not one.
    pub fn set_legacy_password_hash(&self, id: Id, hash: &str) -> Result<()> {
        if !is_bcrypt_hash(hash) {
            return Err(Error::Invalid("invalid bcrypt hash".into()));
        }
        self.update(|t| {
            tx_get_legacy(t, id)?;
            t.put(
                LEGACY_PASSWORDS,
                id.encode().to_vec(),
                hash.as_bytes().to_vec(),
            );
            Ok(())
        })
    }

    /// Checks the password of a legacy authorization (`ComparePassword`): [`Error::NotFound`]
    /// if the authorization does not exist, [`Error::Unauthorized`]
    /// `your username or password is incorrect` if the password is wrong or none is set. The
    /// status is not looked at.
    pub fn compare_legacy_password(&self, id: Id, password: &str) -> Result<()> {
        let hash = {
            let t = self.view();
            tx_get_legacy(&t, id)?;
            let h = t
                .get(LEGACY_PASSWORDS, &id.encode())
                .ok_or_else(|| Error::Unauthorized(INCORRECT_PASSWORD.into()))?;
            String::from_utf8_lossy(h).into_owned()
        };
        if remembered(&hash, password) {
            return Ok(());
        }
        match bcrypt::verify(password, &hash) {
            Ok(true) => {
                remember(&hash, password);
                Ok(())
            }
            _ => Err(Error::Unauthorized(INCORRECT_PASSWORD.into())),
        }
    }
}

/// Whether `h` is a bcrypt hash Go's `bcrypt.Cost` accepts: `$2a$`, `$2b$`, `$2x$` or `$2y$`,
/// a two-digit cost from 4 to 31, and 53 characters of salt and digest.
fn is_bcrypt_hash(h: &str) -> bool {
    let b = h.as_bytes();
    b.len() == 60
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[6] == b'$'
        && std::str::from_utf8(&b[4..6])
            .ok()
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(|c| (4..=31).contains(&c))
        && b[7..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_hash_shape() {
        let h = bcrypt::hash("password1", 4).unwrap();
        assert!(is_bcrypt_hash(&h), "{h}");
        assert!(!is_bcrypt_hash("password1"));
        assert!(!is_bcrypt_hash(&h.replacen("$04$", "$99$", 1)));
        assert!(!is_bcrypt_hash(&h[..59]));
    }

    #[test]
    fn remembered_only_for_the_same_hash_and_password() {
        remember("$2a$10$hash-one", "secret-pw");
        assert!(remembered("$2a$10$hash-one", "secret-pw"));
        assert!(!remembered("$2a$10$hash-one", "other-pw"));
        assert!(!remembered("$2a$10$hash-two", "secret-pw"));
    }
}
