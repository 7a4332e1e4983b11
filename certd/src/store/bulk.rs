//! Bench and test support only: loading a large store quickly. certd itself never calls this.

use super::Store;
use crate::error::Error;

impl Store {
    /// Switches this connection to `PRAGMA synchronous=OFF` and a 1 GiB page cache: commits
    /// no longer wait for the disk, so a crash or power loss can lose the last transactions
    /// (the database stays consistent; WAL mode), and the random-key B-tree inserts of a
    /// large store stay in memory. For generating large stores (`contrib/bench`'s one
    /// million contracts) through the normal store API; never for a store that serves mail.
    /// On PostgreSQL: `synchronous_commit = off` for this session (commits do not wait for
    /// the WAL flush; a crash loses the last ones, the database stays consistent).
    #[doc(hidden)]
    pub fn bulk_load_without_fsync(&self) -> Result<(), Error> {
        self.conn().execute_batch(match self.dialect() {
            super::Dialect::Sqlite => "PRAGMA synchronous=OFF; PRAGMA cache_size=-1048576;",
            super::Dialect::Postgres => "SET synchronous_commit = off",
        })?;
        Ok(())
    }
}
