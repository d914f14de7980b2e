import type { Readable } from 'node:stream';
import { BotctlError } from '@botctl/core';

export interface StoredObject {
  name: string;
  size: number;
  mtime: Date;
}

export interface PutResult {
  size: number;
  sha256: string;
}

export interface SpaceInfo {
  free: number | undefined;
  total: number | undefined;
  used: number | undefined;
}

export interface PutOptions {
  signal?: AbortSignal | undefined;
  /** File mode where the backend has one. Archives are 0600. */
  mode?: number;
  /** Called with the running byte count as data is stored. */
  onProgress?: (bytes: number) => void;
}

/**
 * Where backups live: the local backup folder, the offsite folder, an rclone remote.
 * Contract, checked for every implementation by storage-contract tests:
 * - `put` never makes a partial object visible under its final name: a failed, aborted or
 *   interrupted put leaves nothing but (at worst) a temporary `*.partial-*` object, and it never
 *   replaces an existing object (it fails with ALREADY_EXISTS).
 * - `writeSmall` atomically creates or replaces a small object (sidecars).
 * - `list` returns every object, temporaries included; callers filter.
 * - `rename` moves an object to a new name, replacing what was there, in one step: readers see
 *   the old object or the new one, never neither (log archives are rewritten this way).
 * - `remove` of a missing object is not an error.
 */
export interface Storage {
  readonly kind: 'local' | 'offsite' | 'memory';
  /** For people: a path or remote name, never credentials. */
  readonly description: string;
  list(): Promise<StoredObject[]>;
  stat(name: string): Promise<StoredObject | undefined>;
  read(name: string): Promise<Readable>;
  put(name: string, source: Readable, options?: PutOptions): Promise<PutResult>;
  writeSmall(name: string, data: string | Uint8Array): Promise<void>;
  readSmall(name: string): Promise<Buffer | undefined>;
  rename(from: string, to: string): Promise<void>;
  remove(name: string): Promise<void>;
  /**
   * Removes several groups of objects, durably once all are gone (one directory fsync instead of
   * one per object). Within a group in its order (an archive before its sidecar); groups may go
   * side by side. Where absent, callers remove one by one.
   */
  removeAll?(groups: readonly (readonly string[])[]): Promise<void>;
  /**
   * Throws when the storage cannot be used at all (offsite folder not mounted, rclone missing or
   * too old), with a message that says so; `healthcheck` and `doctor offsite` call it.
   */
  ready?(): Promise<unknown>;
  /** Free space where the backend tells it. */
  space?(): Promise<SpaceInfo | undefined>;
  /**
   * Where an earlier layout kept the same things (the flat offsite root, before each store got
   * a folder of its own). Read alongside this storage, never written to; only archives whose
   * sidecar names this store are taken from there.
   */
  readonly legacy?: Storage | undefined;
}

/** The first `n` bytes of an object (fewer when it is shorter), read without fetching the rest. */
export async function readHead(storage: Storage, name: string, n: number): Promise<Buffer> {
  const stream = await storage.read(name);
  const chunks: Buffer[] = [];
  let got = 0;
  try {
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      got += c.length;
      if (got >= n) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}

/** `<destination>/<name>` for people: a folder path or an rclone remote path (`b2:bucket/x/<name>`). */
export function storagePath(storage: Storage, name: string): string {
  const d = storage.description;
  return d.endsWith('/') || d.endsWith(':') ? `${d}${name}` : `${d}/${name}`;
}

export class StorageError extends Error {
  readonly code: 'ALREADY_EXISTS' | 'NOT_FOUND' | 'INVALID_NAME' | 'NOT_MOUNTED';
  constructor(code: StorageError['code'], message: string) {
    super(message);
    this.name = 'StorageError';
    this.code = code;
  }
}

/** Object names are single path components: no separators, no dot-dot, nothing hidden by accident. */
export function assertObjectName(name: string): void {
  if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('\0')) {
    throw new StorageError('INVALID_NAME', `invalid object name: ${JSON.stringify(name)}`);
  }
}

/** The destination cannot be used at all (mount missing, rclone missing or too old): not a passing glitch. */
export function isOffsiteUnusable(error: unknown): boolean {
  return (error instanceof StorageError && error.code === 'NOT_MOUNTED') || (error instanceof BotctlError && error.code === 'CONFIG');
}
