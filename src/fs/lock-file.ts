/**
 * The LOCK file's contents and the rule for judging a LOCK someone else left
 * (docs/format.md, "LOCK"; docs/durability.md, clause 6).
 *
 * A pid means something only inside one PID namespace of one running kernel: pid
 * 1 in a container is not pid 1 on the host, and after a reboot every pid is
 * somebody else's. So the LOCK records, beside the pid and its start time, the
 * owner's PID namespace, boot id and host name. Where all three match ours, the
 * pid is checked directly, and a lock whose process is gone is taken over at once
 * (a kill -9 must not block the next open). Anywhere else the pid says nothing,
 * and the owner proves it is alive by a heartbeat instead: it touches the LOCK's
 * mtime every `LOCK_HEARTBEAT_MS`. Such a lock is taken over only once the
 * heartbeat has stopped for well past several intervals; until then, or where
 * nothing can be decided, open refuses with `LOCKED` and says how to clear it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

/** The LOCK format this version writes. Version 1 was `<pid> <starttime>\n` (or `<pid>\n`). */
export const LOCK_FORMAT_VERSION = 2;

/** How often the owner refreshes the LOCK's mtime. */
export const LOCK_HEARTBEAT_MS = 2_000;

/**
 * A heartbeat older than this (and than 5 of the owner's recorded intervals) has
 * stopped: 15 missed beats, far more than a busy event loop or a slow disk delays
 * one. Only consulted where the owner's pid cannot be checked.
 */
export const LOCK_STALE_MS = 30_000;

/** First line of a version-2 LOCK. */
const MAGIC = 'shale LOCK';

/** Who holds (or wants) a lock: what is needed to tell whether a pid names a live process. */
export interface LockIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); guards against pid reuse. */
  startTime: string | undefined;
  /** `readlink /proc/self/ns/pid`, e.g. `pid:[4026531836]`: the namespace the pid lives in. */
  pidNamespace: string | undefined;
  /** /proc/sys/kernel/random/boot_id: which run of which kernel. */
  bootId: string | undefined;
  hostname: string | undefined;
}

/** A parsed LOCK. `version` 1 carries only `pid` and maybe `startTime`. */
export interface LockRecord extends LockIdentity {
  version: number;
  /** The interval the owner refreshes the mtime at; undefined for version 1. */
  heartbeatMs: number | undefined;
}

/** What `judgeLock` needs to know about this machine and the LOCK file. */
export interface LockProbe {
  /** The identity of the process that wants the lock. */
  here: LockIdentity;
  /** Whether `pid` runs in our namespace: `zombie` is killed but not yet reaped. */
  processState(pid: number): 'running' | 'zombie' | 'gone';
  /** The start time of `pid` in our namespace, if it can be read. */
  startTime(pid: number): string | undefined;
  /** Milliseconds since the LOCK's mtime was last touched; undefined if it cannot be read. */
  heartbeatAgeMs: number | undefined;
}

/** `stale`: the owner is provably gone and the lock may be taken. Else `reason` says why not, for the error. */
export type LockVerdict = { stale: true; reason: string } | { stale: false; reason: string };

/** The fields of `/proc/<pid>/stat` from field 3 (state) on, or `undefined` where there is no /proc entry. */
function procStatFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is parenthesised and may hold spaces; fields resume after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Field 22 (starttime) of /proc/<pid>/stat: index 19 counting from field 3. */
function procStartTime(pid: number | 'self'): string | undefined {
  return procStatFields(pid)?.[19];
}

function readOr(read: () => string): string | undefined {
  try {
    const value = read().trim();
    return value === '' ? undefined : value;
  } catch {
    return undefined;
  }
}

