import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import {
  AbortedError,
  type AnalyticsCounts,
  type AnalyticsInterval,
  type AnalyticsIntervalKey,
  type ClusterState,
  compareAnalyticsKeys as compareKeys,
  defaultLogger,
  InvalidArgumentError,
  type Logger,
  PlanesyncError,
  type PublishOptions,
  type PublishOutcome,
  type SharedAnalytics,
  type SharedDataPlaneStatus,
  type SharedDataPlanes,
  type SharedVersion,
  type StateHealth,
  StateUnavailableError,
  StoreCorruptError,
  type VersionCandidate,
} from '@planesync/core';
import { throwIfAborted } from '@planesync/core/storage';
import { logSafely } from '@planesync/core/transport';
import pg from 'pg';
import { migrate } from './migrations.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** The channel new versions are announced on (the payload is the version number). */
export const CONFIG_CHANNEL = 'planesync_config';

/** Options of {@link postgresClusterState}. */
export interface PostgresClusterStateOptions {
  /**
   * `postgresql://user:password@host:5432/database?sslmode=verify-full&sslrootcert=ca.pem`
   * (TLS settings here or in `ssl`, not both: `INVALID_ARGUMENT`). Without it (and without
   * `pool`), the standard `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` and
   * `PGSSLMODE` environment variables are used, as `psql` does.
   */
  connectionString?: string;
  /** TLS to PostgreSQL (node `tls` options), as `pg` takes it: `{ ca, rejectUnauthorized }`. */
  ssl?: pg.PoolConfig['ssl'];
  /** A pool of the host's, used as is and never ended by this state. */
  pool?: pg.Pool;
  /**
   * How many recent versions are kept for the delta history of CPs that start (the latest
   * among them); default 16. `0` keeps none: a restarted CP sends whole configs at first.
   */
  historyVersions?: number;
  /**
   * Where an outage is told (warn when PostgreSQL stops answering the periodic read, info
   * when it answers again); default planesync's stderr logger.
   */
  logger?: Logger;
  /**
   * How often the latest version is read even without a notification (one lost while the
   * listening connection was down); default 2 000 ms.
   */
  checkIntervalMs?: number;
}

interface ConfigRow {
  version: string;
  hash: string;
  hashes: string;
  config: Buffer;
  published_at: string;
}

/**
 * A {@link ClusterState} in PostgreSQL, for several control planes serving one fleet: one
 * version sequence for every CP (a row lock orders concurrent publishes), the latest config
 * stored once, gzip-compressed, with its hashes, and new versions announced with
 * `LISTEN/NOTIFY` on {@link CONFIG_CHANNEL} — read again every `checkIntervalMs` in case a
 * notification was missed. Its tables are created and migrated by `open` (or the first use),
 * under an advisory lock, so CPs starting together migrate once.
 *
 * @example
 * ```ts
 * import { ControlPlane } from '@planesync/core';
 * import { postgresClusterState } from '@planesync/cluster-postgres';
 * declare const options: import('@planesync/core').ControlPlaneOptions;
 * const state = postgresClusterState({ connectionString: process.env.DATABASE_URL ?? '' });
 * const cp = new ControlPlane({ ...options, state });
 * await cp.start(); // serves the cluster's latest config at once
 * ```
 */
export function postgresClusterState(
  options: PostgresClusterStateOptions = {},
): PostgresClusterState {
  return new PostgresClusterState(options);
}

/** The state {@link postgresClusterState} returns. */
export class PostgresClusterState implements ClusterState {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #checkIntervalMs: number;
  readonly #historyVersions: number;
  readonly #logger: Logger;
  /** Whether the last periodic read failed (an outage is told once, and its end). */
  #down = false;
  #opened: Promise<void> | undefined;
  readonly #listeners = new Set<(version: SharedVersion) => void>();
  readonly #healthListeners = new Set<(health: StateHealth) => void>();
  #listener: pg.PoolClient | undefined;
  /** The listening connection's handler for its loss (taken off when it goes back). */
  #lost: (() => void) | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The newest version reported to listeners. */
  #reported = 0;
  /** A read of the latest version under way, and whether another was asked for meanwhile. */
  #reading: Promise<void> | undefined;
  #readAgain = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Node-id claims waiting for the next batch, and whether a batch is being written. */
  #claims: PendingClaim[] = [];
  #claiming = false;
  /** The last version this state published itself (its notification needs no read). */
  #own: SharedVersion | undefined;

