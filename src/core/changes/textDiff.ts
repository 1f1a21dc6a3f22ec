import type * as Diff from 'diff';
import type { StructuredPatch } from 'diff';
import { printable, printableLine } from '../ground/printable.js';

let diffModule: typeof Diff | undefined;
/**
 * `diff` loads on the first diff, not with the core (the editor loads the core for its policy
 * view). Synchronously, because the change set is built synchronously from bytes already read.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load on a synchronous path; `import type` above keeps the types
const diffLib = (): typeof Diff => (diffModule ??= require('diff') as typeof Diff);

// The escaping lives in the ground module so every front end and log uses the same form.
export { printable, printableLine };

/** Text larger than this is shown as changed but not diffed line by line (and applied whole). */
export const TEXT_DIFF_LIMIT = 8 * 1024 * 1024;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Git's rule plus strict UTF-8: a NUL in the first 8000 bytes, or bytes that are not UTF-8. */
export function isBinary(content: Buffer): boolean {
  if (content.subarray(0, 8000).includes(0)) return true;
  try {
    strictUtf8.decode(content);
    return false;
  } catch {
    return true;
  }
}

/** The text of a file when it can be diffed line by line, else undefined. */
export function diffableText(content: Buffer | undefined): string | undefined {
  if (content === undefined) return '';
  if (content.length > TEXT_DIFF_LIMIT || isBinary(content)) return undefined;
  return content.toString('utf8');
}

export function filePatch(oldPath: string, newPath: string, before: string, after: string): StructuredPatch {
  const patch = diffLib().structuredPatch(`a/${oldPath}`, `b/${newPath}`, before, after, undefined, undefined, { context: 3 });
  if (!patch) throw new Error('diff produced no patch');
  return patch;
}

/**
 * The base text with only the chosen hunks (1-based, as `airlock diff` numbers them) applied. Every
 * hunk comes from one diff of this very base, so each fits exactly where it says; a failure here is
 * a bug, reported rather than guessed around.
 */
export function applySelectedHunks(before: string, patch: StructuredPatch, chosen: readonly number[]): string {
  const wanted = new Set(chosen);
  for (const index of wanted) {
    if (!Number.isInteger(index) || index < 1 || index > patch.hunks.length) throw new RangeError(`hunk ${index} does not exist (this file has ${patch.hunks.length})`);
  }
  const partial: StructuredPatch = { ...patch, hunks: patch.hunks.filter((_, index) => wanted.has(index + 1)) };
  const result = diffLib().applyPatch(before, partial, { fuzzFactor: 0, autoConvertLineEndings: false });
  if (result === false) throw new Error(`the chosen hunks do not fit ${patch.oldFileName}`);
  return result;
}

/** Unified diff text, each hunk header tagged with its index so reviewers can name hunks. */
export function formatPatch(patch: StructuredPatch, header: string[] = []): string {
  const lines = [...header, `--- ${printableLine(patch.oldFileName ?? '')}`, `+++ ${printableLine(patch.newFileName ?? '')}`];
  patch.hunks.forEach((hunk, index) => {
    lines.push(`@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@ hunk ${index + 1}`);
    for (const line of hunk.lines) lines.push(printable(line));
  });
  return lines.join('\n') + '\n';
}
