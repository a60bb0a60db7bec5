import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, hashConfig, silentLogger } from '@planesync/core';
import { createTestCluster } from '@planesync/core/testing';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type PostgresClusterState,
  type PostgresClusterStateOptions,
  postgresClusterState,
} from '../src/index.ts';
import { freshDatabase, serverCaFile, serverUrl, skipReason, tlsSkipReason } from './postgres.ts';

/** Every state, database and directory a test made, closed and removed after it. */
const opened: PostgresClusterState[] = [];
const databases: Array<{ drop(): Promise<void> }> = [];
const directories: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((state) => state.close()));
  await Promise.all(databases.splice(0).map((database) => database.drop()));
  await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  vi.unstubAllEnvs();
});
function state(options: PostgresClusterStateOptions) {
  const made = postgresClusterState(options);
  opened.push(made);
  return made;
}
/** A fresh database: its URL, with `application_name` set when `as` is given, and its name. */
async function database() {
  const made = await freshDatabase();
  databases.push(made);
  const name = new URL(made.url).pathname.slice(1);
  const as = (applicationName: string, params: Record<string, string> = {}) => {
    const url = new URL(made.url);
    for (const [key, value] of Object.entries({ application_name: applicationName, ...params }))
      url.searchParams.set(key, value);
    return url.toString();
  };
  return { url: made.url, name, as };
}

const config = { _format_version: '3.0', services: [{ name: 'echo', host: 'echo.internal' }] };
const { config_hash: hash, hashes } = hashConfig(config);
const candidate = { hash, hashes, config, publishedAt: 1_700_000_000_000 };

/** What the server says of the connections application `name` has open to `database`. */
async function connectionsOf(database: string, name: string) {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ ssl: boolean; version: string | null }>(
      `SELECT s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
       WHERE a.datname = $1 AND a.application_name = $2`,
      [database, name],
    );
    return rows;
  } finally {
    await admin.end();
  }
}

/** The error `call` rejects with, and how long it took. */
async function failure(call: () => Promise<unknown>) {
  const started = performance.now();
  const error = await call().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return {
    error: error as (Error & { code?: string }) | undefined,
    ms: performance.now() - started,
  };
}

/** A CA that did not sign the server's certificate. */
async function otherCa() {
  return (await createCertificateAuthority({ commonName: 'not the PostgreSQL CA' })).certificate;
}

// The pool waits at most 10 s for a connection: a refusal well within that is the TLS check
// refusing the server, not a timeout.
const PROMPTLY_MS = 5_000;

describe.skipIf(tlsSkipReason)(
  tlsSkipReason ? `TLS to PostgreSQL (skipped: ${tlsSkipReason})` : 'TLS to PostgreSQL',
  () => {
    it("with the server's CA, the state opens, publishes and reads a version over connections the server says are encrypted", async () => {
      const db = await database();
      const ca = await readFile(serverCaFile!, 'utf8');
      const secure = state({ connectionString: db.as('planesync-tls'), ssl: { ca } });
      await secure.open();
      expect(await secure.publish(candidate)).toMatchObject({
        outcome: 'published',
        latest: { version: 1 },
      });
      expect(await secure.latest()).toMatchObject({ version: 1, hash, config });
      // Watched, it holds its listening connection open for the server to be asked about.
      secure.watch(() => undefined);
      await vi.waitFor(
        async () => {
          const connections = await connectionsOf(db.name, 'planesync-tls');
          expect(connections.length).toBeGreaterThan(0);
          for (const connection of connections)
            expect(connection).toEqual({
              ssl: true,
              version: expect.stringMatching(/^TLSv1\.[23]$/),
            });
        },
        { timeout: 5_000 },
      );

      // The same server takes plain connections too, and the check tells them apart.
      const plain = state({ connectionString: db.as('planesync-plain') });
      expect(await plain.latest()).toMatchObject({ version: 1, hash });
      plain.watch(() => undefined);
      await vi.waitFor(
        async () => {
          const connections = await connectionsOf(db.name, 'planesync-plain');
          expect(connections.length).toBeGreaterThan(0);
          for (const connection of connections) expect(connection.ssl).toBe(false);
        },
        { timeout: 5_000 },
      );
    });

    it("checks the server's name: servername localhost (on its certificate) passes, another name is STATE_UNAVAILABLE", async () => {
      const db = await database();
      const ca = await readFile(serverCaFile!, 'utf8');
      const named = state({ connectionString: db.url, ssl: { ca, servername: 'localhost' } });
      await named.open();
      expect(await named.latest()).toBeUndefined();

      const misnamed = state({ connectionString: db.url, ssl: { ca, servername: 'db.example' } });
      const { error, ms } = await failure(() => misnamed.open());
      expect(error).toMatchObject({ code: 'STATE_UNAVAILABLE', name: 'StateUnavailableError' });
      expect(error?.cause).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
      expect(ms).toBeLessThan(PROMPTLY_MS);
    });

    it("with a CA that did not sign the server's certificate, open() and latest() reject with STATE_UNAVAILABLE at once, and a CP given the state serves nothing until it can read it", async () => {
      const db = await database();
      const untrusting = state({ connectionString: db.url, ssl: { ca: await otherCa() } });
      for (const call of [() => untrusting.open(), () => untrusting.latest()]) {
        const { error, ms } = await failure(call);
        expect(error).toMatchObject({ code: 'STATE_UNAVAILABLE', name: 'StateUnavailableError' });
        expect(error?.cause).toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
        expect(ms).toBeLessThan(PROMPTLY_MS);
      }
      // A CP given it starts, serves nothing it did not have, and says why.
      const cluster = await createTestCluster({
        controlPlane: { state: untrusting, logger: silentLogger },
      });
      try {
        expect(cluster.cp.stateHealth).toMatchObject({ available: false, joined: false });
        expect(cluster.cp.stateHealth.reason).toMatch(/unable to verify/i);
      } finally {
        await cluster.stop();
      }
    });

    it('sslmode=verify-full with sslrootcert=<file> in the connection string: verified with that CA, encrypted; another CA is STATE_UNAVAILABLE', async () => {
      const db = await database();
      const fromUrl = state({
        connectionString: db.as('planesync-url-tls', {
          sslmode: 'verify-full',
          sslrootcert: serverCaFile!,
        }),
      });
      await fromUrl.publish(candidate);
      expect(await fromUrl.latest()).toMatchObject({ version: 1, hash });
      fromUrl.watch(() => undefined);
      await vi.waitFor(
        async () => {
          const connections = await connectionsOf(db.name, 'planesync-url-tls');
          expect(connections.length).toBeGreaterThan(0);
          for (const connection of connections) expect(connection.ssl).toBe(true);
        },
        { timeout: 5_000 },
      );

      const dir = await mkdtemp(join(tmpdir(), 'planesync-pg-ca-'));
      directories.push(dir);
      await writeFile(join(dir, 'other-ca.pem'), await otherCa());
      const untrusting = state({
        connectionString: db.as('planesync-url-other-ca', {
          sslmode: 'verify-full',
          sslrootcert: join(dir, 'other-ca.pem'),
        }),
      });
      const { error, ms } = await failure(() => untrusting.latest());
      expect(error).toMatchObject({ code: 'STATE_UNAVAILABLE' });
      expect(ms).toBeLessThan(PROMPTLY_MS);
    });
  },
);

