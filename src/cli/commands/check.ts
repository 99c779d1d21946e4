/**
 * `shale verify`, `shale repair` and `shale destroy`: `DB.verify`, `DB.repair`
 * and `DB.destroy` with a progress bar on a terminal and the report at the end,
 * as text or JSON. `verify` exits 1 when it finds damage open would not tolerate;
 * `destroy` wants `--yes`.
 */
import type { Command } from 'commander';
import { DB } from '../../db/db.js';
import type { Damage } from '../../tools/table-check.js';
import type { RepairReport } from '../../tools/repair.js';
import type { VerifyReport } from '../../tools/verify.js';
import { ExitCode, action, printJson, usageError } from '../cli-context.js';
import { progressBar } from '../progress-bar.js';

function damageLine(damage: Damage): string {
  return `${damage.tolerated === true ? 'torn tail (tolerated)' : 'DAMAGE'} ${damage.file} @${damage.offset}: ${damage.reason}`;
}

function verifyText(report: VerifyReport): string[] {
  const lines = report.files.map((file) => `${file.name.padEnd(18)} ${file.kind.padEnd(8)} ${String(file.sizeBytes).padStart(12)} bytes ${String(file.records).padStart(8)} ${file.kind === 'table' ? 'blocks ' : 'records'} ${String(file.entries).padStart(9)} entries${file.rangeTombstones > 0 ? `, ${file.rangeTombstones} range tombstones` : ''}${file.damageCount > 0 ? `  ${file.damageCount} damaged` : ''}`);
  lines.push(...report.damage.map(damageLine));
  for (const name of report.unreferencedTables) lines.push(`${name}: not named by the MANIFEST (a crash leftover; open deletes it)`);
  lines.push(`${report.ok ? 'OK' : 'DAMAGED'}: ${report.files.length} files, ${report.blockCount} blocks, ${report.entryCount} entries, ${report.recordCount} log records, ${report.damage.length} damaged places`);
  return lines;
}

function repairText(report: RepairReport): string[] {
  const lines = report.damage.map(damageLine);
  lines.push(`MANIFEST ${report.manifestUsed ? 'used: tables keep their levels' : 'unusable: every table and log merged by sequence number'}`);
  if (report.tablesKept.length > 0) lines.push(`kept: ${report.tablesKept.join(' ')}`);
  for (const rewritten of report.tablesRewritten) lines.push(`rewritten: ${rewritten.from.join(' ')} -> ${rewritten.to.join(' ')} (${rewritten.entries} entries)`);
  if (report.tablesDropped.length > 0) lines.push(`dropped (nothing readable): ${report.tablesDropped.join(' ')}`);
  for (const log of report.logsReplayed) lines.push(`log ${log.name}: ${log.records} records, ${log.operations} operations salvaged`);
  if (report.logTable !== undefined) lines.push(`the logs' writes are in ${report.logTable}`);
  if (report.movedToLost.length > 0) lines.push(`moved to lost/: ${report.movedToLost.join(' ')}`);
  lines.push(`repaired: last sequence ${report.lastSequence}`);
  return lines;
}

/** Registers verify, repair and destroy. */
export function registerCheckCommands(program: Command): void {
  program
    .command('verify')
    .description('read every table block, the MANIFEST and the WALs and report each damaged place (exit 1 on damage)')
    .argument('<dir>')
    .option('--json', 'print the report as JSON')
    .action(
      action('verify', async (dir: string, flags: { json?: boolean }) => {
        const bar = progressBar();
        const report = await DB.verify(dir, { onProgress: bar.update }).finally(bar.done);
        if (flags.json === true) printJson(report);
        else process.stdout.write(`${verifyText(report).join('\n')}\n`);
        return report.ok ? ExitCode.OK : ExitCode.FINDING;
      }),
    );
  program
    .command('repair')
    .description('salvage what is intact, write a new MANIFEST, move damaged files to lost/')
    .argument('<dir>')
    .option('--json', 'print the report as JSON')
    .action(
      action('repair', async (dir: string, flags: { json?: boolean }) => {
        const bar = progressBar();
        const report = await DB.repair(dir, { onProgress: bar.update }).finally(bar.done);
        if (flags.json === true) printJson(report);
        else process.stdout.write(`${repairText(report).join('\n')}\n`);
        return ExitCode.OK;
      }),
    );
  program
    .command('destroy')
    .description("remove a database: shale's files only, and the directory once empty")
    .argument('<dir>')
    .option('--yes', 'really remove it')
    .action(
      action('destroy', async (dir: string, flags: { yes?: boolean }) => {
        if (flags.yes !== true) throw usageError(`refusing to destroy ${dir} without --yes`);
        const report = await DB.destroy(dir);
        process.stdout.write(`removed ${report.removed.length} files${report.kept.length > 0 ? `; kept ${report.kept.join(' ')}` : ''}${report.directoryRemoved ? `; removed ${dir}` : ''}\n`);
        return ExitCode.OK;
      }),
    );
}
