import type { Sql } from '../db/connection.js';

/** A transaction handle (postgres.js gives it the Sql interface). */
export type Tx = Sql;
/** PostgreSQL numerics and bigints arrive as strings. */
export const n = (v: unknown): number => Number(v);
