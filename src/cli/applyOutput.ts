import { printableJson, printableLine, shortChangeSetId, type ApplyReport, type ApplyReview, type TaskChanges } from '../core/index.js';
import { cliApplyReport } from './errorHints.js';

const short = (sha?: string) => (sha ? ` ${sha.slice(0, 12)}` : '');

/** Names from the box are shown one printable line each: a name cannot move the cursor or forge a line. */
export const name = printableLine;

/** Says which change set is being written, and whether anyone reviewed it, before anything is written. */
export function printReview(review: ApplyReview, changes: TaskChanges): void {
  const id = shortChangeSetId(review.changeSet);
  if (!review.reviewed) process.stderr.write(`airlock: applying change set ${id}, a fresh look at the task that nobody reviewed (name a reviewed one with --change-set)\n`);
  else if (review.current) process.stderr.write(`airlock: the task has changed since change set ${id} was taken (it now shows ${shortChangeSetId(review.current)}); writing ${id} exactly as reviewed\n`);
  else if (review.currentUnknown) process.stderr.write(`airlock: could not look at task ${changes.record.id} again (${printableLine(review.currentUnknown)}); writing change set ${id} exactly as reviewed\n`);
}

export function printApplyReport(applied: ApplyReport, changes: TaskChanges, review: ApplyReview | undefined, json: boolean): void {
  // Held and refused paths in the CLI's words (--allow-risky, --max-file-size), in the JSON too.
  const report = cliApplyReport(applied);
  if (json) {
    process.stdout.write(printableJson({ task: changes.record.id, changeSet: changes.changeSet.id, ...(review ? { reviewed: review.reviewed, ...(review.current ? { taskNow: review.current } : {}) } : {}), ...report }) + '\n');
    return;
  }
  const lines = [
    ...report.written.map((item) => `${item.action.padEnd(8)} ${name(item.path)}${short(item.sha256)}`),
    ...report.unchanged.map((rel) => `same     ${name(rel)} (already identical on the host)`),
    ...report.held.map((item) => `held     ${name(item.path)}: ${name(item.reason)}`),
    ...report.refused.map((item) => `refused  ${name(item.path)}: ${name(item.reason)}`),
  ];
  lines.push(report.id ? `applied ${report.written.length} change(s) to ${name(changes.record.workspace)}; undo with \`airlock undo ${changes.record.id}\`` : 'nothing was written');
  lines.push(`from change set ${shortChangeSetId(changes.changeSet.id)}`);
  process.stdout.write(lines.join('\n') + '\n');
}

