//! One Redis target: a single server (a connection manager that reconnects by itself) or a Redis
//! Cluster (routes each command by its key's slot, follows MOVED/ASK). Both multiplex: concurrent
//! requests share the connection and are pipelined on the wire.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{FromRedisValue, RedisResult};
use std::time::Duration;

#[derive(Clone)]
pub enum RedisTarget {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisTarget {
    /// Connects to one server (one URL) or a cluster (several seed URLs).
    ///
    /// # Errors
    ///
    /// Redis cannot be reached now (the caller retries).
    pub async fn connect(urls: &[String], timeout: Duration) -> RedisResult<RedisTarget> {
        if let [url] = urls {
            let client = redis::Client::open(url.as_str())?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1);
            let manager = ConnectionManager::new_with_config(client, config).await?;
            Ok(RedisTarget::Single(manager))
        } else {
            let client = ClusterClientBuilder::new(urls.to_vec())
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(2)
                .build()?;
            Ok(RedisTarget::Cluster(client.get_async_connection().await?))
        }
    }

    /// Runs one command.
    ///
    /// # Errors
    ///
    /// Redis' error, or a connection error.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> RedisResult<T> {
        match self {
            RedisTarget::Single(c) => cmd.query_async(&mut c.clone()).await,
            RedisTarget::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        }
    }

    /// Runs a script (EVALSHA, then EVAL when the server does not know it, e.g. after a restart).
    ///
    /// # Errors
    ///
    /// Redis' error, or a connection error.
    pub async fn invoke(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[String],
    ) -> RedisResult<i64> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        match self {
            RedisTarget::Single(c) => invocation.invoke_async(&mut c.clone()).await,
            RedisTarget::Cluster(c) => invocation.invoke_async(&mut c.clone()).await,
        }
    }
}
