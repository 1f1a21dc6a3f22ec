import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import Docker from 'dockerode';
import { cliRequest, formatRequest, reviewCommand } from '../../src/cli/approvalCommands.js';
import { cliApplyReport, cliChangeSummary, cliChangeWording, cliField, cliHint, cliPathNotes, cliRefusal, cliWarning, cliWorded, cliWording, CLI_WORDED_CODES } from '../../src/cli/errorHints.js';
import { ApprovalBoard } from '../../src/core/approvals/approvalBoard.js';
import { applyChanges, PathsNotTaken, selectChanges } from '../../src/core/changes/applyChanges.js';
import { StoreFull } from '../../src/core/changes/blobStore.js';
import { formatChanges, type TaskChanges } from '../../src/core/changes/changeService.js';
import { identify, summarizeChange } from '../../src/core/changes/changeSet.js';
import { ChangeSetStore } from '../../src/core/changes/changeSetStore.js';
import { POLICY_FILE, policyForWorkspace } from '../../src/core/policy/policyLoader.js';
import { taskInputFromPolicy, type WarningDetails } from '../../src/core/policy/policyTask.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';
import { buildSandboxEnv } from '../../src/core/config/sandboxEnv.js';
import { parseTaskOptions } from '../../src/core/config/taskOptions.js';
import { AirlockError, describeError, type ErrorCode } from '../../src/core/ground/errors.js';
import { assertWorkspaceFolder } from '../../src/core/snapshot/workspaceListing.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';
import { changeSetFor, fakeBase, hostWorkspace } from '../helpers/fakeChangeSet.js';
import { cliWords } from '../helpers/frontEndWords.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

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
  'task.lost': {
    error: built('task.lost', 'Review and apply that change set if you want what the box had done, then start a new task.', { field: 'ID', actions: [{ kind: 'reviewChanges', task: TASK }, { kind: 'startTask' }] }),
    cli: `Review and apply that change set with \`airlock diff ${TASK} --change-set SET\` and \`airlock apply ${TASK} --change-set SET --yes\` (SET: the id above), then start a new task.`,
  },
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
    assert.equal(cliHint(new AirlockError('x', { code: 'test.unworded', hint: 'a hint the CLI has no words for' })), 'a hint the CLI has no words for');
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

