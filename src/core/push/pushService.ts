import { ApprovalBoard } from '../approvals/approvalBoard.js';
import type { ApprovalDecision, ApprovalRequest } from '../approvals/approvalQueue.js';
import { ChangeService, type DiffOptions } from '../changes/changeService.js';
import type { FileChange } from '../changes/changeSet.js';
import { type PathNote, PathsNotTaken, selectChanges } from '../changes/applyChanges.js';
import { taskCommandSettings } from '../commands/commandSettings.js';
import { AirlockError, type ErrorCode, type ErrorDetails } from '../ground/errors.js';
import { git, runHost } from '../ground/runHost.js';
import type { TaskService } from '../task/taskService.js';
import { commitChanges } from './changeCommit.js';

export interface PushOptions extends Pick<DiffOptions, 'signal' | 'maxFileBytes' | 'riskyPatterns'> {
  remote?: string;
  /** New branch on the host and the remote; default airlock/<task id>. */
  branch?: string;
  message?: string;
  /** Only these paths (or folders); default every change that is neither risky nor refused. */
  paths?: string[];
  /** Risky paths chosen one by one, as with apply. */
  allowRisky?: string[];
  /** How long to wait for a reviewer; default the task's approval timeout. */
  timeoutMs?: number;
  onWaiting?: (request: ApprovalRequest) => void;
}

export interface PushReport {
  remote: string;
  url: string;
  branch: string;
  commit: string;
  base: string;
  files: string[];
  held: PathNote[];
  request: ApprovalRequest;
  decision: ApprovalDecision;
  pushed: boolean;
  output: string;
}

const statusLetter: Record<FileChange['status'], string> = { added: 'A', modified: 'M', deleted: 'D', renamed: 'R', typechange: 'T' };

/** A branch push cannot use: the person names another. */
const newBranch = (code: ErrorCode, task: string, hint = 'Name a new branch.'): ErrorDetails => ({ code, hint, field: 'branch', actions: [{ kind: 'retryPush', task, change: 'branch' }] });

/** The user's own git, with their credentials, but never waiting on a terminal prompt nobody sees. */
const userGit = (root: string, args: string[], signal?: AbortSignal) => runHost('git', args, { cwd: root, signal, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });

/**
 * Pushes a task's changes from the host, so credentials never enter the sandbox: the task's version
 * of each chosen file goes into one commit on top of the commit the task started from, on a new
 * host branch; a reviewer is asked about exactly that commit (remote, branch, files); only an
 * allow pushes it, by its id, without force. A refusal removes the branch again.
 */
export class PushService {
  constructor(private readonly tasks: TaskService) {}

