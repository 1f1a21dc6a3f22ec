import type * as Diff3 from 'node-diff3';

let diff3Module: typeof Diff3 | undefined;
/** node-diff3 loads on the first merge (synchronously: apply plans each change in one pass). */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load on a synchronous path; `import type` above keeps the types
const diff3Lib = (): typeof Diff3 => (diff3Module ??= require('node-diff3') as typeof Diff3);

export type MergeOutcome = { clean: true; text: string } | { clean: false; conflicts: number };

/** Lines with their endings kept, so CRLF files merge back byte for byte. */
function lines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/**
 * Three-way merge of the container's version into the host's, both descended from the base
 * snapshot. Clean only when every region changed on one side at most (or identically on both).
 */
export function mergeThreeWay(base: string, host: string, container: string): MergeOutcome {
  const regions = diff3Lib().diff3Merge(lines(host), lines(base), lines(container), { excludeFalseConflicts: true });
  let conflicts = 0;
  const out: string[] = [];
  for (const region of regions) {
    if (region.ok) out.push(...region.ok);
    else conflicts++;
  }
  return conflicts ? { clean: false, conflicts } : { clean: true, text: out.join('') };
}

/**
 * The host's text with each conflicting region shown git-style (host, base, task between markers),
 * for editors without a three-way merge view. Shown to the reviewer; never written by Airlock.
 */
export function conflictMarkers(base: string, host: string, container: string): string {
  const { result } = diff3Lib().mergeDiff3(lines(host), lines(base), lines(container), { excludeFalseConflicts: true, label: { a: 'workspace (host)', o: 'base snapshot', b: 'task' } });
  return result.map((line) => (line.endsWith('\n') ? line : `${line}\n`)).join('');
}
