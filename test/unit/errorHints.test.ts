import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { cliField, cliHint, cliWording, CLI_WORDED_CODES } from '../../src/cli/errorHints.js';
import { ApprovalBoard } from '../../src/core/approvals/approvalBoard.js';
import { StoreFull } from '../../src/core/changes/blobStore.js';
import { identify } from '../../src/core/changes/changeSet.js';
import { ChangeSetStore } from '../../src/core/changes/changeSetStore.js';
import { buildSandboxEnv } from '../../src/core/config/sandboxEnv.js';
import { parseTaskOptions } from '../../src/core/config/taskOptions.js';
import { AirlockError, describeError, type ErrorCode } from '../../src/core/ground/errors.js';
import { assertWorkspaceFolder } from '../../src/core/snapshot/workspaceListing.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';
import { changeSetFor, fakeBase } from '../helpers/fakeChangeSet.js';
import { cliWords } from '../helpers/frontEndWords.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

const TASK = 'abc123';
const START_AGAIN = 'Start a new task with `airlock start`.';
const FRESH_DIFF = 'Take a fresh diff with `airlock diff ID` and review that.';
const NEW_BRANCH = 'Name a new branch with --branch.';

interface Case {
  /** The error as the core raises it: through the real code where it is this session's, else built as its throw site builds it. */
  error: () => AirlockError;
  /** What the CLI printed as the hint before errors had codes, word for word. */
  cli: string;
}

const store = () => new TaskStore(makeTempDir('airlock-hints-'));
const options = (extra: Record<string, unknown>) => airlockErrorFrom(() => parseTaskOptions({ workspace: '/tmp/x', ...extra }));
const storedChangeSets = () => {
  const dir = path.join(makeTempDir('airlock-hints-cs-'), 'changesets');
  const changeSet = identify(changeSetFor(fakeBase({ 'a.txt': { content: 'a\n' } }), { 'a.txt': { content: 'A\n' } }));
  const changeSets = new ChangeSetStore(dir);
  changeSets.save(changeSet);
  return { changeSets, changeSet };
};
/** An error as a throw site in a file migrated by its own owner builds it (the proposed code, neutral hint and actions). */
const built = (code: ErrorCode, hint: string, extra: Partial<{ field: string; actions: AirlockError['actions'] }> = {}) => () => new AirlockError('message', { code, hint, ...extra });

