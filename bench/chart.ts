/**
 * An SVG chart of throughput over time during one workload (fillrandom by
 * default), one line per engine from the 100 ms samples, with stalls marked in a
 * strip per engine under the plot: shaded spans where no op completed, and ticks
 * where the engine emitted a stall event. Hand-written SVG: no dependency.
 */
import { engineStallSpans } from './monitor.js';
import type { RunRecord } from './runner.js';

const WIDTH = 1000;
const PLOT_LEFT = 100;
const PLOT_RIGHT = 220;
const PLOT_TOP = 50;
const PLOT_HEIGHT = 320;
const STRIP_HEIGHT = 18;
const STRIP_GAP = 6;
const COLORS: Record<string, string> = { shale: '#1f77b4', 'classic-level': '#ff7f0e', lmdb: '#2ca02c' };

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** A round step giving about `count` ticks up to `max`. */
function tickStep(max: number, count: number): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 2.5, 5, 10]) if (factor * power >= raw) return factor * power;
  return 10 * power;
}

function formatCount(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(value % 1e6 === 0 ? 0 : 1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(value % 1e3 === 0 ? 0 : 1)}k`;
  return String(value);
}

interface Series {
  engine: string;
  color: string;
  points: [number, number][];
  record: RunRecord;
}

/** Ops/s per sample interval, at the interval's end. */
function rates(record: RunRecord): [number, number][] {
  const timeline = record.result?.timeline ?? [];
  const points: [number, number][] = [];
  for (let index = 1; index < timeline.length; index++) {
    const previous = timeline[index - 1]!;
    const current = timeline[index]!;
    const seconds = (current.tMs - previous.tMs) / 1000;
    if (seconds > 0) points.push([current.tMs / 1000, (current.done - previous.done) / seconds]);
  }
  return points;
}

/** The SVG text for `workload`'s records (those without a result are skipped). */
export function throughputChart(records: readonly RunRecord[], workload: string, subtitle: string): string {
  const series: Series[] = records
    .filter((record) => record.workload === workload && record.result !== undefined)
    .map((record) => ({ engine: record.engine, color: COLORS[record.engine] ?? '#555', points: rates(record), record }));
  const xMax = Math.max(0.1, ...series.map((line) => (line.record.result?.elapsedMs ?? 0) / 1000));
  const yPeak = Math.max(1, ...series.flatMap((line) => line.points.map(([, rate]) => rate)));
  const yStep = tickStep(yPeak, 5);
  const yMax = Math.ceil((yPeak * 1.05) / yStep) * yStep;
  const xStep = tickStep(xMax, 8);
  const plotWidth = WIDTH - PLOT_LEFT - PLOT_RIGHT;
  const x = (seconds: number): number => PLOT_LEFT + (seconds / xMax) * plotWidth;
  const y = (rate: number): number => PLOT_TOP + PLOT_HEIGHT - (rate / yMax) * PLOT_HEIGHT;
  const stripTop = PLOT_TOP + PLOT_HEIGHT + 40;
  const height = stripTop + series.length * (STRIP_HEIGHT + STRIP_GAP) + 40;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${PLOT_LEFT}" y="22" font-size="15" font-weight="bold">${escapeXml(`${workload}: throughput over time (ops/s per 100 ms sample)`)}</text>`);
  out.push(`<text x="${PLOT_LEFT}" y="40" fill="#555">${escapeXml(subtitle)}</text>`);
  for (let tick = 0; tick <= yMax + 1e-9; tick += yStep) {
    out.push(`<line x1="${PLOT_LEFT}" x2="${PLOT_LEFT + plotWidth}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${PLOT_LEFT - 8}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${formatCount(tick)}</text>`);
  }
  for (let tick = 0; tick <= xMax + 1e-9; tick += xStep) {
    out.push(`<line x1="${x(tick).toFixed(1)}" x2="${x(tick).toFixed(1)}" y1="${PLOT_TOP + PLOT_HEIGHT}" y2="${PLOT_TOP + PLOT_HEIGHT + 5}" stroke="#333"/>`);
    out.push(`<text x="${x(tick).toFixed(1)}" y="${PLOT_TOP + PLOT_HEIGHT + 18}" text-anchor="middle">${Number(tick.toFixed(3))} s</text>`);
  }
  out.push(`<rect x="${PLOT_LEFT}" y="${PLOT_TOP}" width="${plotWidth}" height="${PLOT_HEIGHT}" fill="none" stroke="#333"/>`);
  for (const line of series) {
    const path = line.points.map(([seconds, rate]) => `${x(seconds).toFixed(1)},${y(rate).toFixed(1)}`).join(' ');
    if (path.length > 0) out.push(`<polyline fill="none" stroke="${line.color}" stroke-width="1.5" points="${path}"/>`);
  }
  out.push(...legend(series, PLOT_LEFT + plotWidth + 16));
  out.push(`<text x="${PLOT_LEFT}" y="${stripTop - 8}" fill="#555">stalls: shaded = 100 ms intervals with no op completed; red (lower half) = stalls the engine reported</text>`);
  series.forEach((line, index) => {
    const top = stripTop + index * (STRIP_HEIGHT + STRIP_GAP);
    out.push(`<text x="${PLOT_LEFT - 8}" y="${top + 13}" text-anchor="end">${escapeXml(line.engine)}</text>`);
    out.push(`<rect x="${PLOT_LEFT}" y="${top}" width="${plotWidth}" height="${STRIP_HEIGHT}" fill="#f7f7f7" stroke="#ddd"/>`);
    const result = line.record.result!;
    for (const stall of result.observedStalls) {
      const left = x(stall.startMs / 1000);
      const width = Math.max(1, x(stall.endMs / 1000) - left);
      out.push(`<rect x="${left.toFixed(1)}" y="${top}" width="${width.toFixed(1)}" height="${STRIP_HEIGHT}" fill="${line.color}" fill-opacity="0.45"/>`);
    }
    const spans = engineStallSpans(result.engineStalls, result.elapsedMs);
    for (const span of spans) {
      const left = x(span.startMs / 1000);
      const width = Math.max(1.5, x(span.endMs / 1000) - left);
      const title = `${span.reason ?? 'stall'}: ${Math.round(span.endMs - span.startMs)} ms`;
      out.push(
        `<rect x="${left.toFixed(1)}" y="${top + STRIP_HEIGHT / 2}" width="${width.toFixed(1)}" height="${STRIP_HEIGHT / 2}" fill="#d62728"><title>${escapeXml(title)}</title></rect>`,
      );
    }
    const events = result.stallEventsSupported ? `${spans.length} engine stalls` : 'no stall events';
    out.push(`<text x="${PLOT_LEFT + plotWidth + 8}" y="${top + 13}" fill="#555">${result.observedStalls.length} stalls, ${events}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function legend(series: readonly Series[], left: number): string[] {
  return series.flatMap((line, index) => {
    const top = PLOT_TOP + 10 + index * 20;
    const rate = line.record.result!.opsPerSec;
    return [
      `<line x1="${left}" x2="${left + 20}" y1="${top}" y2="${top}" stroke="${line.color}" stroke-width="3"/>`,
      `<text x="${left + 26}" y="${top + 4}">${escapeXml(`${line.engine} (${Math.round(rate).toLocaleString('en-US')}/s)`)}</text>`,
    ];
  });
}
