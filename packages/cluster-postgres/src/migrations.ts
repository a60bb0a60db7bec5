import type pg from 'pg';

/**
 * The schema, one step per entry, applied in order and recorded in `planesync_schema`.
 * Never edit a step once released: add the next one.
 */
const STEPS: readonly string[] = [
  // 1: the latest config, one row: its version (the sequence every CP shares), Kong's hashes
  // and the gzip of its JSON (bytes, not jsonb: key order is part of the config).
  `CREATE TABLE IF NOT EXISTS planesync_config (
     id smallint PRIMARY KEY CHECK (id = 1),
     version bigint NOT NULL,
     hash text NOT NULL,
     hashes text NOT NULL,
     config bytea NOT NULL,
     published_at bigint NOT NULL
   );
   -- Version 0, no config: a row to lock from the start, so that the first two publishes
   -- are ordered like any others.
   INSERT INTO planesync_config (id, version, hash, hashes, config, published_at)
   VALUES (1, 0, '', '', '', 0) ON CONFLICT (id) DO NOTHING`,
  // 2: the most recent versions (the latest among them), for the delta history of a CP that
  // starts: a DP on one of them gets a delta after a CP restart.
  `CREATE TABLE IF NOT EXISTS planesync_config_history (
     version bigint PRIMARY KEY,
     hash text NOT NULL,
     hashes text NOT NULL,
     config bytea NOT NULL,
     published_at bigint NOT NULL
   )`,
  // 3: every CP's DP status records, Kong's clustering_data_planes fields and the CP serving
  // each DP; the newest last_seen wins a write.
  `CREATE TABLE IF NOT EXISTS planesync_data_planes (
     id text PRIMARY KEY,
     control_plane_id text NOT NULL,
     hostname text NOT NULL,
     ip text NOT NULL,
     version text NOT NULL,
     labels jsonb NOT NULL,
     sync_status text NOT NULL,
     config_hash text NOT NULL,
     config_version bigint NOT NULL,
     last_seen bigint NOT NULL,
     connected boolean NOT NULL,
     cert_expires_at bigint,
     details jsonb NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE INDEX IF NOT EXISTS planesync_data_planes_last_seen ON planesync_data_planes (last_seen)`,
  // 4: every CP's traffic and billing counters, one row per CP and interval (written once the
  // interval ends; a retry replaces it); the DP records by when they were stored.
  `CREATE TABLE IF NOT EXISTS planesync_analytics (
     interval_start bigint NOT NULL,
     control_plane_id text COLLATE "C" NOT NULL,
     run text COLLATE "C" NOT NULL,
     counts jsonb NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (interval_start, control_plane_id, run)
   );
   -- CPs read the DP records stored in the last seconds each second.
   CREATE INDEX IF NOT EXISTS planesync_data_planes_updated_at ON planesync_data_planes (updated_at)`,
];

/** The advisory lock of migrations, the same for every planesync CP ("plan" in ASCII). */
const MIGRATION_LOCK = 0x706c616e;

/**
 * Brings the schema to the newest step, once: CPs starting together wait on one advisory
 * lock, and each step runs in the transaction that records it, so a crash leaves none half
 * done. Running it again changes nothing.
 */
export async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(
        'CREATE TABLE IF NOT EXISTS planesync_schema (step integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const { rows } = await client.query<{ step: number | null }>(
        'SELECT max(step) AS step FROM planesync_schema',
      );
      for (let step = (rows[0]?.step ?? 0) + 1; step <= STEPS.length; step++) {
        await client.query('BEGIN');
        try {
          await client.query(STEPS[step - 1]!);
          await client.query('INSERT INTO planesync_schema (step) VALUES ($1)', [step]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

/** How many schema steps this release knows. */
export const SCHEMA_STEPS = STEPS.length;
