import { isPartialName } from '@botctl/core';
import { CODEC_EXTENSION, type Codec } from './compression.js';

/**
 * The backup format, version 1. Documented in docs/backup-format.md; a change here is a change
 * there, and an incompatible one bumps FORMAT_VERSION.
 */
export const FORMAT_VERSION = 1;
export const SIDECAR_SUFFIX = '.meta.json';
export const MANIFEST_MEMBER = 'manifest.json';
export const DUMP_PART_PREFIX = 'database.dump.';
/** Dump parts are buffered in memory to learn their size before the tar header: 8 MiB each. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

export type BackupKind = 'manual' | 'scheduled' | 'pre-restore';

const NAME_RE = /^backup-(\d{8})-(\d{6})(?:-(pre-restore))?\.tar\.(gz|zst)\.enc$/;

/**
 * `backup-YYYYMMDD-HHMMSS.tar.gz.enc` (the plan's name) or `….tar.zst.enc` with zstd; pre-restore
 * safety copies carry `-pre-restore`.
 */
export function archiveName(stamp: string, kind: BackupKind = 'manual', codec: Codec = 'gzip'): string {
  return `backup-${stamp}${kind === 'pre-restore' ? '-pre-restore' : ''}.tar.${CODEC_EXTENSION[codec]}.enc`;
}

export function isArchiveName(name: string): boolean {
  return NAME_RE.test(name) && !isPartialName(name);
}

export function parseArchiveName(name: string): { stamp: string; preRestore: boolean; codec: Codec } | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  return { stamp: `${m[1]}-${m[2]}`, preRestore: m[3] === 'pre-restore', codec: m[4] === 'zst' ? 'zstd' : 'gzip' };
}

export function sidecarName(archive: string): string {
  return `${archive}${SIDECAR_SUFFIX}`;
}

export function dumpPartName(index: number): string {
  return `${DUMP_PART_PREFIX}${String(index).padStart(4, '0')}`;
}

export function isDumpPart(name: string): boolean {
  return /^database\.dump\.\d{4,}$/.test(name);
}

export interface MemberInfo {
  name: string;
  size: number;
  sha256: string;
}

export interface TableCount {
  schema: string;
  table: string;
  rows: number;
  /** md5 of the table's rows as text, sorted; only for tables up to BACKUP_CHECKSUM_MAX_MB. */
  checksum?: string;
}

/** Where a config member came from, so restore can put it back. */
export interface ConfigFileInfo {
  member: string;
  /** Absolute path on the machine that made the backup. */
  path: string;
  role: 'env' | 'extra';
}

/** Whose backup it is: recorded in the manifest (authenticated, inside the age stream). */
interface StoreRecord {
  /** Config.storeId: BACKUP_STORE_ID, or derived from the store and database names. */
  id: string;
  name: string;
}

export interface Manifest {
  format: 'botctl-backup';
  format_version: number;
  tool: { name: 'botctl'; version: string };
  store_name: string;
  /** Absent in archives made before store ids (they are matched by store and database name). */
  store?: StoreRecord;
  /**
   * Real creation order among this store's backups, whatever the clock said: a hybrid logical
   * clock, max(milliseconds since 1970 now, highest sequence already stored + 1).
   */
  sequence?: number;
  created_at: string;
  database: {
    name: string;
    server_version: string;
    pg_dump_version: string;
    dump_format: 'custom';
    snapshot: string;
  };
  dump: { parts: number; size: number };
  config_files: ConfigFileInfo[];
  log_files: number;
  /** Every member except manifest.json itself, in archive order. */
  members: MemberInfo[];
  tables: TableCount[];
  row_total: number;
}

export interface VerificationRecord {
  at: string;
  level: 'quick' | 'full';
  ok: boolean;
  location: 'local' | 'offsite';
  error?: string;
}

export interface DrillRecord {
  at: string;
  ok: boolean;
  restore_ms: number;
  tables: number;
  rows: number;
  error?: string;
}

export interface EncryptionInfo {
  mode: 'recipients' | 'passphrase';
  /** sha256 fingerprints of the age recipients (recipients mode). */
  recipients?: { fingerprint: string }[];
  scrypt_work_factor?: number;
}

export interface Sidecar {
  format: 'botctl-backup-sidecar';
  format_version: number;
  name: string;
  size: number;
  sha256: string;
  created_at: string;
  store_name: string;
  /** Copied from the manifest (absent in sidecars of archives made before store ids). */
  store_id?: string;
  sequence?: number;
  /** SHA-256 of the age header: a damaged header is then told apart from a wrong key. */
  header_sha256?: string;
  kind: BackupKind;
  tool_version: string;
  database: { name: string; server_version: string; pg_dump_version: string };
  encryption: EncryptionInfo;
  members: MemberInfo[];
  duration_ms: number;
  rows: { tables: number; total: number };
  verifications: VerificationRecord[];
  drills: DrillRecord[];
}

/** Keep sidecars small: the latest results are what matters. */
export const MAX_HISTORY = 20;

export function parseSidecar(text: string): Sidecar | undefined {
  try {
    const s = JSON.parse(text) as Partial<Sidecar>;
    if (s.format !== 'botctl-backup-sidecar' || typeof s.sha256 !== 'string' || typeof s.size !== 'number') return undefined;
    return { ...s, verifications: s.verifications ?? [], drills: s.drills ?? [] } as Sidecar;
  } catch {
    return undefined;
  }
}

export function parseManifest(text: string): Manifest | undefined {
  try {
    const m = JSON.parse(text) as Partial<Manifest>;
    if (m.format !== 'botctl-backup' || !Array.isArray(m.members) || !Array.isArray(m.tables)) return undefined;
    return m as Manifest;
  } catch {
    return undefined;
  }
}
