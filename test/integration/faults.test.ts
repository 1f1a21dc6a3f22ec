import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { ApplyJournal } from '../../src/core/changes/applyJournal.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { airlockLeftovers, hostTree, startTask } from '../helpers/changeFixtures.js';
import { launchNode } from '../helpers/cliProcess.js';
import { labelled, realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * Faults a user meets in a long session, each against the real engine, each saying what the user
 * sees and what is kept. Here: a front end killed part-way through an apply. The host is never left
 * half-applied, the next front end puts it back (and says so), nothing is written twice, and a
 * put-back that would lose a host edit made since is refused instead of done.
 */

after(removeTempDirs);

const REPO = process.cwd();
const FILES = 40;
const KILL_AFTER = 12;

const workspaceFiles = () => Object.fromEntries(Array.from({ length: FILES }, (_, index) => [`src/f${String(index).padStart(2, '0')}.txt`, `host ${index}\n`]));

/** A front end SIGKILLed after `KILL_AFTER` host paths of its apply have moved (test/fixtures/faults/killedApply.ts). */
async function killedApply(stateRoot: string, task: string): Promise<{ signal: string | null; output: string }> {
  const result = await launchNode(['--import', 'tsx', path.join(REPO, 'test/fixtures/faults/killedApply.ts'), stateRoot, task, String(KILL_AFTER)], { timeoutMs: 120_000 }).result;
  return { signal: result.signal ?? null, output: result.stdout + result.stderr };
}

/** `airlock diff ID` from source, as a user's next command after the crash. */
function cliDiff(stateRoot: string, task: string) {
  return launchNode(['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), 'diff', task], { env: { AIRLOCK_STATE_DIR: stateRoot, AIRLOCK_DAEMON: '0' }, timeoutMs: 120_000 }).result;
}

describe('a front end killed mid-apply (integration)', () => {
  test('the next command puts the half-written host back and says so; a fresh apply then writes every file once', { timeout: 300_000 }, async (t) => {
    const workspace = makeTempDir('airlock-fault-apply-');
    writeFiles(workspace, workspaceFiles());
    const task = await startTask(t, workspace);
    if (!task) return;
    const before = hostTree(workspace);
    await task.sh(`for f in src/*.txt; do echo "box edit of $f" > "$f"; done`);

    const killed = await killedApply(task.service.store.root, task.id);
    assert.equal(killed.signal, 'SIGKILL', `the front end died mid-apply: ${killed.output}`);
    const journal = new ApplyJournal(task.service.store.changeFiles(task.id).journalDir);
    assert.equal(journal.last()?.status, 'pending', 'its undo record says it never finished');
    const halfWritten = Object.entries(hostTree(workspace)).filter(([rel, state]) => rel.startsWith('src/') && before[rel] !== state).length;
    assert.ok(halfWritten > 0 && halfWritten < FILES, `the host is half-applied (${halfWritten} of ${FILES} changed)`);
    assert.ok(airlockLeftovers(workspace).length > 0, 'and holds the staged files of the rest');

    const next = await cliDiff(task.service.store.root, task.id);
    assert.equal(next.status, 0, next.stderr);
    assert.match(next.stderr, /^airlock: an earlier apply \(\S+\) was cut short; the \d+ path\(s\) it had written were put back as they were$/m);
    assert.deepEqual(hostTree(workspace), before, 'the host is exactly as before the interrupted apply');
    assert.deepEqual(airlockLeftovers(workspace), [], 'no staged files left in the workspace');
    const audit = task.service.store.audit(task.id).records();
    const recovered = audit.filter((entry) => entry.type === 'changes.recovered');
    assert.equal(recovered.length, 1);
    assert.ok(Array.isArray(recovered[0].restored) && recovered[0].restored.length === halfWritten, JSON.stringify(recovered[0]));
    assert.equal(fs.existsSync(path.join(task.service.store.taskDir(task.id), 'apply.lock')), false, "the dead front end's lock is gone");

    // The box's change set is untouched by all this: applying it now writes each file once.
    const { report } = await task.changes.apply(task.id, {});
    assert.equal(report.written.filter((item) => item.action === 'write').length, FILES);
    for (let index = 0; index < FILES; index++) {
      const rel = `src/f${String(index).padStart(2, '0')}.txt`;
      assert.equal(fs.readFileSync(path.join(workspace, rel), 'utf8'), `box edit of ${rel}\n`);
    }
    assert.deepEqual(journal.all().map((record) => record.status), ['undone', 'applied'], 'one put back, one whole apply');
  });

  test('a host edit made after the crash is never overwritten: the put-back and new applies are refused, naming the file', { timeout: 300_000 }, async (t) => {
    const workspace = makeTempDir('airlock-fault-edited-');
    writeFiles(workspace, workspaceFiles());
    const task = await startTask(t, workspace);
    if (!task) return;
    await task.sh(`for f in src/*.txt; do echo "box edit of $f" > "$f"; done`);
    const killed = await killedApply(task.service.store.root, task.id);
    assert.equal(killed.signal, 'SIGKILL');
    const journal = new ApplyJournal(task.service.store.changeFiles(task.id).journalDir);
    const written = (journal.last()?.steps ?? []).map((step) => step.path).find((rel) => fs.readFileSync(path.join(workspace, rel), 'utf8').startsWith('box edit'));
    assert.ok(written, 'a path the killed apply had written');
    fs.writeFileSync(path.join(workspace, written), 'the user kept working\n');

    const next = await cliDiff(task.service.store.root, task.id);
    assert.equal(next.status, 0, next.stderr);
    assert.match(next.stderr, new RegExp(`^airlock: warning: task ${task.id}: an earlier apply \\(\\S+\\) was interrupted part-way, and putting it back would lose host edits made since \\(${written.replace(/[.]/g, '\\.')}\\); nothing was changed`, 'm'));
    await assert.rejects(task.changes.apply(task.id, {}), (error: Error & { code?: string }) => error.code === 'apply.interrupted');
    assert.equal(fs.readFileSync(path.join(workspace, written), 'utf8'), 'the user kept working\n', "the user's edit stands");
    assert.deepEqual(airlockLeftovers(workspace), [], 'staged copies are removed all the same');
    assert.equal(journal.last()?.status, 'pending', 'still waiting for the person to decide');
  });
});

/** The CLI from source against `stateRoot`, as a user runs it. */
function cli(stateRoot: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000) {
  return launchNode(['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), ...args], { env: { AIRLOCK_STATE_DIR: stateRoot, AIRLOCK_DAEMON: '0', AIRLOCK_IMAGE: TEST_IMAGE, ...env }, timeoutMs }).result;
}

describe('the engine and the task going away under a front end (integration)', () => {
  test('an engine that does not answer at start: one message naming DOCKER_HOST, exit 1, and no record, container or volume left', { timeout: 120_000 }, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const stateRoot = makeTempDir('airlock-fault-noengine-');
    const workspace = makeTempDir('airlock-fault-noengine-ws-');
    writeFiles(workspace, { 'a.txt': 'a\n' });
    const before = (await engine.docker.listContainers({ all: true, filters: { label: ['airlock.task'] } })).length;
    const started = await cli(stateRoot, ['start', '--workspace', workspace], { DOCKER_HOST: 'unix:///nonexistent/airlock-fault.sock' });
    assert.equal(started.status, 1);
    // One message and its one hint, never a stack trace.
    assert.match(started.stderr, /^airlock: No container engine answered at unix:\/\/\/nonexistent\/airlock-fault\.sock \(DOCKER_HOST\): no socket there\n {2}→ [^\n]+\n$/);
    assert.deepEqual(fs.readdirSync(stateRoot).filter((name) => name !== 'daemon'), fs.existsSync(path.join(stateRoot, 'tasks')) ? ['tasks'] : []);
    if (fs.existsSync(path.join(stateRoot, 'tasks'))) assert.deepEqual(fs.readdirSync(path.join(stateRoot, 'tasks')), [], 'no task record');
    assert.equal((await engine.docker.listContainers({ all: true, filters: { label: ['airlock.task'] } })).length, before, 'nothing reached the engine');
  });

  test('two front ends stopping the same task at once: both end well, the end is recorded once, nothing is left', { timeout: 180_000 }, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const stateRoot = makeTempDir('airlock-fault-stop-');
    const workspace = makeTempDir('airlock-fault-stop-ws-');
    writeFiles(workspace, { 'a.txt': 'a\n' });
    const started = await cli(stateRoot, ['start', '--workspace', workspace, '--json']);
    assert.equal(started.status, 0, started.stderr);
    const id = (JSON.parse(started.stdout) as { id: string }).id;
    const [first, second] = await Promise.all([cli(stateRoot, ['stop', id]), cli(stateRoot, ['stop', id])]);
    assert.deepEqual([first.status, second.status], [0, 0], `${first.stderr}\n${second.stderr}`);
    assert.doesNotMatch(first.stderr + second.stderr, /^\s+at |error/im);
    assert.deepEqual(await labelled(engine, id), { containers: 0, volumes: 0 });
    const ends = new TaskStore(stateRoot).audit(id).records().filter((entry) => entry.type === 'task.destroyed');
    assert.equal(ends.length, 1, 'one record of the end');
  });

  test('the TTL ending the task during a long command: the command ends with a clear error, and the audit log on the host keeps it', { timeout: 180_000 }, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const stateRoot = makeTempDir('airlock-fault-ttl-');
    const workspace = makeTempDir('airlock-fault-ttl-ws-');
    writeFiles(workspace, { 'a.txt': 'a\n' });
    const started = await cli(stateRoot, ['start', '--workspace', workspace, '--ttl', '8', '--json']);
    assert.equal(started.status, 0, started.stderr);
    const id = (JSON.parse(started.stdout) as { id: string }).id;
    const long = await cli(stateRoot, ['exec', id, '--', 'sh', '-c', 'echo started; sleep 600'], {}, 120_000);
    assert.equal(long.status, 137, 'killed with the box');
    assert.match(long.stdout, /^started$/m);
    assert.match(long.stderr, new RegExp(`^airlock: task ${id} ended while the command ran \\(ttl expired\\); the command was killed with it\\. Start a new task to go on\\.$`, 'm'));
    assert.doesNotMatch(long.stderr, /^\s+at /m);
    assert.ok(long.ms < 60_000, `it ended with the task, not at its own timeout (${long.ms} ms)`);
    const records = new TaskStore(stateRoot).audit(id).records();
    assert.ok(records.some((entry) => entry.type === 'task.created'), 'the log outlives the box');
    assert.ok(records.some((entry) => entry.type === 'command' && entry.taskEnded === 'ttl expired' && entry.exitCode === 137), 'the command is recorded, with why it ended');
    assert.equal(records.filter((entry) => entry.type === 'task.destroyed').length, 1, 'the end is recorded once');
    const after = await cli(stateRoot, ['exec', id, '--', 'true']);
    assert.notEqual(after.status, 0);
    assert.match(after.stderr, /ttl expired|destroyed|ended/i);
  });
});

describe("a command turning on the task's runner (integration)", () => {
  test("a command that stops the runner cannot outlive its timeout: the host's own kill ends its whole tree", { timeout: 180_000 }, async (t) => {
    const workspace = makeTempDir('airlock-fault-runner-');
    writeFiles(workspace, { 'a.txt': 'a\n' });
    const task = await startTask(t, workspace);
    if (!task) return;
    // The runner runs as the sandbox user, so the command may SIGSTOP it: it then neither kills nor reports.
    const started = Date.now();
    const result = await task.service.exec(task.id, { argv: ['sh', '-c', 'grep -q supervisor /proc/$PPID/cmdline && kill -STOP $PPID; sleep 1234 & sleep 1235'], timeoutMs: 3000, backend: 'auto' });
    assert.equal(result.backend, 'supervisor');
    assert.equal(result.timedOut, true);
    assert.equal(result.exitCode, 124);
    assert.ok(Date.now() - started < 30_000, `the wait ended (${Date.now() - started} ms)`);
    assert.equal((await task.sh('for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done | grep -c "^sleep 123[45]" || true')).trim(), '0', 'no process of the command is left');
  });
});
