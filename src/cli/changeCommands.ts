import * as readline from 'node:readline/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ChangeService, describeError, fileApplyRequest, settleInterruptedApplies, describeRefusal, formatChanges, parseByteSize, printableJson, printableLine, shortChangeSetId, stateDir, TaskStore, undoTask, type ApplySelection, type DiffOptions } from '../core/index.js';
import { cliChangeSummary, cliChangeWording, cliWorded, cliWording } from './errorHints.js';
import { abortOnSignals, action } from './serviceAction.js';
import { collect } from './flagValues.js';
import { cliRequest, printWaiting, reviewCommand } from './approvalCommands.js';
import { name, printApplyReport, printReview } from './applyOutput.js';

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

/**
 * An apply a killed process left part-way is put back before this command looks or writes, and
 * said in one line; one whose put-back would lose host edits is said, and left for `undo --force`.
 */
async function settleCutShort(store: TaskStore, id: string): Promise<void> {
  try {
    const settled = await settleInterruptedApplies(store, id);
    if (settled?.apply) process.stderr.write(`airlock: an earlier apply (${settled.apply}) was cut short; the ${settled.restored.length} path(s) it had written were put back as they were\n`);
  } catch (error) {
    process.stderr.write(`airlock: warning: ${describeError(cliWorded(error), cliWording)}\n`);
  }
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
      await settleCutShort(service.store, id);
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
      .option('--no-wait', 'with --request: file the request and return at once; the reviewer\'s approval writes it (`airlock approve`, or Approve in VS Code)')
      .option('--allow-risky <path>', 'apply this risky path too (repeatable; each risky file needs its own)', collect)
      .option('--hunks <path:n,…>', 'apply only these hunks of a file, numbered as `airlock diff` prints them (repeatable)', hunkChoice)
      .option('--json', 'print the report as JSON'),
  ).action(
    action(async (service, id: string, paths: string[], flags: Record<string, unknown>) => {
      await settleCutShort(service.store, id);
      const selection: ApplySelection = { paths, allowRisky: (flags.allowRisky as string[] | undefined) ?? [], hunks: (flags.hunks as Record<string, number[]> | undefined) ?? {} };
      const changeSet = flags.changeSet as string | undefined;
      if (flags.wait === false && !flags.request) {
        process.stderr.write('airlock: apply: --no-wait goes with --request (it files a request and returns)\n');
        return 2;
      }
      if (flags.request && flags.wait === false) {
        const request = await fileApplyRequest(new ChangeService(service), id, selection, { ...diffOptions(flags), changeSet }).catch((error: unknown) => {
          throw cliWorded(error);
        });
        process.stderr.write(`airlock: asked to apply change set ${shortChangeSetId(String(request.details?.changeSet))}; a reviewer sees it with \`${String(reviewCommand(request))}\`, and approving it writes it\n`);
        if (flags.json) process.stdout.write(printableJson(cliRequest(request)) + '\n');
        else process.stdout.write(`${request.id}\n`);
        return 0;
      }
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
