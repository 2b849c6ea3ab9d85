//! Users and their passwords (bcrypt, as InfluxDB stores them), and sign-in checks.

use super::*;

impl MetaStore {
    /// Creates an active user. [`Error::Conflict`] if the name is taken.
    pub fn create_user(&self, name: &str) -> Result<User> {
        self.update(|t| tx_create_user(t, name, Status::Active))
    }

    /// The user with this ID.
    pub fn get_user(&self, id: Id) -> Result<User> {
        get_json(&self.view(), schema::USERS, &id.encode(), Kind::User)
    }

    /// The user with this name.
    pub fn find_user_by_name(&self, name: &str) -> Result<User> {
        let t = self.view();
        let id = t
            .get(schema::USER_INDEX, name.as_bytes())
            .ok_or(Error::not_found(Kind::User))?;
        get_json(&t, schema::USERS, id, Kind::User)
    }

    /// Users matching `filter`, in ID order, paged by `opts`.
    pub fn list_users(&self, filter: &UserFilter, opts: &FindOptions) -> Result<Vec<User>> {
        let mut v: Vec<User> = all_json(&self.view(), schema::USERS)?;
        v.retain(|u| {
            filter.id.is_none_or(|i| i == u.id) && filter.name.as_ref().is_none_or(|n| *n == u.name)
        });
        Ok(opts.apply(v, |u| u.id))
    }

    /// Renames a user and/or changes its status.
    pub fn update_user(&self, id: Id, name: Option<&str>, status: Option<Status>) -> Result<User> {
        self.update(|t| {
            let mut u: User = get_json(t, schema::USERS, &id.encode(), Kind::User)?;
            if let Some(n) = name {
                if n.trim().is_empty() {
                    return Err(Error::Invalid("username is empty".into()));
                }
                if n != u.name {
                    rename_in_index(
                        t,
                        schema::USER_INDEX,
                        u.name.as_bytes(),
                        n.as_bytes().to_vec(),
                        id,
                        "user",
                        n,
                    )?;
                    u.name = n.to_string();
                }
            }
            if let Some(s) = status {
                u.status = s;
            }
            t.put(schema::USERS, id.encode().to_vec(), to_go_json(&u));
            Ok(u)
        })
    }

    /// Deletes a user with its password, URMs and authorizations.
    pub fn delete_user(&self, id: Id) -> Result<()> {
        self.update(|t| {
            let u: User = get_json(t, schema::USERS, &id.encode(), Kind::User)?;
            tx_delete_urms(
                t,
                &UrmFilter {
                    user_id: Some(id),
                    ..Default::default()
                },
            )?;
            let auths: Vec<Authorization> = all_json(t, schema::AUTHS)?;
            for a in auths.iter().filter(|a| a.user_id == Some(id)) {
                tx_delete_auth(t, a.id)?;
            }
            t.delete(schema::PASSWORDS, &id.encode());
            t.delete(schema::USER_INDEX, u.name.as_bytes());
            t.delete(schema::USERS, &id.encode());
            Ok(())
        })
    }

    /// Sets a user's password (bcrypt, cost 10). [`Error::Invalid`] if shorter than 8 chars.
    pub fn set_password(&self, user_id: Id, password: &str) -> Result<()> {
        self.get_user(user_id)?;
        let h = hash_password(password)?;
        self.update(|t| {
            if t.get(schema::USERS, &user_id.encode()).is_none() {
                return Err(Error::not_found(Kind::User));
            }
            t.put(schema::PASSWORDS, user_id.encode().to_vec(), h.into_bytes());
            Ok(())
        })
    }

    /// Checks a user's password. [`Error::Unauthorized`] if it does not match or the user has
    /// none; [`Error::NotFound`] if the user does not exist.
    pub fn verify_password(&self, user_id: Id, password: &str) -> Result<()> {
        let t = self.view();
        if t.get(schema::USERS, &user_id.encode()).is_none() {
            return Err(Error::not_found(Kind::User));
        }
        let bad = || Error::Unauthorized("your username or password is incorrect".into());
        let h = t
            .get(schema::PASSWORDS, &user_id.encode())
            .ok_or_else(bad)?;
        let h = std::str::from_utf8(h).map_err(|_| bad())?;
        match bcrypt::verify(password, h) {
            Ok(true) => Ok(()),
            _ => Err(bad()),
        }
    }

    /// Sign-in check: the active user `name` whose password is `password`, else
    /// [`Error::Unauthorized`].
    pub fn authenticate(&self, name: &str, password: &str) -> Result<User> {
        let bad = || Error::Unauthorized("your username or password is incorrect".into());
        let u = self.find_user_by_name(name).map_err(|_| bad())?;
        if u.status != Status::Active {
            return Err(Error::Unauthorized("user is inactive".into()));
        }
        self.verify_password(u.id, password).map_err(|_| bad())?;
        Ok(u)
    }
}
