import { type Command, Option } from 'commander';
import { applyRequestWriter, ApprovalBoard, ChangeService, currentUser, printableJson, printableLine, type ApprovalQueue, type ApprovalRequest, type DecideOutcome } from '../core/index.js';
import { printApplyReport } from './applyOutput.js';
import { cliWorded } from './errorHints.js';
import { abortOnSignals, openService, storeAction } from './serviceAction.js';

const age = (iso: string) => {
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return seconds >= 60 ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s` : `${Math.max(0, seconds)}s`;
};

/** What every CLI command that waits for a reviewer prints, once, with the request to approve. */
export function waitingLine(request: ApprovalRequest): string {
  return `airlock: waiting for approval ${request.id} (approve in the Airlock panel or with \`airlock approve ${request.id}\`)`;
}

export function printWaiting(request: ApprovalRequest): void {
  process.stderr.write(`${waitingLine(request)}\n`);
}

/** For an apply request, the CLI command that shows its change set exactly: what a reviewer runs before deciding. */
export function reviewCommand(request: ApprovalRequest): string | undefined {
  const changeSet = request.details?.changeSet;
  return request.kind === 'apply' && typeof changeSet === 'string' ? `airlock diff ${request.task} --change-set ${changeSet}` : undefined;
}

/**
 * A request as the CLI shows it (listed, or as JSON): an apply request's details also hold `review`,
 * the command that shows its change set, right after the change set's id.
 */
export function cliRequest(request: ApprovalRequest): ApprovalRequest {
  const review = reviewCommand(request);
  if (!review || !request.details || 'review' in request.details) return request;
  const details = Object.fromEntries(Object.entries(request.details).flatMap(([key, value]) => (key === 'changeSet' ? [[key, value], ['review', review]] : [[key, value]])));
  return { ...request, details };
}

/** A request as a reviewer reads it: what, why, where, and for a push the remote, branch, commit and files. */
export function formatRequest(request: ApprovalRequest): string {
  // Everything here may come from the sandbox: one printable line per field, so nothing can forge a line.
  const show = (value: unknown) => printableLine(String(value));
  const lines = [`${show(request.id)}  task ${show(request.task)}  ${show(request.kind)}  (refused in ${age(request.expiresAt)} unless decided)`, `  ${show(request.subject)}`, `  why: ${show(request.reason)}`];
  if (request.cwd) lines.push(`  in: ${show(request.cwd)}`);
  if (request.requestedBy) lines.push(`  asked by: ${show(request.requestedBy)}`);
  const details = cliRequest(request).details ?? {};
  for (const [key, value] of Object.entries(details)) {
    if (Array.isArray(value)) lines.push(`  ${show(key)}:`, ...value.map((item) => `    ${show(item)}`));
    else lines.push(`  ${show(key)}: ${show(value)}`);
  }
  return lines.join('\n');
}

export function registerApprovalCommands(program: Command): void {
  program
    .command('approvals')
    .description('list approval requests waiting for a reviewer (all tasks on this host)')
    .option('--task <id>', 'only this task')
    .option('--json', 'print JSON')
    .action(
      storeAction((store, flags: { task?: string; json?: boolean }) => {
        const board = new ApprovalBoard(store);
        const pending = board.pending(flags.task ? store.resolve(flags.task).id : undefined);
        if (flags.json) process.stdout.write(printableJson(pending.map(cliRequest)) + '\n');
        else process.stdout.write(pending.length ? `${pending.map(formatRequest).join('\n\n')}\n` : 'no requests are waiting\n');
      }),
    );

  program
    .command('approve')
    .description('allow a pending request: once, or for the rest of the task')
    .argument('<req>', 'request id (or its first 6+ characters), as `airlock approvals` lists it')
    .addOption(new Option('--scope <scope>', 'once: this request only; task: also the same command or destination later in this task').choices(['once', 'task']).default('once'))
    .option('--json', "for an apply request this approval writes: print the apply's report as JSON")
    .action(
      storeAction(async (store, req: string, flags: { scope: 'once' | 'task'; json?: boolean }) => {
        const { queue, request } = new ApprovalBoard(store).locate(req);
        if ((request.kind === 'push' || request.kind === 'apply') && flags.scope === 'task') {
          process.stderr.write(`airlock: approve: --scope task is not offered for ${request.kind === 'push' ? 'a push; each push is approved for its own commit' : 'an apply; each apply is approved for its own change set'}\n`);
          return 2;
        }
        if (request.kind === 'apply' && applyRequestWriter(request) === 'reviewer') return approveAndWrite(queue, request, Boolean(flags.json));
        return report(queue, queue.decide(request.id, { decision: 'allow', scope: flags.scope, by: currentUser() }), request, `allowed ${flags.scope === 'task' ? 'for the rest of the task' : 'once'}`);
      }),
    );

  program
    .command('deny')
    .description('refuse a pending request')
    .argument('<req>', 'request id (or its first 6+ characters)')
    .option('--reason <text>', 'why, shown to whoever asked')
    .action(
      storeAction((store, req: string, flags: { reason?: string }) => {
        const { queue, request } = new ApprovalBoard(store).locate(req);
        return report(queue, queue.decide(request.id, { decision: 'deny', scope: 'once', by: currentUser(), ...(flags.reason ? { reason: flags.reason } : {}) }), request, 'denied');
      }),
    );
}

/**
 * An apply request nobody waits for (an agent's MCP request_apply, `apply --request --no-wait`):
 * this approval writes it, exactly the change set and files it names. The engine is reached
 * first, so a failure there records no decision.
 */
async function approveAndWrite(queue: ApprovalQueue, request: ApprovalRequest, json: boolean): Promise<number> {
  const service = await openService();
  try {
    const decided = report(queue, queue.decide(request.id, { decision: 'allow', scope: 'once', by: currentUser() }), request, 'allowed once; writing it', json ? process.stderr : process.stdout);
    if (decided !== 0) return decided;
    const { changes, report: applied, review } = await new ChangeService(service).applyApproved(request, { signal: abortOnSignals().signal });
    printApplyReport(applied, changes, review, json);
    return applied.refused.length ? 1 : 0;
  } catch (error) {
    throw cliWorded(error);
  } finally {
    service.dispose();
  }
}

/** `out`: where the decision's line goes (stderr when stdout carries JSON). */
function report(queue: ApprovalQueue, outcome: DecideOutcome, request: ApprovalRequest, done: string, out: NodeJS.WritableStream = process.stdout): number {
  if (outcome === 'decided') {
    out.write(`${request.id} ${done}: ${printableLine(request.subject)}\n`);
    return 0;
  }
  const earlier = queue.decision(request.id);
  const how = earlier ? `${earlier.decision === 'allow' ? 'allowed' : 'denied'} by ${printableLine(earlier.by)}${earlier.reason ? ` (${printableLine(earlier.reason)})` : ''}` : 'decided';
  process.stderr.write(outcome === 'expired' ? `airlock: ${request.id} expired before your decision and was refused; nothing was recorded\n` : `airlock: ${request.id} was already ${how}; your decision was not recorded\n`);
  return 1;
}
