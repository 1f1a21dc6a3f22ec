import * as readline from 'node:readline';
import { ApprovalQueue, currentUser, printableLine, type ApprovalRequest, type TaskStore } from '../core/index.js';

const POLL_MS = 250;

/** Where the questions go and the answers come from; a terminal unless a test hands in its own. */
export interface PromptTerminal {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * Asks on this terminal about the task's pending approval requests while a command runs (the
 * CLI's stand-in for the shared approval panel). Nothing is asked without a terminal: unanswered
 * requests expire into "deny".
 */
export function promptForApprovals(store: TaskStore, taskId: string, signal: AbortSignal, terminal: PromptTerminal = { input: process.stdin, output: process.stderr }): { stop(): void } | undefined {
  const { input, output } = terminal;
  if (!input.isTTY || !output.isTTY) return undefined;
  const queue = new ApprovalQueue(store.gatewayFiles(taskId).approvalsDir, taskId, store.audit(taskId));
  const asked = new Set<string>();
  const stopper = new AbortController();
  const stopSignal = AbortSignal.any([signal, stopper.signal]);
  const rl = readline.createInterface({ input, output, terminal: true });
  // Each distinct failure is said once: the poll runs four times a second and must not flood the command's output.
  const reported = new Set<string>();
  const report = (error: unknown) => {
    if (stopSignal.aborted) return; // stopped while asking: the request stays pending for someone else, or expires
    const message = error instanceof Error ? error.message : String(error);
    if (reported.has(message)) return;
    reported.add(message);
    output.write(`airlock: approval requests: ${printableLine(message)} (unanswered requests are refused when they expire)\n`);
  };
  const ask = async (request: ApprovalRequest) => {
    const seconds = Math.max(0, Math.round((Date.parse(request.expiresAt) - Date.now()) / 1000));
    const answer = await new Promise<string>((resolve, reject) => {
      rl.question(`\nairlock: task ${taskId} wants to reach ${printableLine(request.subject)} (${printableLine(request.reason)}).\n  Allow [o]nce, for the [t]ask, or [d]eny? (refused in ${seconds} s) `, { signal: stopSignal }, resolve);
      stopSignal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
    });
    const choice = answer.trim().toLowerCase()[0];
    const decision = choice === 'o' ? { decision: 'allow' as const, scope: 'once' as const } : choice === 't' ? { decision: 'allow' as const, scope: 'task' as const } : { decision: 'deny' as const, scope: 'once' as const };
    const recorded = queue.decide(request.id, { ...decision, by: currentUser() });
    output.write(recorded === 'decided' ? `airlock: ${decision.decision === 'allow' ? `allowed (${decision.scope})` : 'denied'}\n` : 'airlock: that request was already decided (or expired)\n');
  };
  let busy = false;
  /** Never rejects: a failed read or write is reported, and the command goes on running. */
  const poll = async () => {
    if (busy || stopSignal.aborted) return;
    busy = true;
    try {
      // Only destinations: a command's or a push's approval must come from someone other than whoever
      // drives this terminal, which may be the agent itself.
      const request = queue.pending().find((candidate) => candidate.kind === 'network' && !asked.has(candidate.id));
      if (!request) return;
      asked.add(request.id);
      await ask(request);
    } catch (error) {
      report(error);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void poll(), POLL_MS);
  return {
    stop() {
      clearInterval(timer);
      stopper.abort();
      rl.close();
      input.pause();
    },
  };
}
