import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { ApprovalRequest } from '../../src/core/approvals/approvalQueue.js';
import { launchNode, osUser as ME, type Running, until } from '../helpers/cliProcess.js';
import { realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * `airlock push` against a bare repository on this machine as origin: one commit of the task's
 * files on its base commit, a new branch, nothing on the remote until a reviewer approves that
 * commit, and the host's checkout never touched.
 */

const BUNDLE = path.resolve('dist/cli.js');
const SLOW = { timeout: 120_000 };
/** No user or system git configuration: the identity comes from the repository's own config. */
const GIT_ENV: NodeJS.ProcessEnv = { GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };

/** The bundled CLI, never blocking this process, always with a hard timeout. */
function airlockBg(state: string, args: string[], timeoutMs = 90_000): Running {
  return launchNode([BUNDLE, ...args], { env: { ...GIT_ENV, AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE }, timeoutMs });
}

const airlock = (state: string, args: string[], timeoutMs = 90_000) => airlockBg(state, args, timeoutMs).result;

/** Host git (a local process, never served by this one), with a timeout. */
function git(cwd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, ...GIT_ENV }, timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function gitOk(cwd: string, ...args: string[]): string {
  const result = git(cwd, ...args);
  assert.equal(result.status, 0, `git ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** `git ls-remote --heads` of the bare origin: branch name → commit. */
function remoteHeads(origin: string): Record<string, string> {
  const heads: Record<string, string> = {};
  for (const line of gitOk(origin, 'ls-remote', '--heads', origin).split('\n').filter(Boolean)) {
    const [commit, ref] = line.split('\t');
    heads[ref.replace(/^refs\/heads\//, '')] = commit;
  }
  return heads;
}

const engineForHook = () => realEngine({ skip: () => undefined } as unknown as TestContext);

before(() => {
  assert.ok(fs.existsSync(BUNDLE), 'dist/cli.js is missing: run `npm run build` first');
});

after(() => removeTempDirs());

describe('`airlock push` to a bare repository on this machine (integration)', () => {
  let state = '';
  let origin = '';
  let workspace = '';
  let id = '';
  /** The commit the task started from (main on the host and on origin at `start`). */
  let base = '';

  before(async () => {
    if (!(await engineForHook())) return;
    const root = makeTempDir('airlock-push-');
    state = path.join(root, 'state');
    origin = path.join(root, 'origin.git');
    workspace = path.join(root, 'workspace');
    gitOk(root, 'init', '-q', '--bare', '-b', 'main', origin);
    gitOk(root, 'init', '-q', '-b', 'main', workspace);
    gitOk(workspace, 'config', 'user.name', 'Push Test');
    gitOk(workspace, 'config', 'user.email', 'push-test@example.invalid');
    gitOk(workspace, 'config', 'commit.gpgsign', 'false');
    writeFiles(workspace, { 'README.md': 'original\n', 'src/keep.txt': 'keep\n', 'src/old.txt': 'to be removed\n' });
    gitOk(workspace, 'add', '-A');
    gitOk(workspace, 'commit', '-q', '-m', 'initial');
    gitOk(workspace, 'remote', 'add', 'origin', origin);
    gitOk(workspace, 'push', '-q', 'origin', 'main');
    base = gitOk(workspace, 'rev-parse', 'HEAD').trim();

    const started = await airlock(state, ['start', '--workspace', workspace, '--image', TEST_IMAGE, '--ttl', '900', '--approval-timeout', '30']);
    assert.equal(started.status, 0, started.stderr);
    id = started.stdout.trim();
    assert.match(id, /^[0-9a-f]{12}$/);
    const edit = await airlock(state, ['exec', id, '--', 'sh', '-c', 'printf "changed in the task\\n" > README.md && printf "new in the task\\n" > added.txt && rm src/old.txt && mkdir -p .github/workflows && printf "on: push\\n" > .github/workflows/x.yml']);
    assert.equal(edit.status, 0, edit.stderr);

    // The host moves on after the task started; the push must still build on the task's base.
    writeFiles(workspace, { 'host-only.txt': 'committed on the host later\n' });
    gitOk(workspace, 'add', 'host-only.txt');
    gitOk(workspace, 'commit', '-q', '-m', 'host moved on');
  });

  after(async () => {
    if (!id) return;
    const stopped = await airlock(state, ['stop', id]);
    assert.equal(stopped.status, 0, `stop ${id}: ${stopped.stderr}`);
  });

  /** What the host's checkout looks like: must not change while pushing. */
  const hostState = () => ({
    status: gitOk(workspace, 'status', '--porcelain', '--untracked-files=all'),
    branch: gitOk(workspace, 'symbolic-ref', '--short', 'HEAD').trim(),
    head: gitOk(workspace, 'rev-parse', 'HEAD').trim(),
    index: gitOk(workspace, 'ls-files', '--stage'),
    readme: fs.readFileSync(path.join(workspace, 'README.md'), 'utf8'),
  });

  /** Starts `airlock push` in the background and waits for its approval request. */
  async function pushWaiting(args: string[]): Promise<{ running: Running; request: ApprovalRequest }> {
    const running = airlockBg(state, ['push', id, ...args]);
    let request: ApprovalRequest | undefined;
    const appeared = await until(async () => {
      if (running.child.exitCode !== null) return true;
      const listed = await airlock(state, ['approvals', '--json', '--task', id]);
      assert.equal(listed.status, 0, listed.stderr);
      request = (JSON.parse(listed.stdout) as ApprovalRequest[]).find((item) => item.kind === 'push');
      return request !== undefined;
    }, 60_000);
    assert.ok(appeared && request, `no push request appeared; push said: ${running.stderr()}`);
    return { running, request };
  }

  const auditPush = async () => {
    const result = await airlock(state, ['audit', id]);
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>).filter((record) => record.type === 'push');
  };

  test('--branch naming the checked-out branch is refused before anything is committed or asked', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const refs = gitOk(workspace, 'for-each-ref');
    const refused = await airlock(state, ['push', id, '--branch', 'main', '--timeout', '30']);
    assert.equal(refused.status, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /^airlock: --branch: "main" is the branch checked out on the host/);
    assert.match(refused.stderr, /--branch/);
    assert.equal(gitOk(workspace, 'for-each-ref'), refs, 'no branch was made or moved');
    assert.deepEqual(remoteHeads(origin), { main: base });
    const listed = await airlock(state, ['approvals', '--json', '--task', id]);
    assert.deepEqual(JSON.parse(listed.stdout), []);
    assert.deepEqual(await auditPush(), []);
  });

  test('nothing reaches the remote until approval; then exactly the approved commit, on the base, with the task\'s files', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const hostBefore = hostState();
    assert.equal(hostBefore.status, '');
    const branch = `airlock/${id}`;
    const { running, request } = await pushWaiting(['--timeout', '30', '--json', '--message', 'Task changes']);

    assert.deepEqual(remoteHeads(origin), { main: base }, 'the remote has no airlock branch while the request waits');
    const details = request.details as { remote: string; url: string; branch: string; commit: string; base: string; files: string[] };
    assert.match(details.commit, /^[0-9a-f]{40}$/);
    assert.equal(details.base, base);
    assert.equal(details.branch, branch);
    assert.equal(details.remote, 'origin');
    assert.equal(details.url, origin);
    assert.deepEqual([...details.files].sort(), ['A added.txt', 'D src/old.txt', 'M README.md'], 'the risky workflow file is held back');
    assert.equal(request.subject, `git push origin ${details.commit}:refs/heads/${branch}`);
    assert.deepEqual(hostState(), hostBefore, 'working tree, index, HEAD and branch are untouched');
    assert.equal(gitOk(workspace, 'rev-parse', `refs/heads/${branch}`).trim(), details.commit, 'the new host branch holds the commit under review');
    assert.match(running.stderr(), new RegExp(`waiting for approval ${request.id}`));

    // A push is approved for its own commit only.
    const wide = await airlock(state, ['approve', request.id, '--scope', 'task']);
    assert.equal(wide.status, 2);
    assert.match(wide.stderr, /--scope task is not offered for a push/);
    assert.equal(running.child.exitCode, null, 'still waiting');

    const approved = await airlock(state, ['approve', request.id]);
    assert.equal(approved.status, 0, approved.stderr);
    const pushed = await running.result;
    assert.equal(pushed.status, 0, pushed.stderr);
    const report = JSON.parse(pushed.stdout) as { pushed: boolean; commit: string; branch: string; base: string; request: string; held: Array<{ path: string }>; decision: { by: string; decision: string } };
    assert.equal(report.pushed, true);
    assert.equal(report.commit, details.commit);
    assert.equal(report.request, request.id);
    assert.deepEqual([report.decision.decision, report.decision.by], ['allow', ME]);
    assert.deepEqual(report.held.map((item) => item.path), ['.github/workflows/x.yml']);

    const commit = details.commit;
    assert.deepEqual(remoteHeads(origin), { main: base, [branch]: commit }, 'the remote branch is exactly the approved commit');
    assert.equal(gitOk(origin, 'rev-list', '--parents', '-n', '1', commit).trim(), `${commit} ${base}`, 'one parent: the base');
    assert.equal(gitOk(origin, 'show', `${commit}:README.md`), 'changed in the task\n');
    assert.equal(gitOk(origin, 'show', `${commit}:added.txt`), 'new in the task\n');
    assert.equal(gitOk(origin, 'show', `${commit}:src/keep.txt`), 'keep\n');
    assert.notEqual(git(origin, 'cat-file', '-e', `${commit}:src/old.txt`).status, 0, 'the deleted file is gone');
    assert.notEqual(git(origin, 'cat-file', '-e', `${commit}:.github/workflows/x.yml`).status, 0, 'the held-back file is not in the commit');
    assert.notEqual(git(origin, 'cat-file', '-e', `${commit}:host-only.txt`).status, 0, 'the host\'s later commit is not under it');
    assert.equal(gitOk(origin, 'diff-tree', '--no-commit-id', '--name-status', '-r', base, commit), 'M\tREADME.md\nA\tadded.txt\nD\tsrc/old.txt\n');
    const message = gitOk(origin, 'log', '-1', '--format=%B', commit);
    assert.match(message, /^Task changes\n/);
    assert.match(message, new RegExp(`Airlock-Task: ${id}`));
    assert.equal(gitOk(origin, 'log', '-1', '--format=%an <%ae>', commit).trim(), 'Push Test <push-test@example.invalid>', 'the host repository\'s identity');

    assert.deepEqual(hostState(), hostBefore, 'the host checkout is still untouched');
    const events = (await auditPush()).map((record) => [record.event, record.commit, record.branch]);
    assert.deepEqual(events, [['committed', commit, branch], ['pushed', commit, branch]]);
  });

  test('a denied push (and one nobody answers) pushes nothing and removes its host branch', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const hostBefore = hostState();
    const remoteBefore = remoteHeads(origin);
    const { running, request } = await pushWaiting(['--branch', 'other', '--timeout', '30']);
    assert.equal((request.details as { branch: string }).branch, 'other');
    assert.equal(git(workspace, 'rev-parse', '--verify', '--quiet', 'refs/heads/other').status, 0, 'the branch exists while under review');
    const denied = await airlock(state, ['deny', request.id, '--reason', 'not this one']);
    assert.equal(denied.status, 0, denied.stderr);
    const refused = await running.result;
    assert.equal(refused.status, 1, refused.stderr);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, new RegExp(`push refused: denied by ${ME}: not this one; nothing was pushed and branch other was removed`));
    assert.deepEqual(remoteHeads(origin), remoteBefore, 'the remote has no such branch');
    assert.notEqual(git(workspace, 'rev-parse', '--verify', '--quiet', 'refs/heads/other').status, 0, 'the host branch was removed');
    assert.deepEqual(hostState(), hostBefore);

    const unanswered = await airlock(state, ['push', id, '--branch', 'unanswered', '--timeout', '1'], 60_000);
    assert.equal(unanswered.status, 1, unanswered.stderr);
    assert.match(unanswered.stderr, /push refused: no decision before the timeout; nothing was pushed and branch unanswered was removed/);
    assert.deepEqual(remoteHeads(origin), remoteBefore);
    assert.notEqual(git(workspace, 'rev-parse', '--verify', '--quiet', 'refs/heads/unanswered').status, 0);
    const events = (await auditPush()).filter((record) => record.branch === 'other' || record.branch === 'unanswered').map((record) => [record.branch, record.event]);
    assert.deepEqual(events, [['other', 'committed'], ['other', 'refused'], ['unanswered', 'committed'], ['unanswered', 'refused']]);
  });

  test('an existing branch (host or remote) is refused, naming --branch', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    // airlock/<id> was pushed above and is still on the host.
    const again = await airlock(state, ['push', id, '--timeout', '30']);
    assert.equal(again.status, 1);
    assert.match(again.stderr, new RegExp(`^airlock: --branch: the host already has a branch "airlock/${id}"`));
    // On the remote only:
    gitOk(workspace, 'push', '-q', 'origin', `${base}:refs/heads/taken`);
    const taken = await airlock(state, ['push', id, '--branch', 'taken', '--timeout', '30']);
    assert.equal(taken.status, 1);
    assert.match(taken.stderr, /^airlock: --branch: remote "origin" already has a branch "taken"/);
    assert.notEqual(git(workspace, 'rev-parse', '--verify', '--quiet', 'refs/heads/taken').status, 0, 'no host branch was left');
    assert.equal(remoteHeads(origin).taken, base, 'the remote branch was not moved');
    const listed = await airlock(state, ['approvals', '--json', '--task', id]);
    assert.deepEqual(JSON.parse(listed.stdout), []);
  });

  test('a risky file is held back unless --allow-risky names it; named, it is offered and pushed', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const risky = '.github/workflows/x.yml';
    const remoteBefore = remoteHeads(origin);
    // The host checkout is dirty this time: a staged edit and an untracked file stay exactly as they are.
    writeFiles(workspace, { 'src/keep.txt': 'staged on the host\n', 'scratch.txt': 'untracked on the host\n' });
    gitOk(workspace, 'add', 'src/keep.txt');
    const hostBefore = hostState();
    assert.equal(hostBefore.status, 'M  src/keep.txt\n?? scratch.txt\n');
    const named = await airlock(state, ['push', id, risky, '--branch', 'risky-refused', '--timeout', '30']);
    assert.equal(named.status, 1);
    assert.match(named.stderr, new RegExp(`--allow-risky ${risky.replace(/\./g, '\\.')}`));
    assert.deepEqual(remoteHeads(origin), remoteBefore);
    assert.notEqual(git(workspace, 'rev-parse', '--verify', '--quiet', 'refs/heads/risky-refused').status, 0);

    const { running, request } = await pushWaiting([risky, '--allow-risky', risky, '--branch', 'risky', '--timeout', '30', '--json']);
    const details = request.details as { commit: string; files: string[] };
    assert.deepEqual(details.files, [`A ${risky}`]);
    const approved = await airlock(state, ['approve', request.id]);
    assert.equal(approved.status, 0, approved.stderr);
    const pushed = await running.result;
    assert.equal(pushed.status, 0, pushed.stderr);
    assert.equal(remoteHeads(origin).risky, details.commit);
    assert.equal(gitOk(origin, 'diff-tree', '--no-commit-id', '--name-status', '-r', base, details.commit), `A\t${risky}\n`);
    assert.equal(gitOk(origin, 'show', `${details.commit}:${risky}`), 'on: push\n');
    assert.equal(gitOk(origin, 'show', `${details.commit}:README.md`), 'original\n', 'only the named path');
    assert.equal(gitOk(origin, 'show', `${details.commit}:src/keep.txt`), 'keep\n', 'the host\'s staged edit is not in the commit');
    assert.deepEqual(hostState(), hostBefore, 'the staged edit and the untracked file are as they were');
  });

  test(
    'a push killed with SIGTERM while it waits removes its host branch and withdraws its request, as Ctrl-C does',
    SLOW,
    async (t) => {
      if (!(await realEngine(t))) return;
      const { running, request } = await pushWaiting(['--branch', 'terminated', '--timeout', '30']);
      try {
        running.child.kill('SIGTERM');
        await running.result;
        const listed = await airlock(state, ['approvals', '--json', '--task', id]);
        assert.deepEqual((JSON.parse(listed.stdout) as ApprovalRequest[]).map((item) => item.id), [], 'the request is withdrawn (denied: the requester went away)');
        assert.notEqual(git(workspace, 'rev-parse', '--verify', '--quiet', 'refs/heads/terminated').status, 0, 'the host branch was removed');
      } finally {
        // Leave nothing behind for whoever runs next, whatever the outcome.
        await airlock(state, ['deny', request.id, '--reason', 'test cleanup']);
        git(workspace, 'branch', '-D', 'terminated');
      }
    },
  );
});
