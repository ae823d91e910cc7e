-- Which process runs each cluster-wide periodic job (upstream resync), until
-- when. A holder renews its lease on every run; when it dies, the lease
-- expires and another replica takes the job over.
CREATE TABLE job_leases (
    job        TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
