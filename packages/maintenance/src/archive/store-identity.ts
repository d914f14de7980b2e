import type { Config } from '@botctl/core';
import type { Manifest, Sidecar } from './format.js';

/**
 * Whose archives are whose. A tenant's identity is its store id (Config.storeId) with its store
 * name and database; archives written before store ids existed carry only the store name and
 * the database name, and match on both.
 */
export interface StoreIdentity {
  id: string;
  name: string;
  database: string | undefined;
}

export function storeIdentity(config: Config, database?: string): StoreIdentity {
  let db = database;
  if (db === undefined && config.databaseUrl) {
    try {
      db = decodeURIComponent(new URL(config.databaseUrl.reveal()).pathname.replace(/^\//, '')) || undefined;
    } catch {
      db = undefined;
    }
  }
  return { id: config.storeId, name: config.storeName, database: db };
}

type Claim = { store_id?: string | undefined; store_name?: string | undefined; database?: { name?: string } | undefined };

function claims(c: Claim, me: StoreIdentity): boolean {
  if (c.store_id !== undefined) return c.store_id === me.id;
  return c.store_name === me.name && (me.database === undefined || c.database?.name === undefined || c.database.name === me.database);
}

/** The sidecar says the archive is this store's (plain text: a filter for listing, not a proof). */
export function sidecarIsOurs(sc: Pick<Sidecar, 'store_id' | 'store_name' | 'database'>, me: StoreIdentity): boolean {
  return claims(sc, me);
}

/** The authenticated manifest says the archive is this store's: what restore and verify decide on. */
export function manifestIsOurs(m: Pick<Manifest, 'store' | 'store_name' | 'database'>, me: StoreIdentity): boolean {
  return claims({ store_id: m.store?.id, store_name: m.store_name, database: m.database }, me);
}

/** For messages: `"Toko A" (toko-a-shop1)`. */
export function describeStore(x: { store_id?: string | undefined; store_name?: string | undefined }): string {
  return `"${x.store_name ?? '?'}"${x.store_id ? ` (${x.store_id})` : ''}`;
}
