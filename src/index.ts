/**
 * shale: a durable, embeddable LSM-tree key-value store. The public surface only.
 */
export { DB } from './db/db.js';
export type { BatchOperation, WriteOptions, RecoveryReport, ReadOptions, IteratorOptions } from './db/db.js';
export type { VerifyOptions, VerifyReport, VerifiedFile, ToolProgress, Damage, RepairOptions, RepairReport, DestroyOptions, DestroyReport } from './db/db.js';
export type { CheckpointResult, ExportOptions, ExportFormat, ExportEncoding, ImportOptions, ImportResult } from './db/db.js';
export { listBackups, verifyBackup, restoreBackup, purgeOldBackups, deleteBackup } from './backup/backup-engine.js';
export type { BackupInfo, BackupOptions } from './backup/backup-engine.js';
export { Snapshot } from './db/snapshot.js';
export { Transaction } from './db/transaction.js';
export type { IsolationLevel, TransactionOptions, RunTransactionOptions, TransactionIteratorOptions } from './db/transaction.js';
export { ShaleIterator } from './iterator/public-iterator.js';
export { ShaleError, CorruptionError, ConflictError } from './errors.js';
export type { ShaleErrorCode } from './errors.js';
export type { Options, WalRecoveryMode } from './options.js';
export type { BytesLike } from './keys.js';
export type { MetricsOptions } from './db/metrics.js';
export type { FileSystem, WritableFile, RandomAccessFile, FileLock } from './fs/file-system.js';
export type { PutOptions, ExpiryOptions } from './db/db.js';
export type {
  CompactionFilter,
  CompactionFilterFunction,
  CompactionFilterModule,
  CompactionFilterContext,
  CompactionFilterDecision,
} from './compaction/compaction-filter.js';
