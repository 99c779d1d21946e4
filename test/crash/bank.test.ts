/**
 * The bank: 1,000 accounts, 64 concurrent transfers with `db.runTransaction`.
 * The sum of balances holds at every snapshot while transfers run, and after
 * kill -9 of the process at random moments (`shale crashtest --workload bank`);
 * write skew is possible under `snapshot` and impossible under `serializable`.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DB, type IsolationLevel, type Transaction } from '../../src/index.js';
import {
  BANK_ACCOUNTS,
  BANK_OPENING_BALANCE,
  BANK_TRANSFERS_IN_FLIGHT,
  accountKey,
  balanceSum,
  checkBank,
  openBank,
  runBankCrashtest,
  transfer,
  transferKey,
  transferValue,
} from '../../src/cli/crashtest-bank.js';
import { Rng } from '../../src/testing/index.js';
import { tempDir, testSeed } from '../helpers.js';

const cliPath = fileURLToPath(new URL('../../src/cli/shale.js', import.meta.url));
const CYCLES = Number(process.env['BANK_CYCLES'] ?? 4);
const TRANSFERS = Number(process.env['BANK_TRANSFERS'] ?? 3000);
const TOTAL = BANK_ACCOUNTS * BANK_OPENING_BALANCE;

describe('bank', () => {
  it('the oracle finds a lost acknowledged transfer, a half transfer and money made from nothing', async () => {
    const db = await DB.open(tempDir());
    await openBank(db);
    assert.deepEqual(await checkBank(db, []), []);
    await db.write([
      { type: 'put', key: accountKey(1), value: String(BANK_OPENING_BALANCE - 5) },
      { type: 'put', key: accountKey(2), value: String(BANK_OPENING_BALANCE + 5) },
      { type: 'put', key: transferKey(7), value: transferValue(1, 2, 5) },
    ]);
    assert.deepEqual(await checkBank(db, [7]), []);
    assert.match((await checkBank(db, [7, 8])).join('\n'), /acknowledged transfer 8 is not recorded/);
    await db.put(accountKey(3), String(BANK_OPENING_BALANCE - 1));
    const problems = (await checkBank(db, [7])).join('\n');
    assert.match(problems, /acct:00003 holds 999, its recorded transfers give 1000/);
    assert.match(problems, /sum to 999999/);
    await db.close();
  });

  for (const isolation of ['snapshot', 'serializable'] as const) {
    it(`${BANK_TRANSFERS_IN_FLIGHT} concurrent transfers (${isolation}) keep the sum at every snapshot`, async () => {
      const seed = testSeed(`bank ${isolation}`);
      const rng = new Rng(seed);
      const db = await DB.open(tempDir(), { memtableSizeBytes: 64 * 1024, targetFileSizeBytes: 64 * 1024, levelBaseBytes: 256 * 1024 });
      await openBank(db);
      let next = 0;
      let moved = 0;
      const acknowledged: number[] = [];
      const audits: number[] = [];
      let running = true;
      const transferrer = async (): Promise<void> => {
        while (next < TRANSFERS) {
          const id = next++;
          const from = rng.int(BANK_ACCOUNTS);
          const to = (from + 1 + rng.int(BANK_ACCOUNTS - 1)) % BANK_ACCOUNTS;
          // Few hot accounts: transfers conflict, and retries run.
          const hotFrom = rng.bool(0.3) ? rng.int(8) : from;
          if (await db.runTransaction((tx) => transfer(tx, id, hotFrom, hotFrom === to ? (to + 1) % BANK_ACCOUNTS : to, rng.range(1, 300)), { isolation, retries: 1000, sync: false })) {
            moved++;
            acknowledged.push(id);
          }
        }
      };
      const auditor = async (): Promise<void> => {
        while (running) {
          // Each audit is a fresh iterator of 1,000 entries, under the count at which an iterator yields a turn of the event loop.
          await new Promise((resolve) => setImmediate(resolve));
          const tx = db.transaction();
          audits.push(await balanceSum(tx));
          tx.abort();
          const snapshot = db.snapshot();
          let sum = 0;
          for (const value of await db.values({ gte: 'acct:', lt: 'acct:~', snapshot }).all()) sum += Number(value.toString());
          snapshot.release();
          audits.push(sum);
        }
      };
      const audit = auditor();
      await Promise.all(Array.from({ length: BANK_TRANSFERS_IN_FLIGHT }, transferrer));
      running = false;
      await audit;
      assert.ok(audits.length >= 2, 'the auditor ran');
      assert.deepEqual(audits.filter((sum) => sum !== TOTAL), [], 'every audit saw the opening total');
      assert.equal(await balanceSum(db), TOTAL);
      assert.deepEqual(await checkBank(db, acknowledged), []);
      assert.ok(moved > TRANSFERS / 2, `most transfers moved money (${moved} of ${TRANSFERS})`);
      db.checkInvariants();
      await db.close();
    });
  }

  /**
   * Joint accounts x and y may each go negative as long as x + y stays >= 0. Two
   * withdrawals, each from one account, each read both balances before either
   * commits: under snapshot isolation both commit (they write different keys) and
   * the sum goes negative; under serializable the second one's read of the
   * account the first wrote fails its commit, it runs again, sees the new
   * balances, and refuses.
   */
  async function withdrawBoth(isolation: IsolationLevel): Promise<{ x: number; y: number; runs: number }> {
    const db = await DB.open(tempDir());
    await db.write([{ type: 'put', key: 'x', value: '50' }, { type: 'put', key: 'y', value: '50' }]);
    let runs = 0;
    let arrived = 0;
    let release: () => void = () => undefined;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    const withdraw = (account: 'x' | 'y') => async (tx: Transaction): Promise<void> => {
      runs++;
      const [x, y] = (await tx.getMany(['x', 'y'])).map((value) => Number(value?.toString()));
      // The first attempts meet here, so each reads before either commits.
      if (++arrived === 2) release();
      await bothRead;
      if (x! + y! - 80 >= 0) tx.put(account, String((account === 'x' ? x! : y!) - 80));
    };
    await Promise.all([db.runTransaction(withdraw('x'), { isolation }), db.runTransaction(withdraw('y'), { isolation })]);
    const x = Number((await db.get('x'))?.toString());
    const y = Number((await db.get('y'))?.toString());
    await db.close();
    return { x, y, runs };
  }

  it('write skew is possible under snapshot isolation', async () => {
    const { x, y, runs } = await withdrawBoth('snapshot');
    assert.equal(runs, 2);
    assert.deepEqual([x, y], [-30, -30]);
    assert.ok(x + y < 0, 'both withdrawals committed: the joint balance went negative');
  });

  it('write skew is impossible under serializable', async () => {
    const { x, y, runs } = await withdrawBoth('serializable');
    // At least once: a retry that starts before the winner's commit is visible (its fdatasync still running) conflicts again.
    assert.ok(runs >= 3, `one withdrawal conflicted and ran again (${runs} runs)`);
    assert.ok(x + y >= 0, `the joint balance stayed non-negative (${x} + ${y})`);
    assert.deepEqual([x, y].sort(), [-30, 50]);
  });

  for (const isolation of ['snapshot', 'serializable'] as const) {
    it(`${CYCLES} kill -9 cycles of the bank (${isolation}) keep every acknowledged transfer and the sum`, async () => {
      const seed = testSeed(`bank crashtest ${isolation}`);
      const summary = await runBankCrashtest(
        { cycles: CYCLES, seed, dir: path.join(tempDir(), 'db'), writers: 1, killAfterMinMs: 50, killAfterMaxMs: 500, cliPath },
        isolation,
      );
      console.log(`# bank crashtest ${isolation}: ${summary.cycles} cycles, ${summary.writesAcknowledged} transfers acknowledged`);
      assert.deepEqual(summary.violations, []);
      assert.equal(summary.cycles, CYCLES);
      assert.ok(summary.writesAcknowledged > 0, 'transfers were acknowledged before the kills');
    });
  }
});