/** This process's identity, as far as this system can tell it (Linux tells all; others only pid and host). */
export function currentIdentity(): LockIdentity {
  return {
    pid: process.pid,
    startTime: procStartTime('self'),
    pidNamespace: readOr(() => fs.readlinkSync('/proc/self/ns/pid')),
    bootId: readOr(() => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1')),
    hostname: readOr(() => os.hostname()),
  };
}

/** The probe of the real system, for `judgeLock`. */
export function systemProbe(here: LockIdentity, heartbeatAgeMs: number | undefined): LockProbe {
  return {
    here,
    heartbeatAgeMs,
    startTime: procStartTime,
    processState(pid) {
      try {
        process.kill(pid, 0);
      } catch (err) {
        // EPERM: it exists, under another user.
        if ((err as NodeJS.ErrnoException).code !== 'EPERM') return 'gone';
      }
      const state = procStatFields(pid)?.[0];
      return state === 'Z' || state === 'X' ? 'zombie' : 'running';
    },
  };
}

/** A value is written as `-` when unknown; values never hold a newline. */
function field(value: string | number | undefined): string {
  return value === undefined ? '-' : String(value).replace(/\s/g, '_');
}

/** The text of a LOCK held by `owner` (docs/format.md, "LOCK"). */
export function formatLock(owner: LockIdentity, heartbeatMs = LOCK_HEARTBEAT_MS): string {
  return (
    `${MAGIC} ${LOCK_FORMAT_VERSION}\n` +
    `pid ${owner.pid}\n` +
    `start ${field(owner.startTime)}\n` +
    `pidns ${field(owner.pidNamespace)}\n` +
    `boot ${field(owner.bootId)}\n` +
    `host ${field(owner.hostname)}\n` +
    `heartbeat-ms ${heartbeatMs}\n`
  );
}

/** Parses a LOCK of any version; `undefined` if it is neither format (empty, garbage, cut short). */
export function parseLock(content: string): LockRecord | undefined {
  const v1 = /^(\d+)(?: (\S+))?\n?$/.exec(content);
  if (v1) return { version: 1, ...record(Number(v1[1]), v1[2]), heartbeatMs: undefined };
  const lines = content.split('\n');
  const header = /^shale LOCK (\d+)$/.exec(lines[0] ?? '');
  if (!header || !content.endsWith('\n')) return undefined;
  const fields = new Map<string, string>();
  for (const line of lines.slice(1, -1)) {
    const space = line.indexOf(' ');
    if (space > 0) fields.set(line.slice(0, space), line.slice(space + 1));
  }
  const known = (key: string): string | undefined => {
    const value = fields.get(key);
    return value === undefined || value === '-' ? undefined : value;
  };
  const heartbeatMs = Number(known('heartbeat-ms'));
  return {
    version: Number(header[1]),
    ...record(Number(known('pid')), known('start')),
    pidNamespace: known('pidns'),
    bootId: known('boot'),
    hostname: known('host'),
    heartbeatMs: Number.isSafeInteger(heartbeatMs) && heartbeatMs > 0 ? heartbeatMs : undefined,
  };
}

function record(pid: number, startTime: string | undefined): LockIdentity {
  return { pid, startTime, pidNamespace: undefined, bootId: undefined, hostname: undefined };
}

/** Where `owner`'s pid can be checked from `here`: the same namespace of the same kernel run; else why not. */
function whyPidIsForeign(owner: LockRecord, here: LockIdentity): string | undefined {
  if (owner.hostname !== here.hostname) return `on host ${owner.hostname ?? '(unknown)'}, not ${here.hostname ?? '(unknown)'}`;
  // Without /proc on both sides (macOS, Windows) there are neither namespaces nor boot ids to compare.
  const noneKnown = (id: LockIdentity): boolean => id.pidNamespace === undefined && id.bootId === undefined;
  if (noneKnown(owner) && noneKnown(here)) return undefined;
  if (owner.bootId === undefined || here.bootId === undefined) return 'in a boot this system cannot compare';
  if (owner.bootId !== here.bootId) return `in another boot of the kernel (boot id ${owner.bootId})`;
  if (owner.pidNamespace === undefined || here.pidNamespace === undefined) return 'in a PID namespace this system cannot compare';
  if (owner.pidNamespace !== here.pidNamespace) return `in another PID namespace (${owner.pidNamespace}, a container?)`;
  return undefined;
}

/**
 * Judges a LOCK found in place (`content`): may it be taken over? Pure given the
 * probe, so every case is unit-tested with forged contents.
 *
 * - Same host, boot and PID namespace (or no /proc on either side): stale exactly
 *   when the pid is gone, a zombie, or now a process with another start time.
 * - Anywhere else, a version-2 LOCK is stale once its heartbeat is older than
 *   `LOCK_STALE_MS` (and 5 of the owner's intervals).
 * - A version-1 LOCK (no namespace recorded, no heartbeat) is kept while its pid
 *   runs here with the recorded start time; otherwise nothing can be decided (the
 *   owner may live in another namespace), so it is kept too, and the error says
 *   to remove it. A LOCK in a newer format is kept too.
 * - A LOCK that parses as neither version (empty, zeros, cut short) is stale.
 */
export function judgeLock(content: string, probe: LockProbe): LockVerdict {
  const owner = parseLock(content);
  // A live owner's LOCK is always whole: it is hard-linked into place fully written,
  // and every process on the kernel sees the page cache. Empty or garbled bytes
  // are what a power loss leaves of a LOCK that was never synced.
  if (owner === undefined) return { stale: true, reason: `holds no owner (${JSON.stringify(content.slice(0, 40))}), as a power loss leaves it` };
  const pidValid = Number.isSafeInteger(owner.pid) && owner.pid > 0;
  if (owner.version === 1) return judgeByPid(owner, probe, pidValid, 'an older shale (LOCK format 1, which records no PID namespace)');
  if (owner.version !== LOCK_FORMAT_VERSION) return { stale: false, reason: `is in LOCK format ${owner.version}, newer than this shale knows` };
  const foreign = whyPidIsForeign(owner, probe.here);
  if (foreign === undefined && pidValid) return judgeByPid(owner, probe, true, undefined);
  return judgeByHeartbeat(owner, probe, foreign ?? 'with no valid pid');
}

function judgeByPid(owner: LockRecord, probe: LockProbe, pidValid: boolean, unprovenOwner: string | undefined): LockVerdict {
  const who = `process ${owner.pid}${owner.startTime === undefined ? '' : ` (start time ${owner.startTime})`}`;
  if (pidValid) {
    const state = probe.processState(owner.pid);
    const nowStart = state === 'running' ? probe.startTime(owner.pid) : undefined;
    const reused = owner.startTime !== undefined && nowStart !== undefined && nowStart !== owner.startTime;
    if (state === 'running' && !reused) return { stale: false, reason: `is held by ${who}, which is running` };
    if (unprovenOwner === undefined) {
      const gone = state === 'zombie' ? 'was killed' : state === 'gone' ? 'is gone' : `is gone (pid ${owner.pid} now has start time ${nowStart})`;
      return { stale: true, reason: `${who} ${gone}` };
    }
  }
  return { stale: false, reason: `was written by ${unprovenOwner ?? 'a process'}: ${who} does not run in this PID namespace, but may run in another` };
}

function judgeByHeartbeat(owner: LockRecord, probe: LockProbe, foreign: string): LockVerdict {
  const who = `process ${owner.pid} ${foreign}`;
  const staleAfterMs = Math.max(LOCK_STALE_MS, 5 * (owner.heartbeatMs ?? 0));
  const age = probe.heartbeatAgeMs;
  if (age === undefined) return { stale: false, reason: `is held by ${who}, whose heartbeat cannot be read` };
  if (age > staleAfterMs) return { stale: true, reason: `${who} stopped its heartbeat ${Math.round(age / 1000)} s ago` };
  return { stale: false, reason: `is held by ${who}; its heartbeat is ${Math.max(0, Math.round(age / 1000))} s old (taken over after ${staleAfterMs / 1000} s without one)` };
}
