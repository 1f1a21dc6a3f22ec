/**
 * Structured progress for long work (starting a task, building an image, applying or undoing a
 * change set), so a front end can draw a real percentage and the CLI can still print its one line
 * per step. Updates within an operation are monotonic: `fraction` never goes down, and `done`
 * never goes down within a step.
 */
export type ProgressStep =
  | 'pulling' | 'building' | 'listing' | 'history' | 'creating' | 'copying' | 'recording' | 'starting'
  | 'gateway' | 'setup' | 'checking' | 'applying' | 'undoing';

export interface ProgressUpdate {
  step: ProgressStep;
  /** One line for people: what the CLI prints when the step starts. Quotes repository text, so front ends escape it. */
  message: string;
  /** Work done within the step, in `unit`, when the step can count it. */
  done?: number;
  /** The step's total in `unit`, when known. */
  total?: number;
  unit?: 'bytes' | 'files' | 'commands';
  /** Files done and total, for steps that count bytes (copying) but also know files. */
  files?: { done: number; total: number };
  /** How far the whole operation is, 0…1, when the operation knows its steps' weights. */
  fraction?: number;
  /**
   * Set when `message` is a line of the work's own output (a builder's), not Airlock's words for
   * the step: each such update is a new line, even one that repeats the line before it.
   */
  output?: boolean;
}

export type OnProgress = (update: ProgressUpdate) => void;

/**
 * Maps each step's own 0…1 onto a slice of the whole operation, so the operation's `fraction`
 * rises steadily across steps of very different length (copying dominates a start). Steps not
 * named keep the fraction where it is. Never lets the fraction go down.
 */
export function weightedProgress(onProgress: OnProgress | undefined, weights: Partial<Record<ProgressStep, number>>): OnProgress {
  const steps = Object.keys(weights) as ProgressStep[];
  const sum = steps.reduce((total, step) => total + (weights[step] ?? 0), 0) || 1;
  const startOf = new Map<ProgressStep, number>();
  let running = 0;
  for (const step of steps) {
    startOf.set(step, running / sum);
    running += weights[step] ?? 0;
  }
  let fraction = 0;
  return (update) => {
    const start = startOf.get(update.step);
    if (start !== undefined) {
      const within = update.total ? Math.min(1, (update.done ?? 0) / update.total) : 0;
      fraction = Math.max(fraction, start + within * ((weights[update.step] ?? 0) / sum));
    }
    onProgress?.({ ...update, fraction });
  };
}

/** Marks the end of an operation whose steps were weighted: the fraction reaches 1. */
export function progressDone(onProgress: OnProgress | undefined, last: Omit<ProgressUpdate, 'fraction'>): void {
  onProgress?.({ ...last, fraction: 1 });
}
