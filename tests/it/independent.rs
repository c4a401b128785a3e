//! The tests' own reads of Redis, with another client than the origin's: the `redis` crate,
//! where the origin (and the testkit's setup) use fred. The books a test checks are read by a
//! client that wrote none of them, so a bug of one client cannot hide in both the writes and
//! the checks (issue #17).

use herdgate_core::SaleId;
use redis::aio::MultiplexedConnection;

/// A connection to one Redis, for reads.
#[derive(Clone)]
pub struct Books(MultiplexedConnection);

impl Books {
    /// Connects to the Redis at `url` (`redis://127.0.0.1:<port>`).
    pub async fn connect(url: &str) -> Books {
        let client = redis::Client::open(url).unwrap();
        Books(client.get_multiplexed_async_connection().await.unwrap())
    }

    /// A sale's `remaining`, `sold` and `stock`, in one `HMGET`.
    pub async fn stock(&self, sale: &SaleId) -> (u64, u64, u64) {
        let mut con = self.0.clone();
        let v: Vec<u64> = redis::cmd("HMGET")
            .arg(format!("hg:{{{sale}}}:sale"))
            .arg("remaining")
            .arg("sold")
            .arg("stock")
            .query_async(&mut con)
            .await
            .unwrap();
        (v[0], v[1], v[2])
    }

    /// A hash, field by field.
    pub async fn hgetall(&self, key: &str) -> std::collections::HashMap<String, String> {
        let mut con = self.0.clone();
        redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut con)
            .await
            .unwrap()
    }

    /// The answer of the read-only Lua `script` over `keys` (one moment of Redis).
    pub async fn eval<T: redis::FromRedisValue>(&self, script: &str, keys: &[String]) -> T {
        let mut con = self.0.clone();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len());
        for key in keys {
            cmd.arg(key);
        }
        cmd.query_async(&mut con).await.unwrap()
    }
}

/// A sale's `remaining`, `sold` and `stock` on the Redis at `url`, on a connection of its own
/// (after a restart of Redis, too).
pub async fn read_stock(url: &str, sale: &SaleId) -> (u64, u64, u64) {
    Books::connect(url).await.stock(sale).await
}

/// `redis://127.0.0.1:<port>` of each node of `cluster` that is a primary now: where the
/// `redis` crate's cluster client starts.
pub async fn primary_urls(cluster: &herdgate_testkit::RedisCluster) -> Vec<String> {
    cluster
        .primaries()
        .await
        .unwrap()
        .iter()
        .map(|(node, _)| format!("redis://127.0.0.1:{}", node.port()))
        .collect()
}

/// A sale's `stock`, `sold` and `remaining` on a Redis Cluster (any of its nodes in
/// `nodes`), read through the `redis` crate's own cluster routing.
pub async fn cluster_stock(nodes: &[String], sale: &str) -> (u64, u64, u64) {
    let client = redis::cluster::ClusterClient::new(nodes.to_vec()).unwrap();
    let mut con = client.get_async_connection().await.unwrap();
    let v: Vec<u64> = redis::cmd("HMGET")
        .arg(format!("hg:{{{sale}}}:sale"))
        .arg("stock")
        .arg("sold")
        .arg("remaining")
        .query_async(&mut con)
        .await
        .unwrap();
    (v[0], v[1], v[2])
}

/// `HGET key field` on the cluster replica at `url`, read there (`READONLY`), not redirected
/// to its primary.
pub async fn replica_hget(url: &str, key: &str, field: &str) -> Option<String> {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("READONLY").query_async(&mut con).await.unwrap();
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query_async(&mut con)
        .await
        .unwrap()
}

/// A hash, field by field, through the `redis` crate's own cluster routing from `nodes`.
pub async fn cluster_hgetall(
    nodes: &[String],
    key: &str,
) -> std::collections::HashMap<String, String> {
    let client = redis::cluster::ClusterClient::new(nodes.to_vec()).unwrap();
    let mut con = client.get_async_connection().await.unwrap();
    redis::cmd("HGETALL")
        .arg(key)
        .query_async(&mut con)
        .await
        .unwrap()
}
