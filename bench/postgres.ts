/**
 * The PostgreSQL the cluster benchmarks use: `PLANESYNC_BENCH_POSTGRES` or
 * `PLANESYNC_TEST_POSTGRES`, a connection string whose user may create databases. Each
 * benchmark makes a database of its own and drops it when done.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface BenchDatabase {
  /** The connection string of the new database. */
  url: string;
  name: string;
  /** A connection to the server (not the new database), for statistics. */
  admin: pg.Client;
  drop(): Promise<void>;
}

/** A fresh database, or `undefined` (said on stdout) when no server is named. */
export async function benchDatabase(benchmark: string): Promise<BenchDatabase | undefined> {
  const server = process.env.PLANESYNC_BENCH_POSTGRES ?? process.env.PLANESYNC_TEST_POSTGRES;
  if (!server) {
    console.log(`${benchmark}: skipped (no PostgreSQL: set PLANESYNC_TEST_POSTGRES)`);
    return undefined;
  }
  const name = `planesync_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    admin,
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}
