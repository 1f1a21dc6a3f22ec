import type { Command } from 'commander';
import { describeRefusal, printableJson, printableLine, PushService } from '../core/index.js';
import { abortOnSignals, action } from './serviceAction.js';
import { collect } from './flagValues.js';
import { printWaiting } from './approvalCommands.js';
import { cliPathNotes, cliWorded } from './errorHints.js';

export function registerPushCommand(program: Command): void {
  program
    .command('push')
    .description("push the task's changes from the host: one commit on a new branch, pushed with your credentials after a reviewer approves exactly that commit")
    .argument('<id>', 'task id (or a unique prefix)')
    .argument('[paths...]', 'only these paths (or folders)')
    .option('--remote <name>', 'remote of the host repository', 'origin')
    .option('--branch <name>', 'new branch to create and push (default airlock/<task id>)')
    .option('--message <text>', 'commit message')
    .option('--allow-risky <path>', 'include this risky path too (repeatable; each risky file needs its own)', collect)
    .option('--timeout <seconds>', 'give up waiting for approval after this long (default: the task\'s approval timeout)', (value: string) => {
      if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error('--timeout must be a whole number of seconds');
      return Number(value) * 1000;
    })
    .option('--json', 'print the report as JSON')
    .action(
      action(async (service, id: string, paths: string[], flags: Record<string, unknown>) => {
        const controller = abortOnSignals();
        const report = await new PushService(service).push(id, {
          signal: controller.signal,
          remote: flags.remote as string,
          branch: flags.branch as string | undefined,
          message: flags.message as string | undefined,
          paths,
          allowRisky: (flags.allowRisky as string[] | undefined) ?? [],
          timeoutMs: flags.timeout as number | undefined,
          onWaiting: (request) => {
            // File names are the box's; branch, URL and message may be too: one printable line each.
            const show = (value: unknown) => printableLine(String(value));
            const files = Array.isArray(request.details?.files) ? request.details.files : [];
            process.stderr.write(`airlock: commit ${show(request.details?.commit)} on new branch ${show(request.details?.branch)} for ${show(request.details?.url)}:\n${files.map((line) => `  ${show(line)}`).join('\n')}\n`);
            printWaiting(request);
          },
        }).catch((error: unknown) => {
          throw cliWorded(error);
        });
        const held = cliPathNotes(report.held);
        if (flags.json) process.stdout.write(printableJson({ ...report, held, request: report.request.id }) + '\n');
        else if (report.pushed) process.stdout.write(`pushed ${printableLine(report.commit)} to ${printableLine(report.url)} as ${printableLine(report.branch)} (approved by ${printableLine(report.decision.by)})\n`);
        if (!report.pushed) {
          process.stderr.write(`airlock: push refused: ${printableLine(describeRefusal(report.decision))}; nothing was pushed and branch ${printableLine(report.branch)} was removed\n`);
          return 1;
        }
        for (const item of held) process.stderr.write(`airlock: held back ${printableLine(item.path)}: ${printableLine(item.reason)}\n`);
        return 0;
      }),
    );
}
