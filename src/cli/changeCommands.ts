import * as readline from 'node:readline/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ChangeService, describeError, describeRefusal, formatChanges, parseByteSize, printableJson, printableLine, shortChangeSetId, stateDir, TaskStore, undoTask, type ApplyReport, type ApplyReview, type ApplySelection, type DiffOptions, type TaskChanges } from '../core/index.js';
import { cliApplyReport, cliChangeSummary, cliChangeWording, cliWorded, cliWording } from './errorHints.js';
import { abortOnSignals, action } from './serviceAction.js';
import { collect } from './flagValues.js';
import { printWaiting, reviewCommand } from './approvalCommands.js';

const byteSize = (flag: string) => (value: string) => {
  const bytes = parseByteSize(value);
  if (bytes === undefined || bytes <= 0) throw new InvalidArgumentError(`${flag} must be a size such as 100m or 1g`);
  return bytes;
};

/** `--hunks PATH:1,3` (repeatable); the path may itself contain colons, the list is after the last. */
const hunkChoice = (value: string, previous: Record<string, number[]> = {}) => {
  const cut = value.lastIndexOf(':');
  const rel = value.slice(0, cut);
  const list = value.slice(cut + 1);
  if (cut <= 0 || !/^\d+(,\d+)*$/.test(list)) throw new InvalidArgumentError(`"${value}" must be PATH:N[,N…] with hunk numbers as \`airlock diff\` prints them`);
  return { ...previous, [rel]: [...(previous[rel] ?? []), ...list.split(',').map(Number)] };
};

/**
 * Ctrl-C ends a long scan, a wait for approval, or an apply or undo that has not yet reached its
 * commit point, cleanly; past that point the apply (or undo) finishes, so the host is never half
 * written.
 */
const interruptible = (): AbortSignal => abortOnSignals().signal;

const diffOptions = (flags: Record<string, unknown>): DiffOptions => ({
  signal: interruptible(),
  maxFileBytes: flags.maxFileSize as number | undefined,
  riskyPatterns: flags.risky as string[] | undefined,
  method: (flags.scanner as DiffOptions['method']) ?? 'auto',
  maxStoreBytes: flags.maxStoreSize as number | undefined,
});

const short = (sha?: string) => (sha ? ` ${sha.slice(0, 12)}` : '');

/** Names from the box are shown one printable line each: a name cannot move the cursor or forge a line. */
const name = printableLine;

/** Says which change set is being written, and whether anyone reviewed it, before anything is written. */
function printReview(review: ApplyReview, changes: TaskChanges): void {
  const id = shortChangeSetId(review.changeSet);
  if (!review.reviewed) process.stderr.write(`airlock: applying change set ${id}, a fresh look at the task that nobody reviewed (name a reviewed one with --change-set)\n`);
  else if (review.current) process.stderr.write(`airlock: the task has changed since change set ${id} was taken (it now shows ${shortChangeSetId(review.current)}); writing ${id} exactly as reviewed\n`);
  else if (review.currentUnknown) process.stderr.write(`airlock: could not look at task ${changes.record.id} again (${printableLine(review.currentUnknown)}); writing change set ${id} exactly as reviewed\n`);
}

