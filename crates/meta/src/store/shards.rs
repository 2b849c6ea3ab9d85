//! The shard catalogue (InfluxDB's `meta.db` protobuf in the KV store): databases, shard groups and
//! shards of each bucket.

use super::*;

impl MetaStore {
    /// The whole `meta.db` catalogue.
    pub fn catalog(&self) -> Result<Data> {
        Ok((*self.view().catalog()?).clone())
    }

    /// Ensures the catalogue has a database for `bucket` (retention policy `autogen` with the
    /// bucket's durations). Buckets created through this store already have one.
    pub fn create_bucket_database(&self, bucket: &Bucket) -> Result<DatabaseInfo> {
        if let Ok(db) = self.database_info(bucket.id) {
            return Ok(db);
        }
        self.update(|t| {
            let mut data = tx_catalog(t)?;
            let db = tx_add_database(&mut data, bucket);
            t.put(catalog::BUCKET, catalog::KEY, data.encode_bytes());
            Ok(db)
        })
    }

    /// The catalogue database of a bucket.
    pub fn database_info(&self, bucket_id: Id) -> Result<DatabaseInfo> {
        self.view()
            .catalog()?
            .database(&bucket_id.to_string())
            .cloned()
            .ok_or(Error::not_found(Kind::Database))
    }

    /// The live (not deleted) shard groups of a bucket, in start-time order.
    pub fn shard_groups(&self, bucket_id: Id) -> Result<Vec<ShardGroupInfo>> {
        let db = self.database_info(bucket_id)?;
        Ok(db
            .default_rp()
            .map(|rp| {
                rp.shard_groups
                    .iter()
                    .filter(|g| !g.deleted())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The shard group of a bucket covering `timestamp_ns`, created if missing (start = time
    /// truncated to the group duration as Go's `time.Truncate`, end = start + duration, one shard;
    /// IDs from `MaxShardGroupID`/`MaxShardID`; `Index` incremented). Storage maps a point to
    /// `group.shards[0].id`.
    pub fn shard_group_for(&self, bucket_id: Id, timestamp_ns: i64) -> Result<ShardGroupInfo> {
        let find = |data: &Data| -> Result<Option<ShardGroupInfo>> {
            let db = data
                .database(&bucket_id.to_string())
                .ok_or(Error::not_found(Kind::Database))?;
            Ok(db.default_rp().and_then(|rp| {
                rp.shard_groups
                    .iter()
                    .find(|g| !g.deleted() && g.contains(timestamp_ns))
                    .cloned()
            }))
        };
        if let Some(g) = find(&*self.view().catalog()?)? {
            return Ok(g);
        }
        self.update(|t| {
            let mut data = tx_catalog(t)?;
            if let Some(g) = find(&data)? {
                return Ok(g);
            }
            let next_group = data.max_shard_group_id + 1;
            let next_shard = data.max_shard_id + 1;
            let db = data
                .database_mut(&bucket_id.to_string())
                .ok_or(Error::not_found(Kind::Database))?;
            let rp = db
                .default_rp_mut()
                .ok_or_else(|| Error::corrupt("database has no default retention policy"))?;
            let d = if rp.shard_group_duration > 0 {
                rp.shard_group_duration
            } else {
                default_shard_group_duration(rp.duration)
            };
            let start = catalog::truncate(timestamp_ns, d);
            let end = start.saturating_add(d);
            let g = ShardGroupInfo {
                id: next_group,
                start_time: start,
                end_time: end,
                deleted_at: 0,
                shards: vec![ShardInfo {
                    id: next_shard,
                    owner_ids: Vec::new(),
                    owners: Vec::new(),
                }],
                truncated_at: None,
            };
            rp.shard_groups.push(g.clone());
            rp.shard_groups.sort_by_key(|g| (g.start_time, g.id));
            data.max_shard_group_id = next_group;
            data.max_shard_id = next_shard;
            data.index += 1;
            t.put(catalog::BUCKET, catalog::KEY, data.encode_bytes());
            Ok(g)
        })
    }

    /// Marks a shard group of a bucket deleted (`DeletedAt` = now), as InfluxDB's retention
    /// enforcement and shard deletion do.
    pub fn delete_shard_group(&self, bucket_id: Id, group_id: u64) -> Result<()> {
        self.update(|t| {
            let mut data = tx_catalog(t)?;
            let db = data
                .database_mut(&bucket_id.to_string())
                .ok_or(Error::not_found(Kind::Database))?;
            let g = db
                .retention_policies
                .iter_mut()
                .flat_map(|rp| rp.shard_groups.iter_mut())
                .find(|g| g.id == group_id && !g.deleted())
                .ok_or(Error::not_found(Kind::ShardGroup))?;
            g.deleted_at = i64::try_from(Time::now().unix_nanos()).unwrap_or(i64::MAX);
            data.index += 1;
            t.put(catalog::BUCKET, catalog::KEY, data.encode_bytes());
            Ok(())
        })
    }

    /// Replaces a bucket's catalogue database with `info` (restore of `/restore/bucketMetadata`):
    /// the database is renamed to the bucket ID and every shard group and shard gets a new ID
    /// from the counters. Returns the `(old shard ID, new shard ID)` pairs.
    pub fn replace_database_info(
        &self,
        bucket_id: Id,
        mut info: DatabaseInfo,
    ) -> Result<Vec<(u64, u64)>> {
        self.update(|t| {
            let mut data = tx_catalog(t)?;
            let mut map = Vec::new();
            info.name = bucket_id.to_string();
            for rp in &mut info.retention_policies {
                for g in &mut rp.shard_groups {
                    data.max_shard_group_id += 1;
                    g.id = data.max_shard_group_id;
                    for s in &mut g.shards {
                        data.max_shard_id += 1;
                        map.push((s.id, data.max_shard_id));
                        s.id = data.max_shard_id;
                    }
                }
            }
            data.databases.retain(|d| d.name != info.name);
            data.databases.push(info);
            data.index += 1;
            t.put(catalog::BUCKET, catalog::KEY, data.encode_bytes());
            Ok(map)
        })
    }
}