const CASES: Record<string, Case> = {
  'task.emptyId': { error: () => airlockErrorFrom(() => store().resolve('')), cli: 'Give a task id (or a unique prefix); `airlock ls` lists them.' },
  'task.invalidId': { error: () => airlockErrorFrom(() => store().taskDir('../x')), cli: 'Use an id printed by `airlock start` or `airlock ls`.' },
  'task.notFound': { error: () => airlockErrorFrom(() => store().resolve('zzz')), cli: 'Run `airlock ls` to see tasks.' },
  'task.unreadableRecord': {
    error: () => {
      const tasks = store();
      tasks.create(TASK);
      return airlockErrorFrom(() => tasks.resolve(TASK));
    },
    cli: 'Run `airlock gc` to clean it up.',
  },
  'task.destroyed': { error: built('task.destroyed', 'Start a new task.', { actions: [{ kind: 'startTask' }] }), cli: START_AGAIN },
  'task.gone': { error: built('task.gone', 'Start a new task.', { actions: [{ kind: 'startTask' }] }), cli: START_AGAIN },
  'task.expired': { error: built('task.expired', 'Start a new task, with a longer time to live if needed.', { actions: [{ kind: 'startTask' }, { kind: 'changeSetting', setting: 'ttlSeconds' }] }), cli: 'Start a new task, with a longer --ttl if needed.' },
  'task.noNetwork': { error: built('task.noNetwork', 'Start a task with network allow rules to use the network.', { actions: [{ kind: 'startTask' }, { kind: 'changeSetting', setting: 'network.allow' }] }), cli: 'Start a task with --allow rules to use the network.' },
  'exec.noCommand': { error: built('exec.noCommand', 'Give the command to run.'), cli: 'Put the command after `--`, e.g. `airlock exec ID -- ls -la`.' },

  'workspace.notFound': { error: () => airlockErrorFrom(() => assertWorkspaceFolder(path.join(makeTempDir(), 'absent'))), cli: 'Pass --workspace with an existing folder.' },
  'workspace.notAFolder': {
    error: () => {
      const file = path.join(makeTempDir(), 'file');
      fs.writeFileSync(file, 'x');
      return airlockErrorFrom(() => assertWorkspaceFolder(file));
    },
    cli: 'Pass --workspace with a folder.',
  },
  'workspace.missingObject': {
    error: built('workspace.missingObject', 'Repair the repository (git fsck), or copy only the latest commit of history.', { field: 'workspace', actions: [{ kind: 'changeSetting', setting: 'gitDepth', value: '1' }] }),
    cli: 'Repair the repository (git fsck) or start with --git-depth 1.',
  },
  'env.secretName': { error: () => airlockErrorFrom(() => buildSandboxEnv({ envPassthrough: [], env: { API_KEY: 'x' }, allowSecretEnv: [] }, {})), cli: 'If the sandbox really needs it, name it explicitly with --allow-secret-env API_KEY (allowSecretEnv).' },
  'options.networkRulesDenied': { error: () => options({ network: 'deny', egress: { agent: { allow: ['api.example.test'] } } }), cli: 'Use --network allowlist, or drop the --allow/--allow-cidr/--setup-allow/--ask options.' },
  'options.tmpfsWithRunsc': { error: () => options({ runtime: 'runsc', workspaceTmpfs: '1g' }), cli: 'Drop --workspace-tmpfs, or use --runtime runc.' },
  'options.rootNeedsAllowRoot': { error: () => options({ user: '0:0' }), cli: 'Pass --allow-root if you really need root; it is still without capabilities.' },
  'image.pullFailed': {
    error: built('image.pullFailed', 'Pull or build it first (`docker pull IMAGE`), or choose a local image (scripts/setup-engine.sh builds airlock-test:bookworm offline).', { field: 'image', actions: [{ kind: 'changeSetting', setting: 'image' }] }),
    cli: 'Pull or build it first (`docker pull IMAGE`), or pass --image with a local image (scripts/setup-engine.sh builds airlock-test:bookworm offline).',
  },
  'runtime.unavailable': {
    error: built('runtime.unavailable', 'Install gVisor and register it in /etc/docker/daemon.json (scripts/setup-engine.sh does this on Debian/Ubuntu), or run the task with runc.', { field: 'runtime', actions: [{ kind: 'useRuntime', runtime: 'runc' }] }),
    cli: 'Install gVisor and register it in /etc/docker/daemon.json (scripts/setup-engine.sh does this on Debian/Ubuntu), or use --runtime runc.',
  },
  'setup.commandRefused': {
    error: built('setup.commandRefused', 'Accept the repository policy if you trust this command, approve it when asked, or change the command rules.', { actions: [{ kind: 'acceptPolicy', workspace: '/w' }] }),
    cli: 'Accept the repository policy (airlock policy accept) if you trust this command, approve it when asked, or change the command rules.',
  },
  'setup.commandFailed': {
    error: built('setup.commandFailed', "Fix the setup command (or the setup phase's network rules) and start again.", { actions: [{ kind: 'changeSetting', setting: 'network.setup.allow' }] }),
    cli: 'Fix the setup command (or its network rules: --setup-allow) and start again.',
  },

  'gateway.unavailable': {
    error: built('gateway.unavailable', 'Use the Airlock CLI or the VS Code extension, or set the network to "deny".', { field: 'network', actions: [{ kind: 'changeSetting', setting: 'network', value: 'deny' }] }),
    cli: 'Use the airlock CLI or the VS Code extension, or --network deny.',
  },
  'relay.notStarted': { error: built('relay.notStarted', 'Check that the task image has node; the doctor shows the engine state.', { actions: [{ kind: 'runDoctor' }] }), cli: 'Check that the task image has node; `airlock doctor` shows the engine state.' },
  'relay.needsNode': {
    error: built('relay.needsNode', 'Use an image with node (e.g. the default node:22-bookworm), or set the network to "deny".', { actions: [{ kind: 'changeSetting', setting: 'image' }, { kind: 'changeSetting', setting: 'network', value: 'deny' }] }),
    cli: 'Use an image with node (e.g. the default node:22-bookworm), or --network deny.',
  },
  'relay.stopped': { error: built('relay.stopped', 'Check the engine with the doctor; if port 3128 is taken inside the task, the relay cannot listen.', { actions: [{ kind: 'runDoctor' }] }), cli: 'Run `airlock doctor`; if port 3128 is taken inside the task, the relay cannot listen.' },

  'request.invalidId': { error: () => airlockErrorFrom(() => new ApprovalBoard(store()).locate('xyz')), cli: 'Give the id (or its first 6+ characters) as `airlock approvals` lists it.' },
  'request.notFound': { error: () => airlockErrorFrom(() => new ApprovalBoard(store()).locate('abcdef12')), cli: 'List pending requests with `airlock approvals`.' },

  'scan.stoppedEarly': { error: built('scan.stoppedEarly', 'Check that the task is still running.', { actions: [{ kind: 'listTasks' }] }), cli: 'Check that the task is still running (`airlock ls`).' },
  'scan.failed': { error: built('scan.failed', 'Check that the task is still running.', { actions: [{ kind: 'listTasks' }] }), cli: 'Check that the task is still running (`airlock ls`).' },
  'changes.storeFull': { error: () => new StoreFull(25 * 1024 * 1024), cli: 'Apply or discard what is under review, make the task write less (large outputs belong outside /workspace), or raise the limit with --max-store-size.' },
  'changeSet.invalidId': {
    error: () => {
      const { changeSets, changeSet } = storedChangeSets();
      return airlockErrorFrom(() => changeSets.load(changeSet.task, changeSet.id.slice(0, 8)));
    },
    cli: 'Give the id `airlock diff` printed (at least 32 hex characters).',
  },
  'changeSet.notFound': {
    error: () => {
      const { changeSets, changeSet } = storedChangeSets();
      return airlockErrorFrom(() => changeSets.load(changeSet.task, '0'.repeat(64)));
    },
    cli: FRESH_DIFF,
  },
  'changeSet.tampered': {
    error: () => {
      const { changeSets, changeSet } = storedChangeSets();
      const file = path.join(changeSets.dir, `${changeSet.id}.json`);
      fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), createdAt: 'x', files: [] }));
      return airlockErrorFrom(() => changeSets.load(changeSet.task, changeSet.id));
    },
    cli: FRESH_DIFF,
  },
  'apply.contentGone': { error: built('apply.contentGone', "Review the task's changes again, then apply those.", { field: 'changeSet', actions: [{ kind: 'reviewChanges', task: TASK }] }), cli: FRESH_DIFF },
  'apply.nothingToApply': { error: built('apply.nothingToApply', "Review the task's changes.", { field: 'paths', actions: [{ kind: 'reviewChanges', task: TASK }] }), cli: 'Check with `airlock diff ID`.' },
  'apply.notRolledBack': { error: built('apply.notRolledBack', 'Undo the last apply of this task to restore the host from its undo record.', { actions: [{ kind: 'undoApply', task: TASK }] }), cli: 'Run `airlock undo ID` to restore from the undo record.' },
  'undo.notRolledBack': { error: built('undo.notRolledBack', 'Undo the last apply of this task to restore the host from its undo record.', { actions: [{ kind: 'undoApply', task: TASK }] }), cli: 'Run `airlock undo ID` to restore from the undo record.' },
  'undo.hostEdited': { error: built('undo.hostEdited', 'Nothing was changed. Undo can restore those paths anyway, discarding the edits.', { actions: [{ kind: 'undoApply', task: TASK, overwriteHostEdits: true }] }), cli: 'Nothing was changed. Use --force to restore those paths anyway.' },

  'push.notFromCommit': { error: built('push.notFromCommit', 'Push needs a repository with at least one commit; apply the changes instead.', { field: 'ID', actions: [{ kind: 'reviewChanges', task: TASK }] }), cli: 'Push needs a repository with at least one commit; apply the changes instead (`airlock apply ID`).' },
  'push.noRemote': { error: built('push.noRemote', 'Add it (git remote add upstream URL) or name another remote.', { field: 'remote', actions: [{ kind: 'retryPush', task: TASK, change: 'remote' }] }), cli: 'Add it (git remote add upstream URL) or name another with --remote.' },
  'push.branchCheckedOut': { error: built('push.branchCheckedOut', 'Name a new branch.', { field: 'branch', actions: [{ kind: 'retryPush', task: TASK, change: 'branch' }] }), cli: NEW_BRANCH },
  'push.branchExists': { error: built('push.branchExists', 'Name a new branch (or delete the old one).', { field: 'branch', actions: [{ kind: 'retryPush', task: TASK, change: 'branch' }] }), cli: 'Name a new branch with --branch (or delete the old one).' },
  'push.remoteBranchExists': { error: built('push.remoteBranchExists', 'Name a new branch.', { field: 'branch', actions: [{ kind: 'retryPush', task: TASK, change: 'branch' }] }), cli: NEW_BRANCH },
  'push.branchNotCreated': { error: built('push.branchNotCreated', 'Name a new branch.', { field: 'branch', actions: [{ kind: 'retryPush', task: TASK, change: 'branch' }] }), cli: NEW_BRANCH },
  'push.pathsRefused': {
    error: built('push.pathsRefused', "Name only paths the task's changes list; risky ones must each be chosen; refused ones are never pushed.", { field: 'paths', actions: [{ kind: 'reviewChanges', task: TASK }] }),
    cli: 'Name only paths `airlock diff ID` lists; risky ones need --allow-risky PATH; refused ones are never pushed.',
  },
  'push.nothingToPush': { error: built('push.nothingToPush', "Review the task's changes.", { field: 'ID', actions: [{ kind: 'reviewChanges', task: TASK }] }), cli: 'Check with `airlock diff ID`.' },
  'push.contentMissing': { error: built('push.contentMissing', "Review the task's changes again, then push.", { field: 'ID', actions: [{ kind: 'reviewChanges', task: TASK }] }), cli: 'Run `airlock diff ID` again, then push.' },
};

