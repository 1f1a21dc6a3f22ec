import type * as Core from '../../core/index.js';
import type { ReviewGroup, ReviewItem } from '../../core/index.js';

export const GROUP_LABELS: Readonly<Record<ReviewGroup, string>> = {
  conflicts: 'Conflicts',
  risky: 'Risky (each needs your choice)',
  changes: 'Changes',
  never: 'Never applied',
};

/** The one-letter status VS Code's source-control views use. */
export function statusLetter(item: ReviewItem): string {
  switch (item.change.status) {
    case 'added':
      return 'A';
    case 'deleted':
      return 'D';
    case 'renamed':
      return 'R';
    case 'typechange':
      return 'T';
    default:
      return 'M';
  }
}

/** Whether the file goes to the host on Apply, in words. */
export function choiceWords(item: ReviewItem, readOnly: boolean): string {
  if (item.group === 'never') return 'never applied';
  if (readOnly) return 'requested';
  if (item.choice === 'reject') return 'rejected';
  if (item.choice === 'accept') return item.change.risk.length ? 'accepted (risky)' : 'accepted';
  if (item.refreshed) return 'changed in the task since the review showed it: not taken until you look';
  return item.taken ? 'taken' : 'not chosen';
}

/**
 * Everything a reviewer needs about one file, on one line: what it is, the risk or the refusal,
 * the conflict, the choice. Every part is the box's data made printable: a file name cannot forge
 * a line or a link.
 */
export function itemSentence(core: typeof Core, item: ReviewItem, readOnly: boolean): string {
  const parts = [item.what];
  if (item.change.risk.length) parts.push(`risky: ${item.change.risk.join('; ')}`);
  if (item.change.refusal) parts.push(`never applied: ${item.change.refusal}`);
  if (item.conflict) parts.push(item.conflict);
  for (const note of item.change.notes) parts.push(note);
  if (item.edited) parts.push('edited in the review');
  // A refused file already said "never applied" with its reason.
  if (item.group !== 'never') parts.push(choiceWords(item, readOnly));
  return core.printableLine(parts.join(' — '));
}

/** The diff editor's title: the file, and what kind of change it is when that is not plain. */
export function diffTitle(core: typeof Core, item: ReviewItem, taskName: string): string {
  const name = item.path.split('/').pop() ?? item.path;
  const extra = [item.what !== item.change.status ? item.what : '', item.change.risk.length ? `risky: ${item.change.risk[0]}` : '', item.edited ? 'edited' : ''].filter(Boolean).join(' · ');
  return core.printableLine(`${name} (${taskName}${extra ? ` · ${extra}` : ''})`);
}
