/**
 * The header record that opens every log file (docs/format.md, "Log file header"):
 *
 *   kind u8 (=1) | magic 4 bytes | format version u16le | file number u64le
 */
import { CorruptionError, ShaleError } from '../errors.js';
import { readUint64 } from '../util/coding.js';
import { LOG_FORMAT_VERSION, RecordKind } from './log-format.js';

const HEADER_PAYLOAD_BYTES = 1 + 4 + 2 + 8;

/**
 * Checks that `payload` is the header of a `magic` log numbered `fileNumber`.
 * A newer format version is `NOT_SUPPORTED`; anything else wrong is corruption.
 * Returns the file's format version.
 */
export function checkFileHeader(payload: Buffer, magic: string, fileNumber: number, file: string): number {
  const fail = (detail: string): never => {
    throw new CorruptionError(file, 0, `bad log header: ${detail}`);
  };
  if (payload.length !== HEADER_PAYLOAD_BYTES || payload[0] !== RecordKind.FILE_HEADER) fail('not a header record');
  const found = payload.toString('latin1', 1, 5);
  if (found !== magic) fail(`magic ${JSON.stringify(found)}, expected ${JSON.stringify(magic)}`);
  const version = payload.readUInt16LE(5);
  if (version > LOG_FORMAT_VERSION) {
    throw new ShaleError('NOT_SUPPORTED', `${file} has log format version ${version}; this shale reads up to ${LOG_FORMAT_VERSION}`);
  }
  if (version < 1) fail(`format version ${version}`);
  const number = readUint64(payload, 7);
  if (number !== fileNumber) fail(`file number ${number}, expected ${fileNumber}`);
  return version;
}
