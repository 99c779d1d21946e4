/**
 * The entry of the bank workload's child process (`crashtest-bank.ts`):
 * `node crashtest-bank-child.js DIR ACK_LOG SEED FIRST_ID ISOLATION`.
 */
import { runBankChild } from './crashtest-bank.js';
import type { IsolationLevel } from '../db/transaction.js';

const [dir, ackLog, seed, firstId, isolation] = process.argv.slice(2);
await runBankChild({ dir: dir!, ackLog: ackLog!, seed: Number(seed), firstId: Number(firstId), isolation: isolation as IsolationLevel });
