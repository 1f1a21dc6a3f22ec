import type { ExecResult } from '../core/index.js';

/**
 * Airlock's own lines after a command that did not end by itself: killed at its timeout, or
 * killed because the task ended under it (its TTL ran out). The exit code alone (124, 137) would
 * not tell the user which.
 */
export function commandEndLines(result: Pick<ExecResult, 'timedOut' | 'taskEnded'>, timeoutSeconds: number | undefined, task?: string): string[] {
  const lines: string[] = [];
  if (result.timedOut) lines.push(`airlock: timed out after ${timeoutSeconds ?? 0} s; the command and everything it started were killed`);
  if (result.taskEnded) lines.push(`airlock: task ${task ? `${task} ` : ''}ended while the command ran (${result.taskEnded}); the command was killed with it. Start a new task to go on.`);
  return lines;
}
