// Library entry: what the bot (auto-backup, /backup, /health) and tests use.
export * from './backup/format.js';
export * from './backup/create-backup.js';
export * from './backup/verify-backup.js';
export * from './backup/catalog.js';
export * from './backup/dumper.js';
export * from './backup/encryption.js';
export * from './backup/archive-reader.js';
export * from './backup/archive-writer.js';
export * from './backup/tar-reader.js';
export * from './backup/offsite.js';
export * from './storage/storage.js';
export * from './storage/local-dir-storage.js';
export * from './storage/memory-storage.js';
export * from './lock/maintenance-lock.js';
export * from './reporter/reporter.js';
