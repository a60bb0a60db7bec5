import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server the tests use: `PLANESYNC_TEST_POSTGRES`, a connection string to a
 * database whose user may create databases. `.ci/run` starts one and sets it; without it the
 * tests that need a server are skipped, saying so.
 */
export const serverUrl = process.env.PLANESYNC_TEST_POSTGRES;

export const skipReason = serverUrl
  ? undefined
  : 'no PostgreSQL: set PLANESYNC_TEST_POSTGRES to a connection string (.ci/run starts a server and sets it)';

/**
 * The PEM file of the CA that signed the test server's certificate, when that server takes
 * TLS: `PLANESYNC_TEST_POSTGRES_CA` (`.ci/run` makes a throw-away CA and sets it). Without it
 * the TLS tests are skipped, saying so.
 */
export const serverCaFile = process.env.PLANESYNC_TEST_POSTGRES_CA;

export const tlsSkipReason =
  skipReason ??
  (serverCaFile
    ? undefined
    : 'no PostgreSQL with TLS: set PLANESYNC_TEST_POSTGRES_CA to the PEM file of the CA that signed its certificate (.ci/run makes one and sets it)');

/** A fresh, empty database on the test server; `drop` removes it (after its pools end). */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (!serverUrl) throw new Error(skipReason);
  const name = `planesync_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
