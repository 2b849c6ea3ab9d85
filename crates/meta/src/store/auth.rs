//! Authorizations (tokens, kept in clear or hashed as InfluxDB 2.7 does) and user-resource
//! mappings.

use super::*;

impl MetaStore {
    /// Creates an authorization: the org (and user, if given) must exist, at least one permission
    /// is required, and the token is `req.token` or 64 random bytes in padded base64url.
    /// [`Error::Conflict`] if the token already exists.
    pub fn create_authorization(&self, req: AuthorizationCreate) -> Result<Authorization> {
        self.update(|t| tx_create_auth(t, req))
    }

    /// The authorization carrying `token`: by the clear-token index, else by matching
    /// `hashedToken` entries of InfluxDB ≥ 2.8 stores.
    pub fn find_authorization_by_token(&self, token: &str) -> Result<Authorization> {
        let t = self.view();
        let cache = t.tokens();
        if let Some(a) = cache.by_token.get(token) {
            return Ok(a.clone());
        }
        if let Some(id) = t.get(schema::AUTH_INDEX, token.as_bytes()) {
            return get_json(&t, schema::AUTHS, id, Kind::Authorization);
        }
        if token.is_empty() {
            return Err(Error::not_found(Kind::Authorization));
        }
        cache
            .hashed
            .iter()
            .find(|a| hashed_token_matches(&a.hashed_token, token))
            .cloned()
            .ok_or(Error::not_found(Kind::Authorization))
    }

    /// The authorization with this ID.
    pub fn get_authorization(&self, id: Id) -> Result<Authorization> {
        get_json(
            &self.view(),
            schema::AUTHS,
            &id.encode(),
            Kind::Authorization,
        )
    }

    /// Authorizations matching `filter` in ID order. Filters naming an unknown user or org are
    /// [`Error::NotFound`].
    pub fn list_authorizations(&self, filter: &AuthorizationFilter) -> Result<Vec<Authorization>> {
        let t = self.view();
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
        let mut v: Vec<Authorization> = all_json(&t, schema::AUTHS)?;
        v.retain(|a| {
            filter.id.is_none_or(|i| i == a.id)
                && filter
                    .token
                    .as_ref()
                    .is_none_or(|tok| a.token == *tok || hashed_token_matches(&a.hashed_token, tok))
                && filter.user_id.is_none_or(|u| a.user_id == Some(u))
                && user.is_none_or(|u| a.user_id == Some(u))
                && filter.org_id.is_none_or(|o| a.org_id == o)
                && org.is_none_or(|o| a.org_id == o)
        });
        v.sort_by_key(|a| a.id);
        Ok(v)
    }

    /// Changes an authorization's status and/or description.
    pub fn update_authorization(&self, id: Id, upd: AuthorizationUpdate) -> Result<Authorization> {
        self.update(|t| {
            let mut a: Authorization =
                get_json(t, schema::AUTHS, &id.encode(), Kind::Authorization)?;
            if let Some(s) = upd.status {
                a.status = s;
            }
            if let Some(d) = upd.description {
                a.description = d;
            }
            a.updated_at = Time::now();
            t.put(schema::AUTHS, id.encode().to_vec(), to_go_json(&a));
            Ok(a)
        })
    }

    /// Deletes an authorization and its index entries.
    pub fn delete_authorization(&self, id: Id) -> Result<()> {
        self.update(|t| tx_delete_auth(t, id))
    }

    // ------------------------------------------------------------------ URMs

    /// Creates a user-resource mapping. [`Error::Conflict`] if the user is already mapped to the
    /// resource; the user must exist.
    pub fn create_urm(&self, m: UserResourceMapping) -> Result<UserResourceMapping> {
        self.update(|t| {
            if t.get(schema::USERS, &m.user_id.encode()).is_none() {
                return Err(Error::not_found(Kind::User));
            }
            tx_create_urm(t, &m)?;
            Ok(m)
        })
    }

    /// URMs matching `filter`, in key order (resource ID, then user ID).
    pub fn list_urms(&self, filter: &UrmFilter) -> Result<Vec<UserResourceMapping>> {
        tx_urms(&self.view(), filter)
    }

    /// Deletes the mapping of `user_id` to `resource_id`.
    pub fn delete_urm(&self, resource_id: Id, user_id: Id) -> Result<()> {
        self.update(|t| {
            if t.get(schema::URMS, &urm_key(resource_id, user_id))
                .is_none()
            {
                return Err(Error::not_found(Kind::UserResourceMapping));
            }
            tx_delete_urm(t, resource_id, user_id);
            Ok(())
        })
    }
}
