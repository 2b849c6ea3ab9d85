//! DBRP mappings: the 1.x database and retention policy names of a bucket, one default per
//! database.

use super::*;

impl MetaStore {
    /// Creates a physical DBRP mapping. The bucket must exist in the org; (org, database, rp)
    /// must be unique ([`Error::Conflict`]). The first mapping of a database becomes its default;
    /// a new default replaces the old one.
    pub fn create_dbrp(&self, req: DbrpCreate) -> Result<DbrpMapping> {
        let org_id = req
            .org_id
            .ok_or_else(|| Error::Invalid("organizationID is required".into()))?;
        let bucket_id = req
            .bucket_id
            .ok_or_else(|| Error::Invalid("bucketID is required".into()))?;
        if req.database.is_empty() {
            return Err(Error::Invalid(
                "database must contain at least one character".into(),
            ));
        }
        if req.retention_policy.is_empty() {
            return Err(Error::Invalid(
                "retentionPolicy must contain at least one character".into(),
            ));
        }
        self.update(|t| {
            let b: Bucket = get_json(t, schema::BUCKETS, &bucket_id.encode(), Kind::Bucket)?;
            if b.org_id != org_id {
                return Err(Error::not_found(Kind::Bucket));
            }
            let fk = dbrp_fk(org_id, &req.database);
            for (_, id) in t.prefix(schema::DBRP_BY_ORG_DB, &[fk.as_slice(), b"/"].concat()) {
                let m: DbrpMapping = get_json(t, schema::DBRPS, id, Kind::Dbrp)?;
                if m.retention_policy == req.retention_policy && m.database == req.database {
                    return Err(Error::Conflict(
                        "another DBRP mapping with same orgID, db, and rp exists".into(),
                    ));
                }
            }
            let id = Id::generate();
            let has_default = t.get(schema::DBRP_DEFAULT, &fk).is_some();
            let m = DbrpMapping {
                id,
                database: req.database.clone(),
                retention_policy: req.retention_policy.clone(),
                default: req.default || !has_default,
                r#virtual: false,
                org_id,
                bucket_id,
            };
            t.put(
                schema::DBRP_BY_ORG_DB,
                [fk.as_slice(), b"/", &id.encode()].concat(),
                id.encode().to_vec(),
            );
            t.put(
                schema::DBRP_BY_ORG,
                [&org_id.encode()[..], b"/", &id.encode()].concat(),
                id.encode().to_vec(),
            );
            t.put(schema::DBRPS, id.encode().to_vec(), to_go_json(&m));
            if m.default {
                tx_set_default_dbrp(t, &fk, id)?;
            }
            Ok(m)
        })
    }

    /// The mapping with this ID: a physical one, else the virtual mapping of the bucket with this
    /// ID (in `org_id` when given).
    pub fn get_dbrp(&self, org_id: Option<Id>, id: Id) -> Result<DbrpMapping> {
        let v = self.list_dbrps(&DbrpFilter {
            id: Some(id),
            org_id,
            ..Default::default()
        })?;
        v.into_iter().next().ok_or(Error::not_found(Kind::Dbrp))
    }

    /// Mappings matching `filter`: physical ones (with `default` from the default index) in ID
    /// order, then one virtual mapping per bucket (database/rp from the bucket name `db/rp` or
    /// `name`/`autogen`, ID = bucket ID, default unless a physical mapping targets the bucket).
    pub fn list_dbrps(&self, filter: &DbrpFilter) -> Result<Vec<DbrpMapping>> {
        let t = self.view();
        let mut phys: Vec<DbrpMapping> = all_json(&t, schema::DBRPS)?;
        for m in &mut phys {
            m.default = t
                .get(schema::DBRP_DEFAULT, &dbrp_fk(m.org_id, &m.database))
                .map(|v| v == m.id.encode())
                .unwrap_or(false);
        }
        let matches = |m: &DbrpMapping| {
            filter.id.is_none_or(|i| i == m.id)
                && filter.org_id.is_none_or(|i| i == m.org_id)
                && filter.bucket_id.is_none_or(|i| i == m.bucket_id)
                && filter.database.as_ref().is_none_or(|d| *d == m.database)
                && filter
                    .retention_policy
                    .as_ref()
                    .is_none_or(|r| *r == m.retention_policy)
                && filter.default.is_none_or(|d| d == m.default)
                && filter.r#virtual.is_none_or(|v| v == m.r#virtual)
        };
        let buckets: Vec<Bucket> = all_json(&t, schema::BUCKETS)?;
        let mut out: Vec<DbrpMapping> = phys.iter().filter(|m| matches(m)).cloned().collect();
        for b in buckets {
            let (database, retention_policy) = parse_dbrp(&b.name);
            let v = DbrpMapping {
                id: b.id,
                database,
                retention_policy,
                default: !phys.iter().any(|m| m.bucket_id == b.id),
                r#virtual: true,
                org_id: b.org_id,
                bucket_id: b.id,
            };
            if matches(&v) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Changes a physical mapping's retention policy name and/or default flag (InfluxDB's rules:
    /// setting default moves the default here; unsetting it moves it to the first other mapping of
    /// the database, if any).
    pub fn update_dbrp(&self, org_id: Id, id: Id, upd: DbrpUpdate) -> Result<DbrpMapping> {
        self.update(|t| {
            let mut m: DbrpMapping = get_json(t, schema::DBRPS, &id.encode(), Kind::Dbrp)?;
            if m.org_id != org_id {
                return Err(Error::not_found(Kind::Dbrp));
            }
            let fk = dbrp_fk(m.org_id, &m.database);
            let was_default = t.get(schema::DBRP_DEFAULT, &fk) == Some(&id.encode()[..]);
            if let Some(rp) = &upd.retention_policy {
                if rp.is_empty() {
                    return Err(Error::Invalid(
                        "retentionPolicy must contain at least one character".into(),
                    ));
                }
                for (_, oid) in t.prefix(schema::DBRP_BY_ORG_DB, &[fk.as_slice(), b"/"].concat()) {
                    if oid == id.encode() {
                        continue;
                    }
                    let o: DbrpMapping = get_json(t, schema::DBRPS, oid, Kind::Dbrp)?;
                    if o.retention_policy == *rp && o.database == m.database {
                        return Err(Error::Conflict(
                            "another DBRP mapping with same orgID, db, and rp exists".into(),
                        ));
                    }
                }
                m.retention_policy = rp.clone();
            }
            m.default = upd.default.unwrap_or(was_default);
            t.put(schema::DBRPS, id.encode().to_vec(), to_go_json(&m));
            if m.default {
                tx_set_default_dbrp(t, &fk, id)?;
            } else if was_default {
                if let Some(first) = tx_first_dbrp_but(t, &fk, id) {
                    tx_set_default_dbrp(t, &fk, first)?;
                } else {
                    m.default = true;
                }
            }
            Ok(m)
        })
    }

    /// Deletes a physical mapping (a missing one is not an error, as in InfluxDB). Deleting the
    /// default makes the first remaining mapping of the database the default.
    pub fn delete_dbrp(&self, org_id: Id, id: Id) -> Result<()> {
        self.update(|t| {
            let Some(v) = t.get(schema::DBRPS, &id.encode()) else {
                return Ok(());
            };
            let m: DbrpMapping = from_json(schema::DBRPS, v)?;
            if m.org_id != org_id {
                return Ok(());
            }
            tx_delete_dbrp(t, &m)
        })
    }
}
