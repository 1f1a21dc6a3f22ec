import { AirlockError, type ErrorAction, type ErrorCode, type ErrorWording } from '../core/ground/errors.js';
import { MIN_REQUEST_PREFIX } from '../core/approvals/approvalBoard.js';
import { type ApplyReport, CHOOSE_ON_ITS_OWN, type PathNote, PathsNotTaken } from '../core/changes/applyChanges.js';
import { isOverFileLimit, RAISE_FILE_LIMIT } from '../core/changes/buildChangeSet.js';
import type { ChangeWording } from '../core/changes/changeService.js';
import { type FileChange, summarizeChange } from '../core/changes/changeSet.js';
import { MIN_CHANGE_SET_PREFIX } from '../core/changes/changeSetStore.js';
import { UNTIL_ACCEPTED, type WarningDetails } from '../core/policy/policyTask.js';

/**
 * The CLI's words for what the core says neutrally: where a core error's hint would name a
 * command or a flag, the CLI names its own (`airlock ls`, `--allow-root`), from the error's code
 * and actions; so do the reasons of changes left out of an apply or push, and warnings. The text
 * is what the CLI has always printed.
 */

type Wording = (error: AirlockError) => string | undefined;

const START_AGAIN = 'Start a new task with `airlock start`.';
const FRESH_DIFF = 'Take a fresh diff with `airlock diff ID` and review that.';
const CHECK_DIFF = 'Check with `airlock diff ID`.';
const STILL_RUNNING = 'Check that the task is still running (`airlock ls`).';
const NEW_BRANCH = 'Name a new branch with --branch.';
const NOT_ROLLED_BACK = 'Run `airlock undo ID` to restore from the undo record.';

function action<K extends ErrorAction['kind']>(error: AirlockError, kind: K): Extract<ErrorAction, { kind: K }> | undefined {
  return error.actions.find((candidate): candidate is Extract<ErrorAction, { kind: K }> => candidate.kind === kind);
}