  constructor(options: PostgresClusterStateOptions = {}) {
    const interval = options.checkIntervalMs ?? 2_000;
    if (!Number.isFinite(interval) || interval <= 0)
      throw new InvalidArgumentError('checkIntervalMs is a positive number of milliseconds');
    this.#checkIntervalMs = interval;
    const history = options.historyVersions ?? 16;
    if (!Number.isInteger(history) || history < 0)
      throw new InvalidArgumentError('historyVersions is a whole number, 0 or more');
    this.#historyVersions = history;
    this.#logger = options.logger ?? defaultLogger;
    // pg lets a URL's TLS settings replace the `ssl` option whole: a CA given here would be
    // dropped without a word, and a private CA's server refused. One place says it.
    if (options.ssl !== undefined && options.connectionString) {
      const inUrl = tlsParameters(options.connectionString);
      if (inUrl.length > 0)
        throw new InvalidArgumentError(
          `give TLS settings in one place: the connection string's ${inUrl.join(', ')} would replace the ssl option whole`,
        );
    }
    this.#ownsPool = options.pool === undefined;
    this.#pool =
      options.pool ??
      new pg.Pool({
        // An empty string is no string: the PG* variables then say where.
        ...(options.connectionString ? { connectionString: options.connectionString } : {}),
        ...(options.ssl !== undefined ? { ssl: options.ssl } : {}),
        max: 4,
        // Every wait ends: a PostgreSQL behind a black hole fails a call, never hangs it.
        connectionTimeoutMillis: 10_000,
        query_timeout: 30_000,
      });
    // An idle client that loses its server must not end the process.
    this.#pool.on('error', () => undefined);
  }

