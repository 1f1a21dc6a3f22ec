import { CommandClassifier, describeFinding, type Verdict } from '../commands/commandClassifier.js';
import type { CommandSettings } from '../commands/commandSettings.js';
import { readLiveState, refreshLiveRules } from '../policy/livePolicy.js';
import { exact, renderTokens } from '../commands/shellWords.js';
import { AirlockError } from '../ground/errors.js';
import { printableLine } from '../ground/printable.js';
import type { TaskRecord } from '../state/taskRecord.js';
import type { TaskStore } from '../state/taskStore.js';
import { ApprovalBoard } from '../approvals/approvalBoard.js';
import { type ApprovalDecision, type ApprovalRequest, describeRefusal } from '../approvals/approvalQueue.js';

/** Exit code for a command the policy or a reviewer refused (as a shell does for "cannot execute"). */
export const EXIT_REFUSED = 126;

/**
 * A command that was not run: a deny rule matched (`command.denied`), or a reviewer or the clock
 * said no (`command.notApproved`). One line, no hint.
 */
export class CommandRefused extends AirlockError {
  readonly exitCode = EXIT_REFUSED;
  constructor(message: string, readonly verdict: Verdict, readonly approval?: { request: ApprovalRequest; decision: ApprovalDecision }) {
    // One line whatever the command held: a newline in it must not forge what follows.
    super(printableLine(message), { code: approval ? 'command.notApproved' : 'command.denied' });
  }
}

/**
 * A command that needs a reviewer and was not run, for callers that answer at once and come back
 * (agent tools): the request is in the task's queue; asking again with its id (`approval`) runs
 * the command once it is allowed.
 */
export class CommandWaiting extends AirlockError {
  constructor(readonly request: ApprovalRequest, readonly verdict: Verdict) {
    super(printableLine(`waiting for approval ${request.id}: ${request.subject}`), { code: 'command.waiting', hint: 'A reviewer approves or denies it; ask again with the approval id once they have.', field: 'approval' });
  }
}

export interface GateOptions {
  signal?: AbortSignal;
  /** Told once the command waits for a person, with the request to approve. */
  onWaiting?: (request: ApprovalRequest) => void;
  /** The command's standard input is data (a pipe), not a person: a bare shell would run it. */
  stdinIsData?: boolean;
  /** Never wait for a reviewer: an ask files its request (or finds `approval`'s undecided) and throws CommandWaiting. */
  noWait?: boolean;
  /**
   * The id of a request filed earlier for exactly this command and folder: its decision settles
   * the ask instead of a new request. An allow-once runs one command, however often it is named.
   */
  approval?: string;
}

export type GateCommand = { argv: string[]; line?: never } | { line: string; argv?: never };

export interface GateOutcome {
  verdict: Verdict;
  /** How an `ask` was settled: a reviewer's decision now, or an earlier "for the rest of the task". */
  approval?: { request?: ApprovalRequest; decision: ApprovalDecision };
}

function judge(settings: CommandSettings, command: GateCommand, cwd: string, stdinIsData?: boolean): Promise<Verdict> {
  return CommandClassifier.load(settings).then((classifier) => (command.argv ? classifier.argv(command.argv, { cwd, stdinIsData }) : classifier.line(command.line, { cwd, stdinIsData })));
}

const subjectOf = (command: GateCommand) => (command.argv ? renderTokens(command.argv.map(exact)) : printableLine(command.line));

export interface GatePreview {
  verdict: Verdict;
  /** The command as a reviewer would see it in a request. */
  subject: string;
  /** An earlier allow "for the rest of the task" that would let this ask through without a new request. */
  granted?: ApprovalDecision;
}

/**
 * What the gate would say about a command, with nothing recorded: no request, no audit record, no
 * policy refresh (the rules as last tightened). For a confirmation shown before the real gate
 * runs; the gate itself still decides, and may be stricter if the policy tightened since.
 */
export async function previewCommand(store: TaskStore, record: TaskRecord, command: GateCommand, cwd: string, options: Pick<GateOptions, 'stdinIsData'> = {}): Promise<GatePreview> {
  const verdict = await judge(readLiveState(store, record).rules.commands, command, cwd, options.stdinIsData);
  const subject = subjectOf(command);
  const granted = verdict.decision === 'ask' ? new ApprovalBoard(store).queue(record.id).grantedForTask('command', subject, cwd) : undefined;
  return { verdict, subject, ...(granted ? { granted } : {}) };
}