function printApplyReport(applied: ApplyReport, changes: TaskChanges, review: ApplyReview | undefined, json: boolean): void {
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

export function registerChangeCommands(program: Command): void {
  const common = (command: Command) =>
    command
      .option('--max-file-size <size>', 'per-file size limit for copying out and applying (default 100m)', byteSize('--max-file-size'))
      .option('--max-store-size <size>', "what the task's changed files may take on the host, across kept change sets (default 2g)", byteSize('--max-store-size'))
      .option('--change-set <id>', 'use this change set, exactly as `airlock diff` showed it, instead of a fresh look at the task')
      .option('--risky <glob>', 'treat paths matching this glob as risky too (repeatable)', collect)
      .addOption(new Option('--scanner <method>', 'how to find changes: in the container (needs node), or by streaming the tree out').choices(['auto', 'scanner', 'archive']).default('auto'));

  common(
    program
      .command('diff')
      .description("show what the task changed in its workspace copy (unified diff; --json for the change set)")
      .argument('<id>', 'task id (or a unique prefix)')
      .argument('[paths...]', 'only these paths (or folders)')
      .option('--json', 'print {"files":[…]} as JSON'),
  ).action(
    action(async (service, id: string, paths: string[], flags: Record<string, unknown>) => {
      const changeService = new ChangeService(service);
      const changes = flags.changeSet !== undefined ? changeService.reviewed(id, flags.changeSet as string, (flags.risky as string[] | undefined) ?? []) : await changeService.changes(id, diffOptions(flags));
      const only = paths.length ? (rel: string) => paths.some((named) => rel === named.replace(/\/+$/, '') || rel.startsWith(`${named.replace(/\/+$/, '')}/`)) : () => true;
      const files = changes.changeSet.files.filter((change) => only(change.path) || (change.oldPath !== undefined && only(change.oldPath)));
      const setId = changes.changeSet.id;
      if (flags.json) process.stdout.write(printableJson({ task: changes.record.id, id: setId, createdAt: changes.changeSet.createdAt, files: files.map(cliChangeSummary), scan: changes.changeSet.scan }) + '\n');
      else {
        process.stdout.write(formatChanges(changes, (change) => files.includes(change), cliChangeWording));
        // Last, so it is what the reviewer reads when the diff ends; a patch tool skips trailing text.
        const what = changes.changeSet.files.length === 0 ? 'no changes' : `${changes.changeSet.files.length} change(s)`;
        process.stdout.write(`change set ${shortChangeSetId(setId)} (${what}): apply exactly this with \`airlock apply ${changes.record.id} --change-set ${shortChangeSetId(setId)}\`\n`);
      }
    }),
  );

  common(
    program
      .command('apply')
      .description('write the task\'s changes to the host workspace: all non-risky changes, or the named paths')
      .argument('<id>', 'task id (or a unique prefix)')
      .argument('[paths...]', 'only these paths (or folders)')
      .option('--yes', 'do not ask for confirmation')
      .option('--request', 'ask a reviewer through the approval queue instead of this terminal (for agents and scripts); applies after `airlock approve`')
      .option('--allow-risky <path>', 'apply this risky path too (repeatable; each risky file needs its own)', collect)
      .option('--hunks <path:n,…>', 'apply only these hunks of a file, numbered as `airlock diff` prints them (repeatable)', hunkChoice)
      .option('--json', 'print the report as JSON'),
  ).action(
    action(async (service, id: string, paths: string[], flags: Record<string, unknown>) => {
      const selection: ApplySelection = { paths, allowRisky: (flags.allowRisky as string[] | undefined) ?? [], hunks: (flags.hunks as Record<string, number[]> | undefined) ?? {} };
      const changeSet = flags.changeSet as string | undefined;
      if (flags.request) {
        const outcome = await new ChangeService(service).applyAfterApproval(id, selection, {
          ...diffOptions(flags),
          changeSet,
          onWaiting: (request) => {
            process.stderr.write(`airlock: asking to apply change set ${shortChangeSetId(String(request.details?.changeSet))}; a reviewer sees it with \`${String(reviewCommand(request))}\`\n`);
            printWaiting(request);
          },
        }).catch((error: unknown) => {
          throw cliWorded(error);
        });
        if (!outcome.report) {
          process.stderr.write(`airlock: apply refused: ${printableLine(describeRefusal(outcome.decision))}; nothing was written\n`);
          return 1;
        }
        printApplyReport(outcome.report, outcome.changes, outcome.review, Boolean(flags.json));
        return outcome.report.refused.length ? 1 : 0;
      }
      if (!flags.yes && !(process.stdin.isTTY && process.stdout.isTTY)) {
        process.stderr.write('airlock: apply: refusing to write to the host without confirmation\n  → Review with `airlock diff ID`, then run apply with --yes (stdin is not a terminal, so there is nobody to ask).\n');
        return 2;
      }
      const changeService = new ChangeService(service);
      if (changeSet === undefined && flags.yes) {
        // Nobody named what to write: a fresh look, applied as it is, and said to be unreviewed.
        const { changes, report, review } = await changeService.apply(id, selection, diffOptions(flags));
        printReview(review, changes);
        printApplyReport(report, changes, review, Boolean(flags.json));
        return report.refused.length ? 1 : 0;
      }
      const changes = changeSet !== undefined ? changeService.reviewed(id, changeSet, (flags.risky as string[] | undefined) ?? []) : await changeService.changes(id, diffOptions(flags));
      if (!flags.yes) {
        const listed = changes.changeSet.files.map((change) => `  ${change.status.padEnd(10)} ${name(change.path)}${change.risk.length ? '  (risky)' : ''}${change.refusal ? '  (never applied)' : ''}`);
        process.stdout.write(`${changes.changeSet.files.length} change(s) in task ${changes.record.id}, change set ${shortChangeSetId(changes.changeSet.id)} (the diff: \`airlock diff ${changes.record.id} --change-set ${shortChangeSetId(changes.changeSet.id)}\`):\n${listed.join('\n')}\n`);
        const prompt = readline.createInterface({ input: process.stdin, output: process.stdout });
        const answer = await prompt.question(paths.length ? `Apply ${paths.map(name).join(', ')} to ${name(changes.record.workspace)}? [y/N] ` : `Apply the non-risky changes to ${name(changes.record.workspace)}? [y/N] `);
        prompt.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stderr.write('airlock: nothing applied\n');
          return 1;
        }
      }
      // What was named (or listed and confirmed) is exactly what is written.
      const { report, review } = await changeService.apply(id, selection, changeSet !== undefined ? { ...diffOptions(flags), changeSet } : { ...diffOptions(flags), changes });
      printReview(review, changes);
      printApplyReport(report, changes, review, Boolean(flags.json));
      return report.refused.length ? 1 : 0;
    }),
  );

  program
    .command('undo')
    .description('revert the last apply of a task on the host, exactly')
    .argument('<id>', 'task id (or a unique prefix)')
    .option('--force', 'restore even paths edited on the host since the apply')
    .action(async (id: string, flags: { force?: boolean }) => {
      try {
        const report = await undoTask(new TaskStore(stateDir()), id, { force: Boolean(flags.force), signal: interruptible() });
        process.stdout.write(`${report.restored.map((rel) => `restored ${name(rel)}`).join('\n')}\nundid apply ${report.id}\n`);
      } catch (error) {
        process.stderr.write(`airlock: ${describeError(error, cliWording)}\n`);
        process.exitCode = 1;
      }
    });
}
