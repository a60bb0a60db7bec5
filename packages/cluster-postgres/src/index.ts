/**
 * `@planesync/cluster-postgres`: several planesync control planes on one PostgreSQL — the
 * `ClusterState` they share, kept in its tables and announced with `LISTEN/NOTIFY`.
 *
 * @module
 */

export { SCHEMA_STEPS } from './migrations.ts';
export {
  CONFIG_CHANNEL,
  PostgresClusterState,
  type PostgresClusterStateOptions,
  postgresClusterState,
} from './postgres-state.ts';
