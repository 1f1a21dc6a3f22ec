import * as os from 'node:os';

/** Shell convention: a process killed by signal N exits 128+N. */
export function exitCodeFor(code: number | null, signal: string | null | undefined): number {
  if (code !== null && code !== undefined) return code;
  const number = signal ? (os.constants.signals as Record<string, number>)[signal] : undefined;
  return number ? 128 + number : 1;
}
