/**
 * Backups (src/backup/): incremental backups share tables, each restores to a
 * database equal to the source at the backup's sequence (full scans compared),
 * verify and restore catch damaged or missing files, purge keeps every file a
 * remaining backup names, and the manifest format rejects damage.
 */
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CorruptionError, DB, ShaleError, deleteBackup, listBackups, purgeOldBackups, restoreBackup, verifyBackup, type Options } from '../../src/index.js';
import { decodeBackupManifest, encodeBackupManifest, type BackupManifest } from '../../src/backup/backup-manifest.js';
import { emptyManifestState } from '../../src/version/manifest.js';
import { CrashableFS } from '../../src/testing/crashable-fs.js';
import { FaultFS } from '../../src/testing/fault-fs.js';
import { isCode, SeededRandom, tempDir, testSeed } from '../helpers.js';
import { WriteLog, randomWrites, scan } from '../db/write-log.js';

const SMALL: Options = { memtableSizeBytes: 8 * 1024, targetFileSizeBytes: 16 * 1024, levelBaseBytes: 64 * 1024, compactionExecutor: 'inline' };

function sharedFiles(backupDir: string): string[] {
  return nodeFs.readdirSync(path.join(backupDir, 'shared')).sort();
}

async function restoredScan(backupDir: string, id: number): Promise<[string, string][]> {
  const target = path.join(tempDir(), 'restored');
  await restoreBackup(backupDir, id, target);
  const db = await DB.open(target, { createIfMissing: false });
  try {
    db.checkInvariants();
    return await scan(db);
  } finally {
    await db.close();
  }
}

/** A database with two backups in a fresh backup directory. */
async function twoBackups(seed: number): Promise<{ db: DB; log: WriteLog; backupDir: string; sequences: bigint[] }> {
  const random = new SeededRandom(seed);
  const db = await DB.open(tempDir(), SMALL);
  const log = new WriteLog();
  const backupDir = path.join(tempDir(), 'backups');
  await randomWrites(db, log, random, 1200);
  const first = await db.backup(backupDir);
  // Writes go on during the second backup.
  const [second] = await Promise.all([db.backup(backupDir), randomWrites(db, log, random, 300)]);
  return { db, log, backupDir, sequences: [first.sequence, second.sequence] };
}