describe("the CLI's wording of core errors (unit)", () => {
  after(removeTempDirs);

  test('every code the CLI words has a case here, and no case is for a code it does not word', () => {
    assert.deepEqual([...CLI_WORDED_CODES].sort(), Object.keys(CASES).sort());
  });

  for (const [code, { error: raise, cli }] of Object.entries(CASES)) {
    test(`${code}: the CLI prints its old hint, the core's own hint and message have no CLI words`, () => {
      const error = raise();
      assert.equal(error.code, code);
      assert.equal(cliHint(error), cli);
      assert.ok(error.hint, 'the core has a neutral hint of its own');
      assert.equal(cliWords(error.hint), undefined, `core hint: ${error.hint}`);
      assert.equal(cliWords(error.message), undefined, `core message: ${error.message}`);
      assert.equal(describeError(error, cliWording).split('\n  → ')[1], cli);
    });
  }

  test('push.nothingToPush with risky files held back points at choosing them', () => {
    const error = new AirlockError('push: nothing', { code: 'push.nothingToPush', hint: 'Risky files must each be chosen; refused files are never pushed.', actions: [{ kind: 'chooseRiskyPaths', task: TASK, paths: ['.envrc'] }] });
    assert.equal(cliHint(error), 'Risky files need --allow-risky PATH each; refused files are never pushed.');
    assert.equal(cliWords(error.hint!), undefined);
  });

  test("any other error's hint is the core's own, word for word", () => {
    const error = new AirlockError('x', { code: 'workspace.partialClone', hint: 'Run `git fetch --refetch` first.' });
    assert.equal(cliHint(error), 'Run `git fetch --refetch` first.');
    assert.equal(cliHint(new AirlockError('x', 'an old-style hint')), 'an old-style hint');
    assert.equal(cliHint(new AirlockError('x', { code: 'task.ambiguousId' })), undefined);
  });

  test('a message that begins with a field the CLI takes as a flag reads as the flag; the core keeps the neutral name', () => {
    const { changeSets, changeSet } = storedChangeSets();
    const error = airlockErrorFrom(() => changeSets.load(changeSet.task, 'abcd1234'));
    assert.equal(error.field, 'changeSet');
    assert.match(error.message, /^changeSet: "abcd1234" is not a change set id$/);
    assert.equal(describeError(error, cliWording), '--change-set: "abcd1234" is not a change set id\n  → Give the id `airlock diff` printed (at least 32 hex characters).');
    assert.match(describeError(error), /^changeSet: "abcd1234" is not a change set id\n {2}→ Give the change set id the review showed/);
    const exec = airlockErrorFrom(() => buildSandboxEnv({ envPassthrough: [], env: { API_KEY: 'x' }, allowSecretEnv: [] }, {}, 'commandEnv'));
    assert.match(describeError(exec, cliWording), /^--env: API_KEY looks like a secret/);
    assert.equal(cliField('workspace'), undefined, 'fields the CLI names the same way stay as they are');
    const start = airlockErrorFrom(() => buildSandboxEnv({ envPassthrough: [], env: { API_KEY: 'x' }, allowSecretEnv: [] }, {}));
    assert.match(describeError(start, cliWording), /^env: API_KEY looks like a secret/);
  });
});
