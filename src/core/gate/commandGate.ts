import { CommandClassifier, describeFinding, type Verdict } from '../commands/commandClassifier.js';
import { refreshLiveRules } from '../policy/livePolicy.js';
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

export interface GateOptions {
  signal?: AbortSignal;
  /** Told once the command waits for a person, with the request to approve. */
  onWaiting?: (request: ApprovalRequest) => void;
  /** The command's standard input is data (a pipe), not a person: a bare shell would run it. */
  stdinIsData?: boolean;
}

export type GateCommand = { argv: string[]; line?: never } | { line: string; argv?: never };

export interface GateOutcome {
  verdict: Verdict;
  /** How an `ask` was settled: a reviewer's decision now, or an earlier "for the rest of the task". */
  approval?: { request?: ApprovalRequest; decision: ApprovalDecision };
}

/**
 * The policy check every command takes before it runs in a task: deny refuses, ask files a request
 * in the task's approval queue and waits for a reviewer (or the timeout, which denies), allow runs.
 */
export async function gateCommand(store: TaskStore, record: TaskRecord, command: GateCommand, cwd: string, options: GateOptions = {}): Promise<GateOutcome> {
  // The task's rules, tightened by any change to the repository policy since it started.
  const settings = refreshLiveRules(store, record).rules.commands;
  const classifier = await CommandClassifier.load(settings);
  const verdict = command.argv ? classifier.argv(command.argv, { cwd, stdinIsData: options.stdinIsData }) : classifier.line(command.line, { cwd, stdinIsData: options.stdinIsData });
  if (verdict.decision === 'allow') return { verdict };
  const subject = command.argv ? renderTokens(command.argv.map(exact)) : printableLine(command.line);
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
  audit.append(gate);
  const request = queue.request({ kind: 'command', subject, reason: describeFinding(first), cwd }, settings.approvalTimeoutSeconds * 1000);
  options.onWaiting?.(request);
  const decision = await queue.wait(request, options.signal);
  if (decision.decision === 'deny') {
    throw new CommandRefused(`refused: ${subject}: approval ${request.id}: ${describeRefusal(decision)}`, verdict, { request, decision });
  }
  return { verdict, approval: { request, decision } };
}