describe("the CLI's wording of the core's other text: change reasons, warnings, request details (unit)", () => {
  after(removeTempDirs);

  const BASE = { 'script.sh': { content: '#!/bin/sh\n' }, 'a.txt': { content: 'a\n' } };
  const NOW = { 'script.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 }, 'a.txt': { content: 'A\n' }, 'big.bin': { content: Buffer.alloc(3000, 0x61) } };
  /** A change set with a risky file (a new exec bit), a file over the 2 KB limit and a plain edit. */
  const scenario = () => {
    const fixture = fakeBase(BASE);
    const changeSet = identify(changeSetFor(fixture, NOW, { maxFileBytes: 2048 }));
    return { fixture, changeSet, byPath: (rel: string) => changeSet.files.find((change) => change.path === rel)! };
  };

  test('a file over the size limit: the core says to raise the limit, the CLI names --max-file-size in the diff, diff --json and apply', () => {
    const { fixture, changeSet, byPath } = scenario();
    const big = byPath('big.bin');
    const refusal = big.refusal ?? '';
    assert.equal(refusal, '2.9 KB is over the per-file limit of 2 KB (raise the limit to take it)');
    assert.equal(cliWords(refusal), undefined);
    assert.equal(cliRefusal(refusal), '2.9 KB is over the per-file limit of 2 KB (raise it with --max-file-size)');
    assert.equal(cliChangeSummary(big).refusal, '2.9 KB is over the per-file limit of 2 KB (raise it with --max-file-size)');
    assert.deepEqual(Object.keys(cliChangeSummary(big)), Object.keys(summarizeChange(big)), 'the same fields in the same order');
    assert.deepEqual(cliChangeSummary(byPath('a.txt')), summarizeChange(byPath('a.txt')));
    const changes = { changeSet, content: fixture.content, record: { id: changeSet.task } as TaskRecord } satisfies TaskChanges;
    assert.match(formatChanges(changes), /^never applied: 2\.9 KB is over the per-file limit of 2 KB \(raise the limit to take it\)$/m);
    assert.match(formatChanges(changes, undefined, cliChangeWording), /^never applied: 2\.9 KB is over the per-file limit of 2 KB \(raise it with --max-file-size\)$/m);
    const named = selectChanges(changeSet.files, { paths: ['big.bin'] });
    assert.deepEqual(cliPathNotes(named.refused), [{ path: 'big.bin', reason: '2.9 KB is over the per-file limit of 2 KB (raise it with --max-file-size)' }]);
  });

  test('only the over-the-limit refusal is reworded: another refusal that ends the same way stays as the core wrote it', () => {
    const spoof = 'a symlink that points outside the workspace (x) (raise the limit to take it)';
    assert.equal(cliRefusal(spoof), spoof);
  });

  test('a risky file, held back or named: the core says it needs a choice of its own, the CLI names --allow-risky PATH', () => {
    const { fixture, changeSet } = scenario();
    const blanket = applyChanges({ root: hostWorkspace(fixture), changeSet, content: fixture.content, blobs: fixture.blobs, journal: fixture.journal });
    const heldRisky = blanket.held.find((note) => note.path === 'script.sh')!;
    assert.deepEqual(heldRisky, { path: 'script.sh', reason: 'risky: exec bit is new (choose it on its own to take it)', code: 'riskyHeld' });
    const printed = cliApplyReport(blanket);
    assert.deepEqual(printed.held.map((note) => note.path), blanket.held.map((note) => note.path));
    assert.deepEqual(Object.fromEntries(printed.held.map((note) => [note.path, note])), {
      'script.sh': { path: 'script.sh', reason: 'risky: exec bit is new (choose it with --allow-risky script.sh)' },
      'big.bin': { path: 'big.bin', reason: '2.9 KB is over the per-file limit of 2 KB (raise it with --max-file-size)' },
    });
    assert.deepEqual({ ...printed, held: [] }, { ...blanket, held: [] }, 'the rest of the report is the core\'s');
    const named = selectChanges(changeSet.files, { paths: ['script.sh', 'gone.txt'] });
    assert.deepEqual(named.refused.map((note) => [note.path, note.code]), [['gone.txt', undefined], ['script.sh', 'riskyNotChosen']]);
    for (const note of [...blanket.held, ...named.refused]) assert.equal(cliWords(note.reason), undefined, note.reason);
    assert.deepEqual(cliPathNotes(named.refused), [
      { path: 'gone.txt', reason: 'no such change in this task' },
      { path: 'script.sh', reason: 'risky: exec bit is new; it needs an explicit choice (--allow-risky script.sh)' },
    ]);
  });

  test("an error that lists the paths it did not take: neutral in the core; the CLI's copy has its reasons and the same code, hint and actions", () => {
    const { changeSet } = scenario();
    const { refused } = selectChanges(changeSet.files, { paths: ['script.sh'] });
    const error = new PathsNotTaken((notes) => `push: ${notes}`, refused, { code: 'push.pathsRefused', hint: "Name only paths the task's changes list.", field: 'paths', actions: [{ kind: 'reviewChanges', task: TASK }] });
    assert.equal(error.message, 'push: script.sh: risky: exec bit is new; it needs an explicit choice');
    const worded = cliWorded(error) as AirlockError;
    assert.equal(worded.message, 'push: script.sh: risky: exec bit is new; it needs an explicit choice (--allow-risky script.sh)');
    assert.deepEqual([worded.code, worded.hint, worded.field, worded.actions], [error.code, error.hint, error.field, error.actions]);
    assert.match(describeError(worded, cliWording), /^push: script\.sh: .* \(--allow-risky script\.sh\)\n {2}→ Name only paths `airlock diff ID` lists;/);
    const other = new AirlockError('x', { code: 'task.notFound' });
    assert.equal(cliWorded(other), other, 'any other error is printed as it is');
    const newline = new PathsNotTaken((notes) => `apply: nothing to apply (${notes})`, [{ path: 'a\nairlock: forged', reason: 'no such change in this task' }], { code: 'apply.nothingToApply' });
    assert.equal(newline.message.split('\n').length, 1, 'a box-chosen name cannot start a line of its own');
  });

  test('ignored loosenings: the core warns with the acceptPolicy action; the CLI adds `airlock policy accept` where it always did', async () => {
    const workspace = makeTempDir('airlock-hints-ws-');
    writeFiles(workspace, { [POLICY_FILE]: '{ "network": { "agent": { "allow": ["registry.npmjs.org"] } } }\n' });
    const state = policyForWorkspace({ workspace, stateDir: makeTempDir('airlock-hints-state-'), trusted: true, env: {} });
    const warnings: Array<{ message: string; details?: WarningDetails }> = [];
    // No devcontainer, no image user: nothing here asks the engine, so an unreachable one is enough.
    await taskInputFromPolicy(new Docker({ socketPath: path.join(workspace, 'no-engine.sock') }), workspace, state, {}, {}, { onWarning: (message, details) => warnings.push({ message, details }) });
    const ignored = warnings.find((warning) => warning.details?.code === 'policy.loosensIgnored')!;
    assert.deepEqual(ignored.details?.actions, [{ kind: 'acceptPolicy', workspace }]);
    assert.equal(cliWords(ignored.message), undefined, ignored.message);
    assert.equal(ignored.message.split('\n')[0], `${path.join(workspace, POLICY_FILE)} loosens these, which are ignored until you accept it:`);
    const printed = cliWarning(ignored.message, ignored.details);
    assert.equal(printed.split('\n')[0], `${path.join(workspace, POLICY_FILE)} loosens these, which are ignored until you accept it (airlock policy accept):`);
    assert.deepEqual(printed.split('\n').slice(1), ignored.message.split('\n').slice(1));
    assert.match(printed, /^ {2}network\.agent\.allow: registry\.npmjs\.org /m);
    assert.equal(cliWarning('devcontainer remoteUser: left out'), 'devcontainer remoteUser: left out', 'other warnings are printed as they are');
  });

  test("an apply request holds its change set's id; the CLI lists it with the command that shows it, where `review` always was", () => {
    const changeSet = 'c'.repeat(64);
    const request = { id: 'abcdef123456', task: TASK, kind: 'apply', subject: 'apply 1 change(s) to /w', reason: 'writes to the host workspace', createdAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString(), details: { workspace: '/w', changeSet, files: ['modified a.txt sha256:x'] } } as const;
    assert.equal(reviewCommand(request), `airlock diff ${TASK} --change-set ${changeSet}`);
    const shown = cliRequest(request);
    assert.deepEqual(Object.entries(shown.details ?? {}), [['workspace', '/w'], ['changeSet', changeSet], ['review', `airlock diff ${TASK} --change-set ${changeSet}`], ['files', ['modified a.txt sha256:x']]]);
    assert.match(formatRequest(request), new RegExp(`\n {2}changeSet: ${changeSet}\n {2}review: airlock diff ${TASK} --change-set ${changeSet}\n {2}files:\n {4}modified a\\.txt sha256:x$`));
    const stored = { ...request, details: { ...request.details, review: 'as stored' } };
    assert.equal(cliRequest(stored), stored, 'a request stored with its own review command keeps it');
    const push = { ...request, kind: 'push', details: { changeSet } } as const;
    assert.equal(reviewCommand(push), undefined);
    assert.equal(cliRequest(push), push);
  });
});
