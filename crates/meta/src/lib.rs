//! Metadata: orgs, buckets, users, authorizations, DBRP mappings and the shard catalogue, kept in
//! InfluxDB 2.x's own stores (a BoltDB KV file and a SQLite file).