  /** Creates or migrates the tables (once, whoever opens first); later calls are no-ops. */
  open(options: { signal?: AbortSignal } = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#opened ??= migrate(this.#pool).catch((error: unknown) => {
      this.#opened = undefined;
      throw unavailable(error, 'migrating the schema');
    });
    return this.#opened;
  }

  async latest(options: { signal?: AbortSignal } = {}): Promise<SharedVersion | undefined> {
    throwIfAborted(options.signal);
    await this.open();
    const { rows } = await this.#pool
      .query<ConfigRow>(
        'SELECT version, hash, hashes, config, published_at FROM planesync_config WHERE id = 1',
      )
      .catch((error: unknown) => {
        throw unavailable(error, 'reading the latest version');
      });
    return rows[0] && rows[0].version !== '0' ? decode(rows[0]) : undefined;
  }

  async publish(
    candidate: VersionCandidate,
    options: PublishOptions = {},
  ): Promise<PublishOutcome> {
    throwIfAborted(options.signal);
    await this.open();
    // Compressed before the transaction: the row stays locked only for the write.
    const config = await gzipAsync(Buffer.from(JSON.stringify(candidate.config)));
    const client = await this.#pool.connect().catch((error: unknown) => {
      throw unavailable(error, 'publishing a version');
    });
    try {
      await client.query('BEGIN');
      // Only the number and hash under the lock: the config is read (and decoded) only for
      // an answer that returns it, after the lock is gone — and a damaged config cannot
      // block the next publish, which replaces it.
      const { rows } = await client.query<{ version: string; hash: string }>(
        'SELECT version, hash FROM planesync_config WHERE id = 1 FOR UPDATE',
      );
      const current = Number(rows[0]?.version ?? 0);
      const conflict =
        current > 0 && options.ifLatest !== undefined && current !== options.ifLatest;
      const unchanged = current > 0 && rows[0]?.hash === candidate.hash;
      if (conflict || unchanged) {
        await client.query('ROLLBACK');
        const latest = await this.latest();
        if (!latest) throw new StateUnavailableError('PostgreSQL: the latest version vanished');
        return { outcome: conflict ? 'conflict' : 'unchanged', latest };
      }
      const version = Math.max(current, options.after ?? 0) + 1;
      // Whole milliseconds: a host's clock may give fractions.
      const publishedAt = Math.round(candidate.publishedAt);
      const hashes = JSON.stringify(candidate.hashes);
      await client.query(
        `UPDATE planesync_config SET version = $1, hash = $2, hashes = $3, config = $4,
           published_at = $5 WHERE id = 1`,
        [version, candidate.hash, hashes, config, publishedAt],
      );
      if (this.#historyVersions > 0) {
        await client.query(
          `INSERT INTO planesync_config_history (version, hash, hashes, config, published_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (version) DO NOTHING`,
          [version, candidate.hash, hashes, config, publishedAt],
        );
        await client.query('DELETE FROM planesync_config_history WHERE version <= $1', [
          version - this.#historyVersions,
        ]);
      }
      // Delivered at commit, to every CP listening (this one included).
      await client.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, String(version)]);
      await client.query('COMMIT');
      const latest = { ...candidate, version };
      this.#own = latest;
      return { outcome: 'published', latest };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw unavailable(error, 'publishing a version');
    } finally {
      client.release();
    }
  }

  async recent(limit: number, options: { signal?: AbortSignal } = {}): Promise<SharedVersion[]> {
    throwIfAborted(options.signal);
    await this.open();
    const { rows } = await this.#pool
      .query<ConfigRow>(
        `SELECT version, hash, hashes, config, published_at FROM planesync_config_history
         ORDER BY version DESC LIMIT $1`,
        [Math.max(0, Math.floor(limit))],
      )
      .catch((error: unknown) => {
        throw unavailable(error, 'reading recent versions');
      });
    return Promise.all(rows.reverse().map(decode));
  }

  /** The DP status records of every CP, in `planesync_data_planes`. */
  readonly dataPlanes: SharedDataPlanes = {
    write: (records, options) => this.#writeDataPlanes(records, options),
    list: (options) => this.#listDataPlanes(options),
    purge: (before, options) => this.#purgeDataPlanes(before, options),
    claim: (record, options) => this.#claimDataPlane(record, options),
  };

  /** The traffic counters of every CP, per interval, in `planesync_analytics`. */
  readonly analytics: SharedAnalytics = {
    write: (intervals, options) => this.#writeAnalytics(intervals, options),
    read: (since, options) => this.#readAnalytics(since, options),
    purge: (before, options) => this.#purgeAnalytics(before, options),
  };

  async #writeAnalytics(
    intervals: readonly AnalyticsInterval[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    throwIfAborted(options.signal);
    if (intervals.length === 0) return;
    await this.open();
    // One row per key (the last write of it), in key order: overlapping batches never deadlock.
    const byKey = new Map<string, AnalyticsInterval>();
    for (const interval of intervals) {
      const cleaned = {
        start: Math.round(interval.start),
        controlPlaneId: text(interval.controlPlaneId),
        run: text(interval.run ?? ''),
        counts: interval.counts,
      };
      byKey.set(`${cleaned.start}\0${cleaned.controlPlaneId}\0${cleaned.run}`, cleaned);
    }
    const rows = [...byKey.values()].sort(compareKeys).map((interval) => ({
      interval_start: interval.start,
      control_plane_id: interval.controlPlaneId,
      run: interval.run,
      counts: interval.counts,
    }));
    await this.#pool
      .query(
        `INSERT INTO planesync_analytics (interval_start, control_plane_id, run, counts)
         SELECT interval_start, control_plane_id, run, counts
         FROM jsonb_to_recordset($1::jsonb) AS r(interval_start bigint, control_plane_id text,
           run text, counts jsonb)
         ON CONFLICT (interval_start, control_plane_id, run) DO UPDATE
           SET counts = EXCLUDED.counts, updated_at = now()`,
        // Cleaned as it is serialized: a minute of a big fleet's counts holds some 400 000
        // keys and numbers, and copying them all to clean a few would stall the CP.
        [JSON.stringify(rows, cleanJson)],
      )
      .catch((error: unknown) => {
        throw unavailable(error, 'writing traffic counters');
      });
  }

  async #readAnalytics(
    since: number,
    options: { signal?: AbortSignal; after?: AnalyticsIntervalKey; limit?: number } = {},
  ): Promise<AnalyticsInterval[]> {
    throwIfAborted(options.signal);
    await this.open();
    const { after } = options;
    // Text in byte order (COLLATE "C"), as compareKeys orders it: pages follow one another.
    const { rows } = await this.#pool
      .query<{
        interval_start: string;
        control_plane_id: string;
        run: string;
        counts: AnalyticsCounts;
      }>(
        `SELECT interval_start, control_plane_id, run, counts FROM planesync_analytics
         WHERE interval_start >= $1
           ${after ? 'AND (interval_start, control_plane_id COLLATE "C", run COLLATE "C") > ($3, $4, $5)' : ''}
         ORDER BY interval_start, control_plane_id COLLATE "C", run COLLATE "C"
         LIMIT $2`,
        [
          Math.max(0, Math.floor(since)),
          options.limit ?? null,
          ...(after ? [Math.round(after.start), text(after.controlPlaneId), text(after.run)] : []),
        ],
      )
      .catch((error: unknown) => {
        throw unavailable(error, 'reading traffic counters');
      });
    return rows.map((row) => ({
      controlPlaneId: row.control_plane_id,
      run: row.run,
      start: Number(row.interval_start),
      counts: row.counts,
    }));
  }

  async #purgeAnalytics(before: number, options: { signal?: AbortSignal } = {}): Promise<number> {
    throwIfAborted(options.signal);
    await this.open();
    const { rowCount } = await this.#pool
      .query('DELETE FROM planesync_analytics WHERE interval_start < $1', [Math.floor(before)])
      .catch((error: unknown) => {
        throw unavailable(error, 'purging traffic counters');
      });
    return rowCount ?? 0;
  }

  async #writeDataPlanes(
    records: readonly SharedDataPlaneStatus[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    throwIfAborted(options.signal);
    if (records.length === 0) return;
    await this.open();
    // One statement for the whole batch: the records as one JSON parameter.
    await this.#pool
      .query(
        `${UPSERT} WHERE kept.control_plane_id = EXCLUDED.control_plane_id OR EXCLUDED.connected
           OR (NOT kept.connected AND kept.last_seen <= EXCLUDED.last_seen)`,
        [JSON.stringify(dedupe(records.map(toRow)))],
      )
      .catch((error: unknown) => {
        throw unavailable(error, 'writing DP records');
      });
  }

  /**
   * Claims go in batches, one statement each: while one runs, the claims that arrive wait for
   * the next — a thousand DPs reconnecting at once cost a few statements, not a thousand
   * round trips queued on the pool's four connections.
   */
  #claimDataPlane(
    record: SharedDataPlaneStatus,
    options: { signal?: AbortSignal; liveMs: number },
  ): Promise<boolean> {
    throwIfAborted(options.signal);
    return new Promise<boolean>((resolve, reject) => {
      this.#claims.push({
        record,
        liveMs: options.liveMs,
        signal: options.signal,
        resolve,
        reject,
      });
      if (!this.#claiming) void this.#drainClaims();
    });
  }

  async #drainClaims(): Promise<void> {
    this.#claiming = true;
    try {
      while (this.#claims.length > 0) {
        // A claim the CP gave up on while it waited (it let the DP in without) writes nothing:
        // its record, connected, may be older than the DP's next one.
        for (const claim of this.#claims)
          if (claim.signal?.aborted)
            claim.reject(new AbortedError(undefined, { cause: claim.signal.reason }));
        const waiting = this.#claims.filter((claim) => !claim.signal?.aborted);
        // One row per node id a statement (an upsert cannot touch a row twice), one liveMs.
        const batch: PendingClaim[] = [];
        const ids = new Set<string>();
        const liveMs = waiting[0]?.liveMs;
        for (const claim of waiting) {
          if (batch.length >= MAX_CLAIMS || ids.has(claim.record.id) || claim.liveMs !== liveMs)
            continue;
          ids.add(claim.record.id);
          batch.push(claim);
        }
        this.#claims = waiting.filter((claim) => !batch.includes(claim));
        if (batch.length === 0) continue;
        let client: pg.PoolClient | undefined;
        try {
          await this.open();
          client = await this.#pool.connect();
          // Given up on while the connection was awaited: those write nothing.
          const live = batch.filter((claim) => {
            if (!claim.signal?.aborted) return true;
            claim.reject(new AbortedError(undefined, { cause: claim.signal.reason }));
            return false;
          });
          if (live.length === 0) continue;
          const claimed = await this.#claimBatch(
            client,
            live.map((claim) => claim.record),
            liveMs!,
          );
          for (const claim of live) claim.resolve(claimed.has(text(claim.record.id)));
        } catch (error) {
          const failure = unavailable(error, 'claiming a node id');
          for (const claim of batch) claim.reject(failure);
        } finally {
          client?.release();
        }
      }
    } finally {
      this.#claiming = false;
    }
  }

  async #claimBatch(
    client: pg.PoolClient,
    records: readonly SharedDataPlaneStatus[],
    liveMs: number,
  ): Promise<Set<string>> {
    // One statement: the row lock of each upsert orders two CPs claiming one node id at once;
    // rows in id order, as every batch of this table, so batches never deadlock.
    const rows = dedupe(records.map((record) => toRow({ ...record, connected: true })));
    const { rows: claimed } = await client.query<{ id: string }>(
      `${UPSERT} WHERE NOT (kept.connected
         AND kept.control_plane_id <> EXCLUDED.control_plane_id
         AND kept.details->>'certFingerprint' IS NOT NULL
         AND kept.details->>'certFingerprint' IS DISTINCT FROM EXCLUDED.details->>'certFingerprint'
         AND kept.updated_at > now() - make_interval(secs => $2::double precision / 1000))
       RETURNING kept.id`,
      [JSON.stringify(rows), liveMs],
    );
    return new Set(claimed.map((row) => row.id));
  }

  async #listDataPlanes(
    options: { signal?: AbortSignal; storedWithinMs?: number } = {},
  ): Promise<SharedDataPlaneStatus[]> {
    throwIfAborted(options.signal);
    await this.open();
    const within = options.storedWithinMs;
    const { rows } = await this.#pool
      .query<DataPlaneRow>(
        `SELECT id, control_plane_id, hostname, ip, version, labels, sync_status, config_hash,
           config_version, last_seen, connected, cert_expires_at, details,
           (EXTRACT(EPOCH FROM now() - updated_at) * 1000)::bigint AS stored_ago_ms
         FROM planesync_data_planes
         ${within === undefined ? '' : 'WHERE updated_at >= now() - make_interval(secs => $1::double precision / 1000)'}
         ORDER BY id`,
        within === undefined ? [] : [Math.max(0, within)],
      )
      .catch((error: unknown) => {
        throw unavailable(error, 'reading DP records');
      });
    return rows.map(toStatus);
  }

  async #purgeDataPlanes(before: number, options: { signal?: AbortSignal } = {}): Promise<number> {
    throwIfAborted(options.signal);
    await this.open();
    const client = await this.#pool.connect().catch((error: unknown) => {
      throw unavailable(error, 'purging DP records');
    });
    try {
      await client.query('BEGIN');
      // One CP purges at a time; the others find the lock taken and leave it to that one.
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_xact_lock($1) AS locked',
        [PURGE_LOCK],
      );
      if (!rows[0]?.locked) {
        await client.query('ROLLBACK');
        return 0;
      }
      const { rowCount } = await client.query(
        'DELETE FROM planesync_data_planes WHERE last_seen < $1',
        [Math.round(before)],
      );
      await client.query('COMMIT');
      return rowCount ?? 0;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw unavailable(error, 'purging DP records');
    } finally {
      client.release();
    }
  }

  watch(listener: (version: SharedVersion) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) void this.#follow();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#unfollow();
    };
  }

  /**
   * Calls `listener` when the periodic read (made while a CP watches, every `checkIntervalMs`)
   * stops finding PostgreSQL, and when it finds it again.
   */
  watchHealth(listener: (health: StateHealth) => void): () => void {
    this.#healthListeners.add(listener);
    return () => {
      this.#healthListeners.delete(listener);
    };
  }

  #tellHealth(health: StateHealth): void {
    for (const listener of [...this.#healthListeners]) {
      try {
        listener(health);
      } catch {
        // One listener's failure is its own.
      }
    }
  }

  /** Stops listening and, unless the pool was given, closes its connections. */
  async close(): Promise<void> {
    // A second call (two signal handlers, a host and a test) waits for the first.
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#healthListeners.clear();
    this.#unfollow();
    await this.#reading?.catch(() => undefined);
    if (this.#ownsPool) await this.#pool.end();
  }

  /** Listens for new versions, and reads the latest every `checkIntervalMs` besides. */
  async #follow(): Promise<void> {
    this.#timer ??= setInterval(() => this.#readLatest(), this.#checkIntervalMs);
    this.#timer.unref();
    try {
      await this.open();
      await this.#listen();
    } catch {
      // The periodic read catches up once PostgreSQL answers.
    }
  }

  async #listen(): Promise<void> {
    if (this.#listener || this.#closed || this.#listeners.size === 0) return;
    const client = await this.#pool.connect();
    // Another listen won the race, or nobody listens any more: this connection is not needed.
    if (this.#listener || this.#closed || this.#listeners.size === 0) {
      client.release();
      return;
    }
    this.#listener = client;
    const lost = () => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      client.release(true);
      // Listening again, and a read for what was published meanwhile.
      setTimeout(() => {
        void this.#listen().catch(() => undefined);
        this.#readLatest();
      }, 1_000).unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    this.#lost = lost;
    client.on('notification', (message) => {
      if (message.channel !== CONFIG_CHANNEL) return;
      // This state's own version is reported from memory, not read back.
      const own = this.#own;
      if (own && String(own.version) === message.payload) this.#report(own);
      else this.#readLatest();
    });
    await client.query(`LISTEN ${CONFIG_CHANNEL}`);
  }

  #unfollow(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const client = this.#listener;
    const lost = this.#lost;
    this.#listener = undefined;
    this.#lost = undefined;
    if (client) {
      // The pooled connection goes back without this state's handlers on it.
      client.removeAllListeners('notification');
      if (lost) {
        client.off('error', lost);
        client.off('end', lost);
      }
      void client.query(`UNLISTEN ${CONFIG_CHANNEL}`).then(
        () => client.release(),
        // A connection that may still be listening is not given back to the pool.
        (error: unknown) => client.release(error instanceof Error ? error : true),
      );
    }
  }

  /** Tells every listener of `version`, when it is newer than the last one told. */
  #report(version: SharedVersion): void {
    if (version.version <= this.#reported) return;
    this.#reported = version.version;
    for (const listener of [...this.#listeners]) {
      try {
        listener(version);
      } catch {
        // One listener's failure is its own.
      }
    }
  }

  /** Reads the latest version and reports it when newer than the last reported; one at a time. */
  #readLatest(): void {
    if (this.#closed || this.#listeners.size === 0) return;
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = (async () => {
      do {
        this.#readAgain = false;
        let latest: SharedVersion | undefined;
        try {
          latest = await this.latest();
          if (this.#down) {
            this.#down = false;
            logSafely(this.#logger, 'info', {}, 'PostgreSQL answers again: following new versions');
            this.#tellHealth({ available: true });
          }
        } catch (error) {
          if (!this.#down && !this.#closed) {
            this.#down = true;
            logSafely(
              this.#logger,
              'warn',
              { err: error },
              'PostgreSQL does not answer: the control plane serves its latest config and tries again',
            );
            this.#tellHealth({ available: false, error });
          }
        }
        if (latest) this.#report(latest);
      } while (this.#readAgain && !this.#closed);
    })().finally(() => {
      this.#reading = undefined;
    });
  }
}

interface DataPlaneRow {
  id: string;
  control_plane_id: string;
  hostname: string;
  ip: string;
  version: string;
  labels: unknown;
  sync_status: SharedDataPlaneStatus['syncStatus'];
  config_hash: string;
  config_version: string;
  last_seen: string;
  connected: boolean;
  cert_expires_at: string | null;
  /** `{ cacheHash, pushError, protocol, certFingerprint }`, each a string or null. */
  details: unknown;
  stored_ago_ms: string;
}

/**
 * Upserts the rows of `$1` (a JSON array of {@link toRow}s); the caller adds the rule
 * (`WHERE`) under which a row replaces the one kept. Stamped with the moment of the write
 * (`clock_timestamp()`, not the transaction's start): a write that waited on a row lock is
 * still within the window of the CPs' reads of what changed lately.
 */
const UPSERT = `INSERT INTO planesync_data_planes AS kept (id, control_plane_id, hostname, ip,
    version, labels, sync_status, config_hash, config_version, last_seen, connected,
    cert_expires_at, details, updated_at)
  SELECT id, control_plane_id, hostname, ip, version, labels, sync_status, config_hash,
    config_version, last_seen, connected, cert_expires_at, details, clock_timestamp()
  FROM jsonb_to_recordset($1::jsonb) AS r(id text, control_plane_id text, hostname text,
    ip text, version text, labels jsonb, sync_status text, config_hash text,
    config_version bigint, last_seen bigint, connected boolean, cert_expires_at bigint,
    details jsonb)
  ON CONFLICT (id) DO UPDATE SET control_plane_id = EXCLUDED.control_plane_id,
    hostname = EXCLUDED.hostname, ip = EXCLUDED.ip, version = EXCLUDED.version,
    labels = EXCLUDED.labels, sync_status = EXCLUDED.sync_status,
    config_hash = EXCLUDED.config_hash, config_version = EXCLUDED.config_version,
    last_seen = EXCLUDED.last_seen, connected = EXCLUDED.connected,
    cert_expires_at = EXCLUDED.cert_expires_at, details = EXCLUDED.details,
    updated_at = EXCLUDED.updated_at`;

/**
 * A record as a row. Text jsonb refuses (NUL, lone surrogates — a DP's hello can carry them)
 * is cleaned, so one hostile record never blocks a batch.
 */
function toRow(record: SharedDataPlaneStatus) {
  const optional = (value: string | undefined) => (value === undefined ? null : text(value));
  return {
    id: text(record.id),
    control_plane_id: text(record.controlPlaneId),
    hostname: text(record.hostname),
    ip: text(record.ip),
    version: text(record.version),
    labels: Object.fromEntries(
      Object.entries(record.labels).map(([key, value]) => [text(key), text(value)]),
    ),
    sync_status: text(record.syncStatus),
    config_hash: text(record.configHash),
    config_version: record.configVersion,
    last_seen: Math.round(record.lastSeen),
    connected: record.connected,
    cert_expires_at: record.certExpiresAt === undefined ? null : Math.round(record.certExpiresAt),
    details: {
      cacheHash: optional(record.cacheHash),
      pushError: optional(record.pushError),
      protocol: optional(record.protocol),
      certFingerprint: optional(record.certFingerprint),
    },
  };
}

/** A node-id claim waiting for its batch. */
interface PendingClaim {
  record: SharedDataPlaneStatus;
  liveMs: number;
  signal: AbortSignal | undefined;
  resolve(claimed: boolean): void;
  reject(error: unknown): void;
}

/** The most claims one statement carries. */
const MAX_CLAIMS = 500;

/** The advisory lock one purging CP holds ("purg" in ASCII). */
const PURGE_LOCK = 0x70757267;

/**
 * A batch writes each DP once (its latest record: one row may not be upserted twice), in id
 * order — two CPs writing overlapping batches then lock rows in one order, never deadlock.
 */
function dedupe<T extends { id: string; last_seen: number }>(rows: T[]): T[] {
  const byId = new Map<string, T>();
  for (const row of rows) {
    const kept = byId.get(row.id);
    if (!kept || kept.last_seen <= row.last_seen) byId.set(row.id, row);
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * A row as a record. jsonb columns may hold any JSON (`null` too): a damaged row is read as
 * far as it can be, never a failed read for every CP of the cluster.
 */
function toStatus(row: DataPlaneRow): SharedDataPlaneStatus {
  const details = isObject(row.details) ? row.details : {};
  const optional = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const certFingerprint = optional(details.certFingerprint);
  return {
    id: row.id,
    hostname: row.hostname,
    ip: row.ip,
    version: row.version,
    labels: isObject(row.labels)
      ? Object.fromEntries(
          Object.entries(row.labels).filter(
            (entry): entry is [string, string] => typeof entry[1] === 'string',
          ),
        )
      : {},
    syncStatus: row.sync_status,
    configHash: row.config_hash,
    configVersion: Number(row.config_version),
    cacheHash: optional(details.cacheHash),
    lastSeen: Number(row.last_seen),
    connected: row.connected,
    certExpiresAt: row.cert_expires_at === null ? undefined : Number(row.cert_expires_at),
    pushError: optional(details.pushError),
    protocol: optional(details.protocol),
    ...(certFingerprint ? { certFingerprint } : {}),
    controlPlaneId: row.control_plane_id,
    storedAgoMs: Number(row.stored_ago_ms),
  };
}

/**
 * A `JSON.stringify` replacer: strings (keys too) as jsonb takes them (see {@link text}); only
 * an object with a key to clean is copied.
 */
function cleanJson(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return UNCLEAN.test(value) ? text(value) : value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const key of Object.keys(value))
      if (UNCLEAN.test(key))
        return Object.fromEntries(
          Object.entries(value).map(([name, inner]) => [text(name), inner]),
        );
  }
  return value;
}

/** What {@link text} changes: a NUL or a surrogate (paired ones are left as they are). */
const UNCLEAN = /[\0\uD800-\uDFFF]/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Text as jsonb takes it: no NUL, no lone surrogate. */
function text(value: string): string {
  return String(value).replaceAll('\0', '').replace(LONE_SURROGATE, '\uFFFD');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The settings of a connection string that replace pg's `ssl` option (`ssl=0` turns TLS off,
 * `ssl=no-verify` stops checking the server, `sslmode`… replace it with their own), found as
 * `pg-connection-string` finds them: a URL WHATWG refuses is read with a stand-in host.
 */
function tlsParameters(connectionString: string): string[] {
  if (connectionString.startsWith('/')) return []; // a socket path and a database name
  const encoded = / |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(connectionString)
    ? encodeURI(connectionString).replace(/%25(\d\d)/g, '%$1')
    : connectionString;
  let url: URL | undefined;
  try {
    url = new URL(encoded, 'postgres://base');
  } catch {
    try {
      url = new URL(encoded.replace('@/', '@___DUMMY___/'), 'postgres://base');
    } catch {
      return []; // pg refuses it too
    }
  }
  return ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation'].filter((name) =>
    url.searchParams.has(name),
  );
}

/** A driver's failure as `STATE_UNAVAILABLE` (a planesync error passes as it is). */
function unavailable(error: unknown, doing: string): PlanesyncError {
  if (error instanceof PlanesyncError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StateUnavailableError(`PostgreSQL, ${doing}: ${message}`, { cause: error });
}

async function decode(row: ConfigRow): Promise<SharedVersion> {
  try {
    return {
      version: Number(row.version),
      hash: row.hash,
      hashes: JSON.parse(row.hashes),
      config: JSON.parse((await gunzipAsync(row.config)).toString('utf8')),
      publishedAt: Number(row.published_at),
    };
  } catch (error) {
    throw new StoreCorruptError('planesync_config holds a config that cannot be read back', {
      cause: error,
    });
  }
}
