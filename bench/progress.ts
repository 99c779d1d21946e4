/**
 * The progress line on stderr: workload, engine, phase and percent done. On a
 * TTY one line is rewritten in place with '\r'; otherwise (CI, a pipe, a file)
 * a plain line is printed each time a run crosses another 10%.
 */

const PLAIN_STEP_PERCENT = 10;

export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  #width = 0;
  #lastKey = '';
  #lastStep = -1;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
  }

  /** Shows `label` (e.g. "[3/36] fillrandom shale") at `done` of `total`. */
  update(label: string, phase: string, done: number, total: number): void {
    const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
    const phaseText = phase.startsWith('setup') ? ` (${phase})` : '';
    const text = `${label}${phaseText} ${percent}%`;
    if (this.#tty) {
      this.#stream.write(`\r${text.padEnd(this.#width)}`);
      this.#width = Math.max(this.#width, text.length);
      return;
    }
    const key = `${label}|${phase}`;
    const step = Math.floor(percent / PLAIN_STEP_PERCENT);
    if (key === this.#lastKey && step === this.#lastStep) return;
    this.#lastKey = key;
    this.#lastStep = step;
    this.#stream.write(`${text}\n`);
  }

  /** Prints a whole line (finishing the in-place one first). */
  log(text: string): void {
    this.clear();
    this.#stream.write(`${text}\n`);
  }

  clear(): void {
    if (this.#tty && this.#width > 0) this.#stream.write(`\r${' '.repeat(this.#width)}\r`);
    this.#width = 0;
  }
}