describe.skipIf(skipReason)(
  skipReason
    ? `the PG* environment variables (skipped: ${skipReason})`
    : 'the PG* environment variables',
  () => {
    it('without a connection string (none, or an empty one), PGHOST, PGPORT, PGUSER and PGDATABASE say where, as for psql', async () => {
      const db = await database();
      const url = new URL(db.url);
      vi.stubEnv('PGHOST', url.hostname);
      vi.stubEnv('PGPORT', url.port || '5432');
      vi.stubEnv('PGUSER', decodeURIComponent(url.username));
      vi.stubEnv('PGPASSWORD', decodeURIComponent(url.password) || undefined);
      vi.stubEnv('PGDATABASE', db.name);
      vi.stubEnv('PGSSLMODE', undefined);
      await state({}).publish(candidate);
      expect(await state({ connectionString: '' }).latest()).toMatchObject({ version: 1, hash });

      // It went to the database PGDATABASE names.
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT version, hash FROM planesync_config');
        expect(rows).toEqual([{ version: '1', hash }]);
      } finally {
        await client.end();
      }
    });
  },
);

describe('TLS settings are given in one place', () => {
  it('an ssl option beside a connection string with sslmode or sslrootcert is INVALID_ARGUMENT, not silently dropped', () => {
    for (const query of [
      'sslmode=require',
      'sslrootcert=/ca.pem',
      'sslmode=verify-full&sslkey=/k',
    ]) {
      expect(() =>
        postgresClusterState({
          connectionString: `postgresql://planesync@db.internal:5432/planesync?${query}`,
          ssl: { ca: 'pem' },
        }),
      ).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    // Every URL setting pg lets replace the option: `ssl=0` would turn TLS off and
    // `ssl=no-verify` stop checking the server, whatever `ssl` says.
    for (const connectionString of [
      'postgresql://planesync@db.internal/planesync?ssl=no-verify',
      'postgresql://planesync@db.internal/planesync?ssl=0',
      'postgresql://planesync@db.internal/planesync?ssl=true',
      'postgresql://planesync@db.internal/planesync?sslnegotiation=direct',
      // A URL WHATWG refuses but pg reads (no host: a socket named by `host`).
      'postgresql://planesync@/planesync?host=/var/run/postgresql&sslmode=disable',
    ]) {
      expect(() => postgresClusterState({ connectionString, ssl: { ca: 'pem' } })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
    // Either alone is fine.
    for (const made of [
      postgresClusterState({
        connectionString: 'postgresql://planesync@db.internal/planesync?sslmode=verify-full',
      }),
      postgresClusterState({
        connectionString: 'postgresql://planesync@db.internal/planesync',
        ssl: { ca: 'pem' },
      }),
    ])
      void made.close();
  });
});
