/**
 * Every `shale` command, run as a child process on a small database in a
 * temporary directory, intact and damaged (a flipped bit in a table, a truncated
 * WAL, a missing table): output, exit codes (0 success, 1 a finding, 2 bad
 * usage) and messages without stacks.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DB } from '../../src/index.js';
import { tempDir, filesMatching } from '../helpers.js';

const cliPath = fileURLToPath(new URL('../../src/cli/shale.js', import.meta.url));

function shale(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace: ${result.stderr}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const key = (i: number): string => `key${String(i).padStart(3, '0')}`;
const value = (i: number): string => `value-${i}-`.repeat(3);

/** key000..key099 in one table of many blocks, key100..key104 in the WAL. */
async function smallDatabase(): Promise<string> {
  const dir = path.join(tempDir(), 'db');
  const db = await DB.open(dir, { blockSizeBytes: 256, compression: 'none' });
  await db.write(Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: key(i), value: value(i) })));
  await db.flush();
  for (let i = 100; i < 105; i++) await db.put(key(i), value(i));
  await db.close();
  return dir;
}

describe('shale: usage', () => {
  it('no command, an unknown command, a missing argument, a bad option value: exit 2, the reason on stderr', () => {
    const none = shale();
    assert.equal(none.status, 2);
    assert.match(none.stderr, /^usage: shale <command>/);
    const unknown = shale('frobnicate');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /^shale: unknown command 'frobnicate'/);
    const missing = shale('get', tempDir());
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /missing required argument 'key'/);
    const choice = shale('get', tempDir(), 'k', '--key-encoding', 'ebcdic');
    assert.equal(choice.status, 2);
    assert.match(choice.stderr, /Allowed choices are utf8, hex, base64/);
    const limit = shale('scan', tempDir(), '--limit', '-3');
    assert.equal(limit.status, 2);
  });

  it('--help lists every command, a command\'s --help its options; --version prints the version: exit 0', () => {
    const help = shale('--help');
    assert.equal(help.status, 0);
    for (const command of ['get', 'put', 'del', 'scan', 'stats', 'compact', 'verify', 'repair', 'destroy', 'dump-wal', 'dump-sst', 'dump-manifest', 'crashtest']) {
      assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'), command);
    }
    const scanHelp = shale('scan', '--help');
    assert.equal(scanHelp.status, 0);
    assert.match(scanHelp.stdout, /--gte <key>/);
    assert.match(scanHelp.stdout, /--reverse/);
    const version = shale('--version');
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});

describe('shale: get, put, del, scan, stats, compact', () => {
  it('put creates with --create only; get prints the value, a missing key is exit 1; del removes', () => {
    const dir = path.join(tempDir(), 'db');
    const refused = shale('put', dir, 'a', '1');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^shale put: database .* does not exist/);
    assert.equal(shale('put', '--create', dir, 'a', 'apple').status, 0);
    assert.equal(shale('put', dir, 'b', 'banana').status, 0);
    assert.deepEqual(shale('get', dir, 'a'), { status: 0, stdout: 'apple\n', stderr: '' });
    const absent = shale('get', dir, 'zz');
    assert.equal(absent.status, 1);
    assert.match(absent.stderr, /not found/);
    assert.equal(shale('del', dir, 'a').status, 0);
    assert.equal(shale('get', dir, 'a').status, 1);
    assert.equal(shale('get', dir, 'b').stdout, 'banana\n');
  });

  it('keys and values in hex and base64; text that is not hex is exit 2', () => {
    const dir = path.join(tempDir(), 'db');
    assert.equal(shale('put', '--create', dir, '00ff', 'aGVsbG8=', '--key-encoding', 'hex', '--value-encoding', 'base64').status, 0);
    assert.equal(shale('get', dir, 'AP8=', '--key-encoding', 'base64').stdout, 'hello\n');
    assert.equal(shale('get', dir, '00ff', '--key-encoding', 'hex', '--value-encoding', 'hex').stdout, '68656c6c6f\n');
    const bad = shale('get', dir, 'xyz', '--key-encoding', 'hex');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /is not hex/);
  });

  it('scan honours --gte, --lt, --limit, --reverse, --keys-only and --json', async () => {
    const dir = await smallDatabase();
    const range = shale('scan', dir, '--gte', key(10), '--lt', key(14));
    assert.equal(range.status, 0);
    assert.equal(range.stdout, [10, 11, 12, 13].map((i) => `${key(i)}\t${value(i)}\n`).join(''));
    assert.equal(shale('scan', dir, '--reverse', '--limit', '2', '--keys-only').stdout, `${key(104)}\n${key(103)}\n`);
    const json = JSON.parse(shale('scan', dir, '--gt', key(98), '--lte', key(100), '--json').stdout) as unknown;
    assert.deepEqual(json, [99, 100].map((i) => ({ key: key(i), value: value(i) })));
  });

  it('stats prints the levels table; compact moves everything below L0', async () => {
    const dir = await smallDatabase();
    const stats = shale('stats', dir);
    assert.equal(stats.status, 0);
    assert.match(stats.stdout, /^level {2}files/);
    assert.match(stats.stdout, /^L0 +[1-9]/m);
    assert.match(stats.stdout, /write amplification/);
    const compact = shale('compact', dir);
    assert.equal(compact.status, 0, compact.stderr);
    assert.match(compact.stdout, /^L0 +0 /m);
    const json = JSON.parse(shale('stats', dir, '--json').stdout) as { levels: { fileCount: number }[] };
    assert.equal(json.levels[0]!.fileCount, 0);
    assert.equal(shale('scan', dir, '--keys-only').stdout.split('\n').length, 106);
  });
});

