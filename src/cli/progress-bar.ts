/**
 * The progress of `shale verify` and `shale repair` on stderr: on a terminal, one
 * line redrawn in place (`[#####-----]  50%  000012.sst`); otherwise a plain line
 * each time a new file is started, so that logs stay readable. Ten lines of our
 * own rather than a package: the bars on npm (cli-progress and others) bring
 * several dependencies for what is a carriage return and a padded string.
 */
import type { ToolProgress } from '../tools/progress.js';

const BAR_WIDTH = 30;

/** A progress callback writing to `stream`, and `done()` to end the line. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): { update: (progress: ToolProgress) => void; done: () => void } {
  let lastFile = '';
  let drawn = false;
  const update = (progress: ToolProgress): void => {
    const fraction = progress.bytesTotal === 0 ? 1 : Math.min(1, progress.bytesDone / progress.bytesTotal);
    if (stream.isTTY === true) {
      const filled = Math.round(fraction * BAR_WIDTH);
      stream.write(`\r\x1b[K[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${progress.file}`);
      drawn = true;
    } else if (progress.file !== lastFile) {
      stream.write(`reading ${progress.file} (${Math.floor(fraction * 100)}% done)\n`);
    }
    lastFile = progress.file;
  };
  return { update, done: () => drawn && stream.write('\n') };
}
