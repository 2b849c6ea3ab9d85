//! [`ShardCatalog`] over the metadata store: shard groups live in the KV store's `meta.db`
//! protobuf (`v1_tsm1_metadata`), exactly where InfluxDB 2.x records them, with InfluxDB's
//! `MaxShardGroupID`/`MaxShardID` counters (storage-formats 6.9). Each group holds one shard.

use meta::{Id, MetaStore};

use crate::catalog::{BucketId, CatalogError, ShardCatalog, ShardSpec};

fn id(bucket: BucketId) -> Result<Id, CatalogError> {
    Id::new(bucket).ok_or(CatalogError::BucketNotFound(bucket))
}

fn map_err(bucket: BucketId, e: meta::Error) -> CatalogError {
    match e {
        meta::Error::NotFound { .. } => CatalogError::BucketNotFound(bucket),
        other => CatalogError::Store(other.to_string()),
    }
}

fn spec(g: &meta::ShardGroupInfo) -> Result<ShardSpec, CatalogError> {
    let shard = g
        .shards
        .first()
        .ok_or_else(|| CatalogError::Store(format!("shard group {} has no shard", g.id)))?;
    Ok(ShardSpec {
        id: shard.id,
        group_id: g.id,
        start: g.start_time,
        end: g.end_time,
    })
}

impl ShardCatalog for MetaStore {
    fn retention(&self, bucket: BucketId) -> Result<i64, CatalogError> {
        let db = self
            .database_info(id(bucket)?)
            .map_err(|e| map_err(bucket, e))?;
        Ok(db.default_rp().map_or(0, |rp| rp.duration))
    }

    fn shard_for(&self, bucket: BucketId, t: i64) -> Result<ShardSpec, CatalogError> {
        let g = self
            .shard_group_for(id(bucket)?, t)
            .map_err(|e| map_err(bucket, e))?;
        spec(&g)
    }

    fn shards(&self, bucket: BucketId) -> Result<Vec<ShardSpec>, CatalogError> {
        let groups = self
            .shard_groups(id(bucket)?)
            .map_err(|e| map_err(bucket, e))?;
        groups.iter().map(spec).collect()
    }

    fn buckets(&self) -> Result<Vec<BucketId>, CatalogError> {
        let data = self
            .catalog()
            .map_err(|e| CatalogError::Store(e.to_string()))?;
        Ok(data
            .databases
            .iter()
            .filter_map(|d| {
                if d.name.len() == 16 {
                    u64::from_str_radix(&d.name, 16).ok()
                } else {
                    None
                }
            })
            .collect())
    }

    fn delete_shard_group(&self, bucket: BucketId, group_id: u64) -> Result<(), CatalogError> {
        self.delete_shard_group(id(bucket)?, group_id)
            .map_err(|e| map_err(bucket, e))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::{Engine, EngineConfig, ReadRequest};
    use crate::points::Precision;

    #[test]
    fn engine_on_meta_store_registers_shard_groups() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetaStore::open(
            dir.path().join("influxd.bolt"),
            dir.path().join("influxd.sqlite"),
        )
        .unwrap();
        let org = store.create_org("o", "", None).unwrap();
        let bucket = store
            .create_bucket(meta::BucketCreate {
                org_id: Some(org.id),
                name: "b".into(),
                description: String::new(),
                retention_period_ns: 0,
                shard_group_duration_ns: 0,
                rp: String::new(),
                bucket_type: meta::BucketType::User,
            })
            .unwrap();
        let b = bucket.id.get();
        let cat: Arc<dyn ShardCatalog> = Arc::new(store.clone());
        let cfg = EngineConfig {
            maintenance_interval: None,
            ..EngineConfig::new(dir.path().join("engine"))
        };
        let e = Engine::open(cfg, Arc::clone(&cat)).unwrap();
        e.write_lines(
            b,
            b"m v=1 1704067200000000000\nm v=2 1\nm v=3 1",
            Precision::Nanoseconds,
            0,
        )
        .unwrap();
        let shards = cat.shards(b).unwrap();
        assert_eq!(shards.len(), 2);
        assert!(cat.buckets().unwrap().contains(&b));
        let mut on_disk = e.shards();
        on_disk.sort();
        let mut want: Vec<_> = shards.iter().map(|s| (b, s.id)).collect();
        want.sort();
        assert_eq!(on_disk, want);
        assert!(
            e.shard_data_dir(b, shards[0].id)
                .ends_with(format!("data/{}/autogen/{}", bucket.id, shards[0].id))
        );
        let n: usize = e
            .read(&ReadRequest::all(b, i64::MIN, i64::MAX))
            .map(|s| s.unwrap().values.len())
            .sum();
        assert_eq!(n, 2);
        assert!(matches!(
            cat.shard_for(12345, 0),
            Err(CatalogError::BucketNotFound(12345))
        ));
        e.drop_shard(b, &shards[0]).unwrap();
        assert_eq!(cat.shards(b).unwrap().len(), 1);
    }
}