const CLI_HINTS: Readonly<Record<ErrorCode, Wording>> = {
  // task ids and the task's state (state/taskStore.ts, task/taskService.ts, changes/changeService.ts, exec/supervisorBackend.ts)
  'task.emptyId': () => 'Give a task id (or a unique prefix); `airlock ls` lists them.',
  'task.invalidId': () => 'Use an id printed by `airlock start` or `airlock ls`.',
  'task.notFound': () => 'Run `airlock ls` to see tasks.',
  'task.unreadableRecord': () => 'Run `airlock gc` to clean it up.',
  'task.destroyed': () => START_AGAIN,
  'task.gone': () => START_AGAIN,
  'task.lost': (error) => {
    const task = action(error, 'reviewChanges')?.task;
    return task ? `Review and apply that change set with \`airlock diff ${task} --change-set SET\` and \`airlock apply ${task} --change-set SET --yes\` (SET: the id above), then start a new task.` : START_AGAIN;
  },
  'task.expired': () => 'Start a new task, with a longer --ttl if needed.',
  'task.noNetwork': () => 'Start a task with --allow rules to use the network.',
  'exec.noCommand': () => 'Put the command after `--`, e.g. `airlock exec ID -- ls -la`.',

  // starting a task (config/, snapshot/, task/taskService.ts)
  'workspace.notFound': () => 'Pass --workspace with an existing folder.',
  'workspace.notAFolder': () => 'Pass --workspace with a folder.',
  'workspace.missingObject': () => 'Repair the repository (git fsck) or start with --git-depth 1.',
  'env.secretName': (error) => `If the sandbox really needs it, name it explicitly with --allow-secret-env ${action(error, 'changeSetting')?.value ?? 'NAME'} (allowSecretEnv).`,
  'options.networkRulesDenied': () => 'Use --network allowlist, or drop the --allow/--allow-cidr/--setup-allow/--ask options.',
  'options.tmpfsWithRunsc': () => 'Drop --workspace-tmpfs, or use --runtime runc.',
  'options.rootNeedsAllowRoot': () => 'Pass --allow-root if you really need root; it is still without capabilities.',
  'image.pullFailed': () => 'Pull or build it first (`docker pull IMAGE`), or pass --image with a local image (scripts/setup-engine.sh builds airlock-test:bookworm offline).',
  'runtime.unavailable': (error) => `Install gVisor and register it in /etc/docker/daemon.json (scripts/setup-engine.sh does this on Debian/Ubuntu), or use --runtime ${action(error, 'useRuntime')?.runtime ?? 'runc'}.`,
  'setup.commandRefused': () => 'Accept the repository policy (airlock policy accept) if you trust this command, approve it when asked, or change the command rules.',
  'setup.commandFailed': () => 'Fix the setup command (or its network rules: --setup-allow) and start again.',

  // the network (task/taskService.ts, egress/egressGateway.ts)
  'gateway.unavailable': () => 'Use the airlock CLI or the VS Code extension, or --network deny.',
  'relay.notStarted': () => 'Check that the task image has node; `airlock doctor` shows the engine state.',
  'relay.needsNode': () => 'Use an image with node (e.g. the default node:22-bookworm), or --network deny.',
  'relay.stopped': () => 'Run `airlock doctor`; if port 3128 is taken inside the task, the relay cannot listen.',

  // approvals (approvals/approvalBoard.ts)
  'request.invalidId': () => `Give the id (or its first ${MIN_REQUEST_PREFIX}+ characters) as \`airlock approvals\` lists it.`,
  'request.notFound': () => 'List pending requests with `airlock approvals`.',

  // review, apply and undo (changes/)
  'scan.stoppedEarly': () => STILL_RUNNING,
  'scan.failed': () => STILL_RUNNING,
  'changes.storeFull': () => 'Apply or discard what is under review, make the task write less (large outputs belong outside /workspace), or raise the limit with --max-store-size.',
  'changeSet.invalidId': () => `Give the id \`airlock diff\` printed (at least ${MIN_CHANGE_SET_PREFIX} hex characters).`,
  'changeSet.notFound': () => FRESH_DIFF,
  'changeSet.tampered': () => FRESH_DIFF,
  'apply.contentGone': () => FRESH_DIFF,
  'apply.nothingToApply': () => CHECK_DIFF,
  'apply.notRolledBack': () => NOT_ROLLED_BACK,
  'undo.notRolledBack': () => NOT_ROLLED_BACK,
  'undo.hostEdited': () => 'Nothing was changed. Use --force to restore those paths anyway.',

  // push (push/)
  'push.notFromCommit': () => 'Push needs a repository with at least one commit; apply the changes instead (`airlock apply ID`).',
  'push.noRemote': (error) => error.hint?.replace(/ or name another remote\.$/, ' or name another with --remote.'),
  'push.branchCheckedOut': () => NEW_BRANCH,
  'push.branchExists': () => 'Name a new branch with --branch (or delete the old one).',
  'push.remoteBranchExists': () => NEW_BRANCH,
  'push.branchNotCreated': () => NEW_BRANCH,
  'push.pathsRefused': () => 'Name only paths `airlock diff ID` lists; risky ones need --allow-risky PATH; refused ones are never pushed.',
  'push.nothingToPush': (error) => (action(error, 'chooseRiskyPaths') ? 'Risky files need --allow-risky PATH each; refused files are never pushed.' : CHECK_DIFF),
  'push.contentMissing': () => 'Run `airlock diff ID` again, then push.',
};

/** The codes the CLI words its own way; every other error's hint is the core's. */
export const CLI_WORDED_CODES: readonly ErrorCode[] = Object.keys(CLI_HINTS) as ErrorCode[];