/**
 * An ask settled by a request filed earlier (`GateOptions.approval`): it must be a command request
 * for this very subject and folder. Undecided → CommandWaiting (no new request); denied or expired
 * → CommandRefused; allowed once → claimed, so that one allow runs one command.
 */
function settleWithApproval(store: TaskStore, record: TaskRecord, id: string, subject: string, cwd: string, verdict: Verdict): GateOutcome {
  const queue = new ApprovalBoard(store).queue(record.id);
  const request = /^[a-f0-9]{24}$/.test(id) ? queue.find(id) : undefined;
  if (!request || request.kind !== 'command' || request.subject !== subject || request.cwd !== cwd) {
    throw new AirlockError(printableLine(`approval: ${id} is not a request of task ${record.id} for this command in ${cwd}`), { code: 'command.approvalMismatch', hint: 'Give the same command and working folder as the call that was told to wait, with the id it was given.', field: 'approval' });
  }
  if (!queue.decision(id) && Date.parse(request.expiresAt) <= Date.now()) queue.expire();
  const decision = queue.decision(id);
  if (!decision) throw new CommandWaiting(request, verdict);
  if (decision.decision === 'deny') throw new CommandRefused(`refused: ${subject}: approval ${id}: ${describeRefusal(decision)}`, verdict, { request, decision });
  if (decision.scope === 'once' && !queue.use(id)) {
    throw new AirlockError(`approval: ${id} was allowed once and has been used`, { code: 'command.approvalUsed', hint: 'Run the command again without the id to ask a reviewer anew.', field: 'approval' });
  }
  return { verdict, approval: { request, decision } };
}

/**
 * The policy check every command takes before it runs in a task: deny refuses, ask files a request
 * in the task's approval queue and waits for a reviewer (or the timeout, which denies), allow runs.
 */
export async function gateCommand(store: TaskStore, record: TaskRecord, command: GateCommand, cwd: string, options: GateOptions = {}): Promise<GateOutcome> {
  // The task's rules, tightened by any change to the repository policy since it started.
  const settings = refreshLiveRules(store, record).rules.commands;
  const verdict = await judge(settings, command, cwd, options.stdinIsData);
  if (verdict.decision === 'allow') return { verdict };
  const subject = subjectOf(command);
  const audit = store.audit(record.id);
  const first = verdict.findings[0];
  const gate = { type: 'command.gated' as const, task: record.id, command: subject, cwd, decision: verdict.decision, findings: verdict.findings.filter((finding) => finding.decision !== 'allow') };
  if (verdict.decision === 'deny') {
    audit.append(gate);
    throw new CommandRefused(`refused: ${describeFinding(first)}`, verdict);
  }
  const queue = new ApprovalBoard(store).queue(record.id);
  const granted = queue.grantedForTask('command', subject, cwd);
  if (granted) {
    audit.append({ ...gate, grantedBy: granted.id });
    return { verdict, approval: { decision: granted } };
  }
  // Filed and recorded when it was first asked; coming back with its id adds no second request.
  if (options.approval !== undefined) return settleWithApproval(store, record, options.approval, subject, cwd, verdict);
  audit.append(gate);
  const request = queue.request({ kind: 'command', subject, reason: describeFinding(first), cwd }, settings.approvalTimeoutSeconds * 1000);
  options.onWaiting?.(request);
  if (options.noWait) throw new CommandWaiting(request, verdict);
  const decision = await queue.wait(request, options.signal);
  if (decision.decision === 'deny') {
    throw new CommandRefused(`refused: ${subject}: approval ${request.id}: ${describeRefusal(decision)}`, verdict, { request, decision });
  }
  // The waiter uses its allow-once too, so a caller naming this request's id cannot run it a second time.
  if (decision.scope === 'once' && !queue.use(request.id)) {
    throw new AirlockError(`approval: ${request.id} was allowed once and has been used`, { code: 'command.approvalUsed', hint: 'Run the command again to ask a reviewer anew.', field: 'approval' });
  }
  return { verdict, approval: { request, decision } };
}
