import { printableLine, type OnProgress, type ProgressStep, type ProgressUpdate } from '../core/index.js';

/** Steps the CLI has never printed a line for: it keeps its output as it was, one line per step it knew. */
const UNPRINTED_STEPS: ReadonlySet<ProgressStep> = new Set(['listing', 'history', 'starting']);

/** What the CLI puts before a line of a step's own output. */
const OUTPUT_LABELS: Partial<Record<ProgressStep, string>> = { building: 'build' };

/**
 * The CLI's stderr lines for one operation's progress: a line each time Airlock's message changes
 * (a step starts), a line for every line of a step's own output (a build's, even one that repeats
 * the line before), and nothing for updates that only count. Messages quote the repository, so each
 * is made one printable line.
 */
export function progressLines(): (update: ProgressUpdate) => string | undefined {
  let last: string | undefined;
  return (update) => {
    if (UNPRINTED_STEPS.has(update.step)) return undefined;
    if (update.output) return `airlock: ${OUTPUT_LABELS[update.step] ?? update.step}: ${printableLine(update.message)}`;
    if (update.message === last) return undefined;
    last = update.message;
    return `airlock: ${printableLine(update.message)}`;
  };
}

/** Writes `progressLines` to stderr (or `write`), one line each. */
export function progressPrinter(write: (text: string) => void = (text) => void process.stderr.write(text)): OnProgress {
  const lineFor = progressLines();
  return (update) => {
    const line = lineFor(update);
    if (line !== undefined) write(`${line}\n`);
  };
}