/** An error's hint as the CLI prints it: in the CLI's own commands and flags where it has them. */
export function cliHint(error: AirlockError): string | undefined {
  const wording = Object.hasOwn(CLI_HINTS, error.code) ? CLI_HINTS[error.code] : undefined;
  return wording ? wording(error) : error.hint;
}

/** Input fields the CLI takes as flags of its own name: a message that begins with one reads as the flag. */
const CLI_FIELDS: Readonly<Record<string, string>> = {
  changeSet: '--change-set',
  branch: '--branch',
  remote: '--remote',
  commandEnv: '--env',
};

export function cliField(field: string): string | undefined {
  return Object.hasOwn(CLI_FIELDS, field) ? CLI_FIELDS[field] : undefined;
}

/** How every CLI command describes an error: `describeError(error, cliWording)`. */
export const cliWording: ErrorWording = { hint: cliHint, field: cliField };

/** A change's refusal as the CLI prints it: a file over the size limit names --max-file-size. */
export function cliRefusal(refusal: string): string {
  return isOverFileLimit(refusal) ? `${refusal.slice(0, -RAISE_FILE_LIMIT.length)} (raise it with --max-file-size)` : refusal;
}

/** How the CLI words a change's notes in a diff. */
export const cliChangeWording: ChangeWording = { refusal: cliRefusal };

/** A change as `diff --json` lists it, its refusal in the CLI's words. */
export function cliChangeSummary(change: FileChange): Record<string, unknown> {
  const summary = summarizeChange(change);
  return change.refusal ? { ...summary, refusal: cliRefusal(change.refusal) } : summary;
}

/** Why a path was left out of an apply or a push, as the CLI prints it: a risky one names --allow-risky. */
export function cliPathReason(note: PathNote): string {
  if (note.code === 'riskyHeld' && note.reason.endsWith(CHOOSE_ON_ITS_OWN)) return `${note.reason.slice(0, -CHOOSE_ON_ITS_OWN.length)} (choose it with --allow-risky ${note.path})`;
  if (note.code === 'riskyNotChosen') return `${note.reason} (--allow-risky ${note.path})`;
  return cliRefusal(note.reason);
}

/** Paths left out, as the CLI prints and reports them (`--json` too): path and reason in its words. */
export function cliPathNotes(notes: readonly PathNote[]): Array<{ path: string; reason: string }> {
  return notes.map((note) => ({ path: note.path, reason: cliPathReason(note) }));
}

/** An apply's report as the CLI prints it, held and refused paths in its words. */
export function cliApplyReport(report: ApplyReport): ApplyReport {
  return { ...report, refused: cliPathNotes(report.refused), held: cliPathNotes(report.held) };
}

/** An error's message as the CLI prints it, where the message itself holds words the CLI has its own for (the reasons of paths left out). */
export function cliMessage(error: AirlockError): string | undefined {
  return error instanceof PathsNotTaken ? error.describe(cliPathReason) : undefined;
}

/**
 * The error as the CLI prints it: the same code, hint, field and actions, with the CLI's message
 * where it words the message its own way. For a command that catches errors from the core before
 * the common printing (`describeError(error, cliWording)`) sees them.
 */
export function cliWorded(error: unknown): unknown {
  const message = AirlockError.is(error) ? cliMessage(error) : undefined;
  if (message === undefined || !AirlockError.is(error)) return error;
  return new AirlockError(message, { code: error.code, hint: error.hint, field: error.field, actions: error.actions });
}

/** A warning as the CLI prints it: a repository policy whose loosenings wait names `airlock policy accept`. */
export function cliWarning(message: string, details?: WarningDetails): string {
  if (details?.code !== 'policy.loosensIgnored') return message;
  const end = message.indexOf('\n');
  const first = end < 0 ? message : message.slice(0, end);
  if (!first.endsWith(UNTIL_ACCEPTED)) return message;
  return `${first.slice(0, -1)} (airlock policy accept):${end < 0 ? '' : message.slice(end)}`;
}