describe('backups', () => {
  it('incremental backups share tables and each restores equal to the source at its sequence', async () => {
    const seed = testSeed('backups');
    const { db, log, backupDir, sequences } = await twoBackups(seed);
    const infos = await listBackups(backupDir);
    assert.deepEqual(
      infos.map((info) => [info.id, info.sequence]),
      [
        [1, sequences[0]],
        [2, sequences[1]],
      ],
    );
    assert.ok(infos[1]!.sequence > infos[0]!.sequence);
    assert.ok(infos.every((info) => info.fileCount > 0 && info.sizeBytes > 0 && info.createdAt instanceof Date));
    // The second backup copied only the tables the first did not have.
    const shared = sharedFiles(backupDir);
    assert.ok(shared.length < infos[0]!.fileCount + infos[1]!.fileCount, `${shared.length} shared files for ${infos[0]!.fileCount} + ${infos[1]!.fileCount} tables`);
    assert.ok(shared.every((name) => /^\d{6}-\d+-[0-9a-f]{8}\.sst$/.test(name)), shared.join(' '));

    await randomWrites(db, log, new SeededRandom(seed + 1), 300);
    await db.compactRange();
    const third = await db.backup(backupDir);
    for (const info of [...infos, third]) {
      assert.deepEqual(await verifyBackup(backupDir, info.id), info);
      assert.deepEqual(await restoredScan(backupDir, info.id), log.stateAt(info.sequence), `backup ${info.id}`);
    }
    await db.close();
  });

  it('purge keeps the newest backups and exactly the tables they name', async () => {
    const { db, log, backupDir } = await twoBackups(testSeed('purge'));
    await db.compactRange();
    const third = await db.backup(backupDir);
    await db.close();
    assert.deepEqual(await purgeOldBackups(backupDir, 2), [1]);
    assert.deepEqual((await listBackups(backupDir)).map((info) => info.id), [2, 3]);
    for (const info of await listBackups(backupDir)) await verifyBackup(backupDir, info.id);
    assert.deepEqual(await restoredScan(backupDir, 3), log.stateAt(third.sequence));
    assert.deepEqual(await purgeOldBackups(backupDir, 5), []);
    assert.deepEqual(await purgeOldBackups(backupDir, 1), [2]);
    assert.equal(sharedFiles(backupDir).length, third.fileCount);
    assert.deepEqual(await purgeOldBackups(backupDir, 0), [3]);
    assert.deepEqual(sharedFiles(backupDir), []);
    assert.deepEqual(await listBackups(backupDir), []);
  });

  it('deleting a backup keeps the others whole, and the tables they share', async () => {
    const { db, log, backupDir } = await twoBackups(testSeed('delete backup'));
    await db.compactRange();
    const third = await db.backup(backupDir);
    await db.close();
    const shared = sharedFiles(backupDir);
    await deleteBackup(backupDir, 2);
    assert.deepEqual((await listBackups(backupDir)).map((info) => info.id), [1, 3]);
    for (const id of [1, 3]) await verifyBackup(backupDir, id);
    assert.deepEqual(await restoredScan(backupDir, 3), log.stateAt(third.sequence));
    const after = sharedFiles(backupDir);
    assert.ok(after.length <= shared.length && after.every((name) => shared.includes(name)));
    await assert.rejects(deleteBackup(backupDir, 2), isCode('NOT_FOUND'));
    await assert.rejects(deleteBackup(backupDir, -1), isCode('INVALID_ARGUMENT'));
    await deleteBackup(backupDir, 1);
    await deleteBackup(backupDir, 3);
    assert.deepEqual(sharedFiles(backupDir), []);
  });

  it('one operation at a time per backup directory: a second is LOCKED; close waits for a backup under way', async () => {
    const db = await DB.open(tempDir(), SMALL);
    const log = new WriteLog();
    await randomWrites(db, log, new SeededRandom(5), 500);
    const backupDir = path.join(tempDir(), 'backups');
    const first = db.backup(backupDir);
    const second = db.backup(backupDir);
    // Whichever takes the LOCK first runs; the other is refused, not queued.
    const outcomes = await Promise.allSettled([first, second]);
    assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1);
    const refused = outcomes.find((outcome) => outcome.status === 'rejected');
    assert.ok(refused?.status === 'rejected' && refused.reason instanceof ShaleError && refused.reason.code === 'LOCKED', String(refused?.status === 'rejected' && refused.reason));
    const third = db.backup(backupDir);
    await new Promise((resolve) => setImmediate(resolve));
    await db.close();
    const info = await third;
    assert.deepEqual(await restoredScan(backupDir, info.id), log.stateAt(info.sequence));
  });

  it('verify and restore catch a damaged or missing table; restore then leaves nothing that opens', async () => {
    const { db, backupDir } = await twoBackups(testSeed('damaged backup'));
    await db.close();
    const [name] = sharedFiles(backupDir);
    const file = path.join(backupDir, 'shared', name!);
    const bytes = nodeFs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
    nodeFs.writeFileSync(file, bytes);
    const damaged = async (promise: Promise<unknown>): Promise<void> => {
      await assert.rejects(promise, (err: unknown) => {
        assert.ok(err instanceof CorruptionError, String(err));
        assert.equal(err.file, file);
        return true;
      });
    };
    await damaged(verifyBackup(backupDir, 1));
    const target = path.join(tempDir(), 'restored');
    await damaged(restoreBackup(backupDir, 1, target));
    await assert.rejects(DB.open(target, { createIfMissing: false }));
    nodeFs.rmSync(file);
    await assert.rejects(verifyBackup(backupDir, 1), (err: unknown) => err instanceof CorruptionError && err.file === file);
    await assert.rejects(restoreBackup(backupDir, 1, path.join(tempDir(), 'again')), (err: unknown) => err instanceof CorruptionError && err.file === file);
  });

  it('a damaged manifest is corruption, and stops purge before it removes any table', async () => {
    const { db, backupDir } = await twoBackups(testSeed('damaged manifest'));
    await db.close();
    const meta = path.join(backupDir, 'meta', '0000000002');
    const bytes = nodeFs.readFileSync(meta);
    bytes[40]! ^= 1;
    nodeFs.writeFileSync(meta, bytes);
    await assert.rejects(listBackups(backupDir), (err: unknown) => err instanceof CorruptionError && err.file === meta);
    const before = sharedFiles(backupDir);
    await assert.rejects(purgeOldBackups(backupDir, 1), isCode('CORRUPTION'));
    assert.deepEqual(sharedFiles(backupDir), before);
  });

  it('the manifest round-trips, any cut or flipped byte is a CorruptionError, a later version NOT_SUPPORTED', () => {
    const state = emptyManifestState();
    state.logNumber = 40;
    state.nextFileNumber = 42;
    state.lastSequence = 1234;
    state.files.set(7, { level: 1, fileNumber: 7, sizeBytes: 5000, smallest: Buffer.from('a\x01\0\0\0\0\0\0\0'), largest: Buffer.from('z\x01\0\0\0\0\0\0\0'), smallestSeq: 1, largestSeq: 1234 });
    const manifest: BackupManifest = { id: 3, sequence: 1234, createdMs: 1_700_000_000_000, files: [{ fileNumber: 7, sizeBytes: 5000, crc32: 0xdeadbeef }], state };
    const bytes = encodeBackupManifest(manifest);
    assert.deepEqual(decodeBackupManifest(bytes, 'm'), manifest);
    for (let cut = 0; cut < bytes.length; cut++) assert.throws(() => decodeBackupManifest(bytes.subarray(0, cut), 'm'), CorruptionError, `cut at ${cut}`);
    for (let at = 0; at < bytes.length; at++) {
      const flipped = Buffer.from(bytes);
      flipped[at]! ^= 0x04;
      // The version byte turned 5: a later version, which this reader refuses as such.
      if (at === 8) assert.throws(() => decodeBackupManifest(flipped, 'm'), isCode('NOT_SUPPORTED'));
      else assert.throws(() => decodeBackupManifest(flipped, 'm'), CorruptionError, `flip at ${at}`);
    }
  });

  it('the manifest is the documented bytes (docs/format.md, "Backup manifest", worked example)', () => {
    const state = emptyManifestState();
    state.logNumber = 9;
    state.nextFileNumber = 11;
    state.lastSequence = 3;
    const internalKey = (key: string, seq: number): Buffer => Buffer.concat([Buffer.from(key), Buffer.from([1, seq, 0, 0, 0, 0, 0, 0])]);
    state.files.set(8, { level: 0, fileNumber: 8, sizeBytes: 1089, smallest: internalKey('a', 1), largest: internalKey('c', 3), smallestSeq: 1, largestSeq: 3 });
    const bytes = encodeBackupManifest({ id: 1, sequence: 3, createdMs: 1796659200000, files: [{ fileNumber: 8, sizeBytes: 1089, crc32: 0x1234abcd }], state });
    // The CRC-32 was checked with Python's binascii.crc32.
    const documented =
      '5348414c4542414b' + '01' + '01000000' + '0300000000000000' + '00c03b51a2010000' + '01000000' +
      '0800000000000000' + '4104000000000000' + 'cdab3412' + '52000000' +
      '03' + '010900000000000000' + '020b00000000000000' + '030300000000000000' +
      '0500' + '0800000000000000' + '4104000000000000' + '0100000000000000' + '0300000000000000' + '09610101000000000000' + '09630103000000000000' +
      '9571a52b';
    assert.equal(bytes.toString('hex'), documented);
  });

  it('an I/O error at any step of a backup rejects, keeps the earlier backup whole, and the next backup succeeds', async () => {
    let steps = 0;
    for (let nth = 1; ; nth++) {
      const fs = new FaultFS(new CrashableFS());
      const db = await DB.open('/db', { ...SMALL, fs });
      const log = new WriteLog();
      await randomWrites(db, log, new SeededRandom(nth), 300);
      const first = await db.backup('/backups');
      await randomWrites(db, log, new SeededRandom(nth + 1000), 300);
      fs.addRule({ op: ['mkdir', 'create', 'append', 'sync', 'syncDir', 'rename', 'remove'], path: '/backups', nth, error: 'EIO' });
      const failed = await db.backup('/backups').then(
        () => false,
        (err: unknown) => {
          assert.ok(err instanceof ShaleError && err.code === 'IO_ERROR', `step ${nth}: ${String(err)}`);
          return true;
        },
      );
      fs.clearRules();
      const ids = (await listBackups('/backups', { fs })).map((info) => info.id);
      assert.ok(ids.includes(1), `step ${nth}: backup 1 is gone`);
      for (const id of ids) await verifyBackup('/backups', id, { fs });
      await restoreBackup('/backups', 1, '/restored', { fs });
      const restored = await DB.open('/restored', { fs, createIfMissing: false });
      assert.deepEqual(await scan(restored), log.stateAt(first.sequence), `step ${nth}`);
      await restored.close();
      const next = await db.backup('/backups');
      await verifyBackup('/backups', next.id, { fs });
      await db.close();
      if (!failed) break;
      steps++;
    }
    assert.ok(steps > 5, `only ${steps} failing steps`);
  });

  it('bad arguments, unknown backups, an existing target, a closed database', async () => {
    const { db, backupDir } = await twoBackups(1);
    await assert.rejects(verifyBackup(backupDir, 0), isCode('INVALID_ARGUMENT'));
    await assert.rejects(verifyBackup(backupDir, 1.5), isCode('INVALID_ARGUMENT'));
    await assert.rejects(verifyBackup(backupDir, 9), isCode('NOT_FOUND'));
    await assert.rejects(restoreBackup(backupDir, 1, tempDir()), isCode('EXISTS'));
    await assert.rejects(listBackups(tempDir()), isCode('NOT_FOUND'));
    await assert.rejects(purgeOldBackups(backupDir, -1), isCode('INVALID_ARGUMENT'));
    await assert.rejects(db.backup(''), isCode('INVALID_ARGUMENT'));
    await db.close();
    await assert.rejects(db.backup(backupDir), isCode('NOT_OPEN'));
    assert.equal((await listBackups(backupDir)).length, 2);
  });
});
