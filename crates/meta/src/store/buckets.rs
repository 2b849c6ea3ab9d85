//! Buckets: create, find, list (with paging), update (name, retention, shard group duration),
//! delete.

use super::*;

impl MetaStore {
    /// Creates a bucket (and its catalogue database). The name must be unique in the org and
    /// not start with `_` unless the type is system; retention is 0 (infinite) or at least one
    /// hour; shard group duration 0 takes InfluxDB's default for the retention
    /// ([`default_shard_group_duration`]).
    pub fn create_bucket(&self, req: BucketCreate) -> Result<Bucket> {
        self.update(|t| tx_create_bucket(t, req))
    }

    /// The bucket with this ID.
    pub fn get_bucket(&self, id: Id) -> Result<Bucket> {
        get_json(&self.view(), schema::BUCKETS, &id.encode(), Kind::Bucket)
    }

    /// The bucket `name` of org `org_id`.
    pub fn find_bucket_by_name(&self, org_id: Id, name: &str) -> Result<Bucket> {
        let t = self.view();
        let id = t
            .get(schema::BUCKET_INDEX, &bucket_index_key(org_id, name))
            .ok_or(Error::not_found(Kind::Bucket))?;
        get_json(&t, schema::BUCKETS, id, Kind::Bucket)
    }

    /// Buckets matching `filter`, in ID order, paged by `opts`. A filter by org name that
    /// names no org is [`Error::NotFound`] (organization).
    pub fn list_buckets(&self, filter: &BucketFilter, opts: &FindOptions) -> Result<Vec<Bucket>> {
        let t = self.view();
        let org_by_name = match &filter.org {
            Some(n) => {
                let id = t
                    .get(schema::ORG_INDEX, n.trim().as_bytes())
                    .ok_or(Error::not_found(Kind::Organization))?;
                Some(id_from(id)?)
            }
            None => None,
        };
        let mut v: Vec<Bucket> = all_json(&t, schema::BUCKETS)?;
        v.retain(|b| {
            filter.id.is_none_or(|i| i == b.id)
                && filter.org_id.is_none_or(|i| i == b.org_id)
                && org_by_name.is_none_or(|i| i == b.org_id)
                && filter.name.as_ref().is_none_or(|n| *n == b.name)
        });
        Ok(opts.apply(v, |b| b.id))
    }

    /// Changes a bucket's name, description, retention or shard group duration (keeping the
    /// catalogue's retention policy in step). System buckets cannot be renamed.
    pub fn update_bucket(&self, id: Id, upd: BucketUpdate) -> Result<Bucket> {
        self.update(|t| {
            let mut b: Bucket = get_json(t, schema::BUCKETS, &id.encode(), Kind::Bucket)?;
            if let Some(n) = &upd.name
                && *n != b.name
            {
                if b.bucket_type == BucketType::System {
                    return Err(Error::Invalid("system buckets cannot be renamed".into()));
                }
                validate_bucket_name(n, false)?;
                rename_in_index(
                    t,
                    schema::BUCKET_INDEX,
                    &bucket_index_key(b.org_id, &b.name),
                    bucket_index_key(b.org_id, n),
                    id,
                    "bucket",
                    n,
                )?;
                b.name = n.clone();
            }
            if let Some(d) = &upd.description {
                b.description = d.clone();
            }
            if let Some(r) = upd.retention_period_ns {
                b.retention_period_ns = r;
            }
            if let Some(s) = upd.shard_group_duration_ns {
                b.shard_group_duration_ns = if s == 0 {
                    default_shard_group_duration(b.retention_period_ns)
                } else {
                    s
                };
            }
            if b.retention_period_ns != 0 && b.shard_group_duration_ns > b.retention_period_ns {
                return Err(Error::Invalid(
                    "shard-group duration must also be updated to be smaller than new retention duration"
                        .into(),
                ));
            }
            validate_retention(b.retention_period_ns, b.shard_group_duration_ns)?;
            b.updated_at = Time::now();
            t.put(schema::BUCKETS, id.encode().to_vec(), to_go_json(&b));
            let mut data = tx_catalog(t)?;
            let name = b.id.to_string();
            match data.database_mut(&name) {
                Some(db) => {
                    if let Some(rp) = db.default_rp_mut() {
                        rp.duration = b.retention_period_ns;
                        rp.shard_group_duration = b.shard_group_duration_ns;
                    }
                }
                None => data.databases.push(DatabaseInfo::for_bucket(
                    name,
                    b.retention_period_ns,
                    b.shard_group_duration_ns,
                )),
            }
            data.index += 1;
            t.put(catalog::BUCKET, catalog::KEY, data.encode_bytes());
            Ok(b)
        })
    }

    /// Deletes a user bucket, its catalogue database, URMs on it and its DBRP mappings. System
    /// buckets cannot be deleted ([`Error::Invalid`]); they go with their org.
    pub fn delete_bucket(&self, id: Id) -> Result<()> {
        self.update(|t| {
            let b: Bucket = get_json(t, schema::BUCKETS, &id.encode(), Kind::Bucket)?;
            if b.bucket_type == BucketType::System {
                return Err(Error::Invalid("system buckets cannot be deleted".into()));
            }
            tx_delete_bucket(t, id)
        })
    }
}