  async push(idOrPrefix: string, options: PushOptions = {}): Promise<PushReport> {
    const { signal } = options;
    const record = await this.tasks.live(idOrPrefix);
    const root = record.workspace;
    const base = record.snapshot.head;
    const task = record.id;
    if (record.snapshot.kind !== 'git' || !base) {
      throw new AirlockError(`push: task ${task} did not start from a git commit (its workspace ${record.snapshot.kind === 'git' ? 'had no commits' : 'is not a git repository'})`, {
        code: 'push.notFromCommit',
        hint: 'Push needs a repository with at least one commit; apply the changes instead.',
        field: 'ID',
        actions: [{ kind: 'reviewChanges', task }],
      });
    }
    const remote = options.remote ?? 'origin';
    const urlResult = await git(root, ['remote', 'get-url', '--push', remote], { signal, allowFailure: true });
    // The hint's last words are "or name another remote.": the CLI words that part its own way.
    if (urlResult.code !== 0) throw new AirlockError(`remote: the host repository has no remote "${remote}"`, { code: 'push.noRemote', hint: `Add it (git remote add ${remote} URL) or name another remote.`, field: 'remote', actions: [{ kind: 'retryPush', task, change: 'remote' }] });
    const url = urlResult.stdout.toString().trim();
    const branch = options.branch ?? `airlock/${record.id}`;
    const valid = await git(root, ['check-ref-format', '--branch', branch], { signal, allowFailure: true });
    if (valid.code !== 0 || branch.startsWith('-')) throw new AirlockError(`branch: "${branch}" is not a valid branch name`, { code: 'push.invalidBranch', hint: 'Use letters, digits, "/", "-" and "." (see git check-ref-format).', field: 'branch', actions: [{ kind: 'retryPush', task, change: 'branch' }] });
    const current = (await git(root, ['symbolic-ref', '--quiet', '--short', 'HEAD'], { signal, allowFailure: true })).stdout.toString().trim();
    if (current === branch) throw new AirlockError(`branch: "${branch}" is the branch checked out on the host; push always makes a new branch`, newBranch('push.branchCheckedOut', task));
    const local = await git(root, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { signal, allowFailure: true });
    if (local.code === 0) throw new AirlockError(`branch: the host already has a branch "${branch}"; push never moves an existing branch`, newBranch('push.branchExists', task, 'Name a new branch (or delete the old one).'));

    const changes = await new ChangeService(this.tasks).changes(task, { signal, maxFileBytes: options.maxFileBytes, riskyPatterns: options.riskyPatterns });
    const selected = selectChanges(changes.changeSet.files, { paths: options.paths, allowRisky: options.allowRisky });
    if (selected.refused.length) {
      throw new PathsNotTaken((notes) => `push: ${notes}`, selected.refused, {
        code: 'push.pathsRefused',
        hint: "Name only paths the task's changes list; risky ones must each be chosen; refused ones are never pushed.",
        field: 'paths',
        actions: [{ kind: 'reviewChanges', task }],
      });
    }
    const held = selected.held;
    // Git records files only: folders come and go with them.
    const chosen = selected.chosen.filter((change) => change.after?.kind !== 'dir' && !(change.before?.kind === 'dir' && !change.after));
    if (chosen.length === 0) {
      const risky = held.filter((item) => item.code === 'riskyHeld').map((item) => item.path);
      throw new AirlockError(`push: task ${task} has no changes to push${held.length ? ` (held back: ${held.map((item) => item.path).join(', ')})` : ''}`, {
        code: 'push.nothingToPush',
        ...(risky.length ? { hint: 'Risky files must each be chosen; refused files are never pushed.', actions: [{ kind: 'chooseRiskyPaths', task, paths: risky }] } : { hint: "Review the task's changes.", actions: [{ kind: 'reviewChanges', task }] }),
        field: 'ID',
      });
    }
    const remoteHas = await userGit(root, ['ls-remote', '--heads', remote, `refs/heads/${branch}`], signal);
    if (remoteHas.code !== 0) throw new AirlockError(`push: could not read remote "${remote}" (${url}): ${remoteHas.stderr.trim().split('\n').at(-1)}`, { code: 'push.remoteUnreadable', hint: 'Check the remote and your credentials on the host.', field: 'remote' });
    if (remoteHas.stdout.toString().trim()) throw new AirlockError(`branch: remote "${remote}" already has a branch "${branch}"; push only creates new branches`, newBranch('push.remoteBranchExists', task));

    const message = `${options.message ?? `Changes from Airlock task ${task}`}\n\nAirlock-Task: ${task}\n`;
    const commit = await commitChanges({ root, base, changes: chosen, content: changes.content, message, task, signal });
    const created = await git(root, ['update-ref', `refs/heads/${branch}`, commit, '0'.repeat(40)], { signal, allowFailure: true });
    if (created.code !== 0) throw new AirlockError(`branch: could not create branch "${branch}" on the host: ${created.stderr.trim()}`, newBranch('push.branchNotCreated', task));
    const files = chosen.map((change) => `${statusLetter[change.status]} ${change.oldPath && change.oldPath !== change.path ? `${change.oldPath} -> ` : ''}${change.path}`);
    const audit = this.tasks.store.audit(record.id);
    const summary = { task: record.id, remote, url, branch, commit, files: chosen.map((change) => change.path) };
    audit.append({ type: 'push', event: 'committed', ...summary });

    const queue = new ApprovalBoard(this.tasks.store).queue(record.id);
    const timeoutMs = options.timeoutMs ?? taskCommandSettings(record).approvalTimeoutSeconds * 1000;
    const request = queue.request({ kind: 'push', subject: `git push ${remote} ${commit}:refs/heads/${branch}`, reason: 'pushes from the host with your git credentials', details: { remote, url, branch, commit, base, files } }, timeoutMs);
    options.onWaiting?.(request);
    const decision = await queue.wait(request, signal);
    const dropBranch = () => git(root, ['update-ref', '-d', `refs/heads/${branch}`, commit], { allowFailure: true });
    if (decision.decision === 'deny') {
      await dropBranch();
      audit.append({ type: 'push', event: 'refused', ...summary, request: request.id, detail: decision.reason });
      return { remote, url, branch, commit, base, files, held, request, decision, pushed: false, output: '' };
    }
    // What is pushed is the approved commit id itself; the branch is only checked to have stayed put.
    const tip = (await git(root, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { allowFailure: true })).stdout.toString().trim();
    if (tip !== commit) {
      audit.append({ type: 'push', event: 'failed', ...summary, request: request.id, detail: `branch moved to ${tip || 'nothing'} after approval` });
      throw new AirlockError(`push: branch "${branch}" moved after the approval (now ${tip || 'deleted'}); nothing was pushed`, { code: 'push.branchMoved', hint: 'Push again to ask about the new state.', field: 'branch', actions: [{ kind: 'retryPush', task }] });
    }
    const pushed = await userGit(root, ['push', '--porcelain', remote, `${commit}:refs/heads/${branch}`], signal);
    const output = `${pushed.stdout.toString()}${pushed.stderr}`.trim();
    if (pushed.code !== 0) {
      audit.append({ type: 'push', event: 'failed', ...summary, request: request.id, detail: output.split('\n').at(-1) });
      throw new AirlockError(`push: git push to ${url} failed: ${output.split('\n').filter(Boolean).at(-1) ?? `exit ${pushed.code}`}`, { code: 'push.failed', hint: `The commit stays on the host branch "${branch}"; push it yourself, or delete the branch and push again.`, field: 'remote' });
    }
    audit.append({ type: 'push', event: 'pushed', ...summary, request: request.id });
    return { remote, url, branch, commit, base, files, held, request, decision, pushed: true, output };
  }
}