describe('shale: verify, repair, dumps and destroy, intact and damaged', () => {
  it('an intact database: verify exit 0 and OK; every dump exit 0 with every record', async () => {
    const dir = await smallDatabase();
    const verify = shale('verify', dir);
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /^OK: 4 files, \d+ blocks, 105 entries/m);
    const report = JSON.parse(shale('verify', dir, '--json').stdout) as { ok: boolean; entryCount: number };
    assert.deepEqual([report.ok, report.entryCount], [true, 105]);
    const [table] = filesMatching(dir, /\.sst$/);
    const sst = shale('dump-sst', path.join(dir, table!));
    assert.equal(sst.status, 0);
    assert.equal(sst.stdout.match(/^ {2}"key\d{3}"#\d+,PUT = "value-/gm)?.length, 100);
    const [log] = filesMatching(dir, /\.log$/);
    const wal = JSON.parse(shale('dump-wal', path.join(dir, log!), '--json').stdout) as { records: { kind: string; ops?: { key: string }[] }[] };
    assert.deepEqual(wal.records.map((record) => record.kind), ['header', ...Array<string>(5).fill('write-group')]);
    assert.equal(wal.records[1]!.ops![0]!.key, `"${key(100)}"`);
    const [manifest] = filesMatching(dir, /^MANIFEST-/);
    const edits = shale('dump-manifest', path.join(dir, manifest!));
    assert.equal(edits.status, 0);
    assert.match(edits.stdout, /^ {2}add L0 table \d+: \d+ bytes, seq 1\.\.100, "key000"#1,PUT \.\. "key099"#100,PUT$/m);
  });

  it('a flipped bit in a table: verify and dump-sst exit 1 naming the offset, repair fixes, the other keys read', async () => {
    const dir = await smallDatabase();
    const [table] = filesMatching(dir, /\.sst$/);
    const tablePath = path.join(dir, table!);
    const bytes = fs.readFileSync(tablePath);
    bytes[300]! ^= 0x10;
    fs.writeFileSync(tablePath, bytes);
    const verify = shale('verify', dir);
    assert.equal(verify.status, 1);
    const damage = /^DAMAGE (\S+) @(\d+): block checksum mismatch/m.exec(verify.stdout);
    assert.ok(damage, verify.stdout);
    assert.equal(damage[1], tablePath);
    const sst = shale('dump-sst', tablePath);
    assert.equal(sst.status, 1);
    assert.match(sst.stdout, new RegExp(`^data block @${damage[2]}: .*DAMAGED: block checksum mismatch`, 'm'));
    assert.ok((sst.stdout.match(/= "value-/g)?.length ?? 0) > 80, 'the other blocks are dumped');
    const repair = shale('repair', dir);
    assert.equal(repair.status, 0, repair.stderr);
    assert.match(repair.stdout, /^moved to lost\/: .*\.sst/m);
    assert.equal(shale('verify', dir).status, 0);
    assert.equal(shale('get', dir, key(0)).stdout, `${value(0)}\n`);
    assert.equal(shale('get', dir, key(104)).stdout, `${value(104)}\n`);
  });

  it('a truncated WAL: dump-wal shows the records before the cut and the damage (exit 1); verify tolerates it as a torn tail', async () => {
    const dir = await smallDatabase();
    const [log] = filesMatching(dir, /\.log$/);
    const logPath = path.join(dir, log!);
    fs.truncateSync(logPath, fs.statSync(logPath).size - 10);
    const wal = shale('dump-wal', logPath);
    assert.equal(wal.status, 1);
    assert.equal(wal.stdout.match(/^@\d+ write group/gm)?.length, 4);
    assert.match(wal.stdout, /^@\d+ DAMAGED: truncated chunk$/m);
    const verify = shale('verify', dir);
    assert.equal(verify.status, 0);
    assert.match(verify.stdout, /^torn tail \(tolerated\) /m);
  });

  it('a missing table: verify exit 1 naming it; repair drops it and the database opens', async () => {
    const dir = await smallDatabase();
    const [table] = filesMatching(dir, /\.sst$/);
    fs.rmSync(path.join(dir, table!));
    const verify = shale('verify', dir);
    assert.equal(verify.status, 1);
    assert.match(verify.stdout, new RegExp(`^DAMAGE .*${table!} @0: the table is missing`, 'm'));
    const broken = shale('get', dir, key(104));
    assert.equal(broken.status, 1);
    assert.match(broken.stderr, /^shale get: corruption in /);
    const repair = JSON.parse(shale('repair', dir, '--json').stdout) as { tablesDropped: string[] };
    assert.deepEqual(repair.tablesDropped, [table]);
    assert.equal(shale('get', dir, key(104)).stdout, `${value(104)}\n`);
    assert.equal(shale('get', dir, key(0)).status, 1);
  });

  it('destroy wants --yes (exit 2), refuses a folder without a database (exit 1), removes one (exit 0)', async () => {
    const dir = await smallDatabase();
    assert.equal(shale('destroy', dir).status, 2);
    const other = tempDir();
    fs.writeFileSync(path.join(other, 'precious.txt'), 'keep');
    const refused = shale('destroy', other, '--yes');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /holds no shale database/);
    assert.ok(fs.existsSync(path.join(other, 'precious.txt')));
    const destroyed = shale('destroy', dir, '--yes');
    assert.equal(destroyed.status, 0, destroyed.stderr);
    assert.equal(fs.existsSync(dir), false);
  });
});
