import { diff3Merge } from 'node-diff3';

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
  const regions = diff3Merge(lines(host), lines(base), lines(container), { excludeFalseConflicts: true });
  let conflicts = 0;
  const out: string[] = [];
  for (const region of regions) {
    if (region.ok) out.push(...region.ok);
    else conflicts++;
  }
  return conflicts ? { clean: false, conflicts } : { clean: true, text: out.join('') };
}
