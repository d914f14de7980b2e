// The public API of @botctl/maintenance: what the botctl CLI, the shop bot and the tests use.
// Everything else under src/ is internal and may change; add a name here when a caller needs it.

// The archive format: tar framing, manifest and sidecar, age streams, readers and writers, safe extraction.
export {
  type ArchiveDecryption,
  type ArchiveEncryption,
  createArchiveDecryption,
  createArchiveEncryption,
  generateIdentityFile,
} from './archive/encryption.js';

// Where archives live: one Storage interface, local folder, offsite folder, rclone remote, in memory.
export { hashObject } from './storage/hash-object.js';
export { LocalDirStorage } from './storage/local-dir-storage.js';
export { offsiteHint, type OffsiteStorage, offsiteStorage } from './storage/offsite-storage.js';
export { probeStorage } from './storage/probe.js';
export { RcloneStorage } from './storage/rclone-storage.js';
export { type Storage, storagePath } from './storage/storage.js';

// The per-tenant maintenance lock.
export { acquireLock, type HeldLock, LOCK_FILE, readLock, type UnlockResult, unlockStale } from './lock/maintenance-lock.js';

// Progress and warnings go through an injected Reporter; the library never writes to the console.
export { type Progress, type Reporter, silentReporter } from './reporter/reporter.js';

// The composition root: storages, pg_dump, encryption, lock, Bot API clients, alerter, gateway.
export { createServices, DUMP_LOCK_WAIT_SECONDS, Services, type ServicesOptions } from './services.js';

// The owners' alerts for maintenance runs, one wording for botctl and the bot.
export { backupDoneText, failureAlertText, successAlertText } from './alert-texts.js';

// Backups: create, list, verify, restore, prune, drill; the pg_dump runner and restore targets.
export { type BackupEntry, catalogScope, listBackups, type Location, resolveArchiveArg, storesIn } from './backup/catalog.js';
export { createBackup, type CreateResult } from './backup/create-backup.js';
export { writeDataKeyFile } from './backup/data-key.js';
export { drillBackup, drillPassedText, type DrillResult } from './backup/drill.js';
export { PgDumper } from './backup/dumper.js';
export { fenceTheBot } from './backup/fence.js';
export { missingOffsite, syncOffsite } from './backup/offsite-sync.js';
export { describePolicy, pruneBackups, type PruneResult, type RetentionPolicy } from './backup/prune.js';
export { latestArchive, readSidecarOf, restoreBackup, type RestoreResult } from './backup/restore-backup.js';
export type { TargetSpec } from './backup/targets.js';
export { verifyBackups, type VerifyReport, type VerifyTarget } from './backup/verify-backup.js';

// Maintenance logs and their monthly encrypted archives.
export { extractLogArchive, listLogArchives } from './logs/archives.js';
export { logArchiveStores, rotateLogs } from './logs/rotate.js';

// Health checks, their judgement and the Prometheus textfile.
export { type HealthDeps, type HealthMetrics, type HealthStatus, runChecks, shopMetrics } from './health/checks.js';
export { type HealthReport, nagiosPerfData, runHealthcheck, summaryLine } from './health/run-health.js';
export { realSystem } from './health/system.js';

// Tenant status and the maintenance journal.
export { JOURNAL_KINDS, type JournalKind, journalMessage } from './status/journal.js';
export {
  type Mark,
  MARK_ICON,
  MARK_RANK,
  STATUS_ITEMS,
  type RecoveryPoint,
  type StatusLine,
  tenantEnvFiles,
  tenantStatus,
  tenantStatusReport,
  worstMark,
} from './status/status.js';

// Recovery of a lost shop from its newest good backup.
export { recover, type RecoveryReport, type RecoveryStep } from './recover/recover.js';

// The checks before a tenant goes live.
export { runPreflight } from './preflight/preflight.js';
export { lowerPriority } from './util/priority.js';

// A new tenant's settings from the template.
export { initTenant, type InitTenantResult } from './setup/init-tenant.js';

// Moving a shop between hosts.
export { exportDatabase, importDatabase } from './migration/export-import.js';

// The catalog file (botctl catalog import/export).
export {
  CATALOG_COLUMNS,
  type CatalogFormat,
  type CatalogProblem,
  catalogFormatOf,
  readCatalog,
  type ReadCatalog,
  writeCatalog,
} from './catalog/catalog-file.js';

// WAL archiving of a cluster (its own env file)
export { fetchWalFile, isWalFileName, pushWalFile, type WalFetchResult, WalNotFoundError, type WalPushResult, type WalStores } from './wal/wal-archive.js';
export { type BaseBackupResult, type BaseBackupSidecar, createBaseBackup, listBaseBackups } from './wal/base-backup.js';
export { type PointInTimeDeps, type PointInTimeResult, parseTargetTime, restoreToTime } from './wal/point-in-time.js';
export { type ClusterPruneResult, pruneCluster } from './wal/retention.js';
export { enableWalArchiving, type WalEnableResult } from './wal/enable.js';
export { drillToTime, pitrDrillPassedText, type PitrDrillResult } from './wal/pitr-drill.js';
