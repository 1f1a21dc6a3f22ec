import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import type Docker from 'dockerode';
import { formatAuditLog } from '../../src/core/audit/auditText.js';
import { type HostMirror, type HostMirrorEvent, startHostMirror } from '../../src/core/changes/hostMirror.js';
import { DEFAULT_SECRET_FILE_PATTERNS } from '../../src/core/config/taskOptions.js';
import { nextEvent } from '../../src/core/ground/events.js';
import { changeFor, q, sha256, startTask, statusLines, type TaskFixture } from '../helpers/changeFixtures.js';
import { realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { initRepo, makeTempDir, removeTempDirs, runGit, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * The host → box mirror (issue 17 §3) against a real engine: host-side tools write the host's
 * files while commands run in the box, so the box must see those writes, the review must not show
 * them as the box's, secrets must never cross, and the box's own work must never be overwritten.
 */

const RUN = `${process.pid}-${Date.now().toString(36)}`;
const NO_NODE_IMAGE = `airlock-test-no-node:${RUN}`;

interface Mirrored {
  task: TaskFixture;
  mirror: HostMirror;
  events: HostMirrorEvent[];
  /** Resolves with the first `synced` event naming `rel` from now on. */
  synced(rel: string, timeoutMs?: number): Promise<HostMirrorEvent>;
}

/** A task on `files` (a git repository unless `plain`), with a running mirror disposed at the test's end. */
async function mirrored(t: TestContext, files: Record<string, string>, options: { plain?: boolean; task?: Parameters<typeof startTask>[2] } = {}): Promise<Mirrored | undefined> {
  const ws = makeTempDir('airlock-mirror-');
  if (options.plain) writeFiles(ws, files);
  else initRepo(ws, files);
  const task = await startTask(t, ws, options.task);
  if (!task) return undefined;
  const events: HostMirrorEvent[] = [];
  const mirror = await startHostMirror(task.service, task.id, { onEvent: (event) => events.push(event) });
  // Registered after startTask's teardown: runs first, so the mirror ends before the task does.
  t.after(async () => {
    mirror.dispose();
    await mirror.closed;
  });
  return {
    task,
    mirror,
    events,
    synced: (rel, timeoutMs = 5000) => nextEvent(mirror.onEvent, (event) => event.kind === 'synced' && event.paths.includes(rel), AbortSignal.timeout(timeoutMs)),
  };
}

const put = (root: string, rel: string, content: string | Buffer) => {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), content);
};

/** `path → content` for every listed path in the box, `-` for one that is not there. */
async function boxFiles(task: TaskFixture, rels: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of rels) out[rel] = (await task.sh(`if [ -f ${q(rel)} ]; then cat ${q(rel)}; else printf -; fi`)).toString();
  return out;
}

const pathsOf = (events: HostMirrorEvent[], kind: HostMirrorEvent['kind']) =>
  events.flatMap((event) => (event.kind === kind && 'paths' in event ? event.paths : [])).sort();

describe('the host → box workspace mirror (integration)', () => {
  after(removeTempDirs);
  after(async () => {
    const engine = noNodeEngine;
    if (engine) await engine.getImage(NO_NODE_IMAGE).remove({ force: true }).catch(() => undefined);
  });

  test('a host edit, a new file in new folders, a removal and a rename reach the box, each within a second', async (t) => {
    const m = await mirrored(t, { 'a.txt': 'one\n', 'docs/guide.md': '# guide\n', 'old.txt': 'old\n', 'keep.txt': 'keep\n' });
    if (!m) return;
    const { task, mirror } = m;
    const ws = task.workspace;

    const editStart = Date.now();
    const edited = m.synced('a.txt');
    put(ws, 'a.txt', 'two\n');
    await edited;
    const editMs = Date.now() - editStart;
    assert.equal((await task.sh('cat a.txt')).toString(), 'two\n');
    t.diagnostic(`one host edit reached the box in ${editMs} ms`);
    assert.ok(editMs < 1000, `the edit took ${editMs} ms`);

    const addStart = Date.now();
    const added = m.synced('new/deep/n.txt');
    put(ws, 'new/deep/n.txt', 'fresh\n');
    await added;
    const addMs = Date.now() - addStart;
    assert.ok(addMs < 1000, `the addition took ${addMs} ms`);

    const removeStart = Date.now();
    const removed = m.synced('old.txt');
    fs.rmSync(path.join(ws, 'old.txt'));
    await removed;
    assert.ok(Date.now() - removeStart < 1000);

    const renameStart = Date.now();
    const renamed = m.synced('docs/manual.md');
    fs.renameSync(path.join(ws, 'docs/guide.md'), path.join(ws, 'docs/manual.md'));
    await renamed;
    await mirror.idle();
    assert.ok(Date.now() - renameStart < 1000);
    t.diagnostic(`addition ${addMs} ms, removal and rename each under a second`);

    assert.deepEqual(await boxFiles(task, ['a.txt', 'new/deep/n.txt', 'old.txt', 'docs/guide.md', 'docs/manual.md', 'keep.txt']), {
      'a.txt': 'two\n',
      'new/deep/n.txt': 'fresh\n',
      'old.txt': '-',
      'docs/guide.md': '-',
      'docs/manual.md': '# guide\n',
      'keep.txt': 'keep\n',
    });
    // Owned by the sandbox user, folders included, as the copy is.
    assert.equal((await task.sh("find new new/deep new/deep/n.txt a.txt -maxdepth 0 -printf '%U:%G %m %p\\n'")).toString(), '1000:1000 755 new\n1000:1000 755 new/deep\n1000:1000 644 new/deep/n.txt\n1000:1000 644 a.txt\n');
    // Every batch is in the audit log, with the hashes of what was written.
    const records = task.service.store.audit(task.id).records().filter((record) => record.type === 'mirror');
    const written = records.flatMap((record) => (record.synced as Array<{ path: string; action: string; sha256?: string }>));
    assert.ok(written.some((item) => item.path === 'a.txt' && item.action === 'write' && item.sha256 === sha256('two\n')), JSON.stringify(written));
    assert.ok(written.some((item) => item.path === 'old.txt' && item.action === 'delete'));
    assert.match(formatAuditLog(records), /host edits carried into the box: 1 synced, 0 conflict\(s\), 0 skipped/);
    assert.deepEqual(pathsOf(m.events, 'conflict'), []);
    assert.deepEqual(m.events.filter((event) => event.kind === 'error'), []);
  });

  test('a secret file made on the host never reaches the box; ignored files and .git stay out too', async (t) => {
    const m = await mirrored(t, { 'a.txt': 'one\n', '.gitignore': 'build/\n*.log\n' }, { task: { secretFilePatterns: [...DEFAULT_SECRET_FILE_PATTERNS, 'private/'] } });
    if (!m) return;
    const { task, mirror } = m;
    const ws = task.workspace;
    const SECRET = 'sk-live-0123456789abcdef';
    put(ws, '.env', `TOKEN=${SECRET}\n`);
    put(ws, 'keys/id_rsa', `-----BEGIN OPENSSH PRIVATE KEY-----\n${SECRET}\n`);
    put(ws, 'private/notes.txt', `${SECRET}\n`);
    put(ws, 'config/.npmrc', `//registry.npmjs.org/:_authToken=${SECRET}\n`);
    put(ws, 'clean/.npmrc', 'save-exact=true\n');
    put(ws, 'build/out.js', 'built\n');
    put(ws, 'debug.log', 'log line\n');
    put(ws, 'visible.txt', 'visible\n');
    const done = m.synced('visible.txt');
    await done;
    await mirror.idle();
    // .git on the host changes; the box keeps its own history.
    const boxCommits = (await task.sh('git rev-list --count HEAD')).toString();
    runGit(ws, 'add', 'a.txt');
    runGit(ws, 'commit', '-q', '-m', 'host commit', '--allow-empty');
    put(ws, '.git/hooks/post-commit', '#!/bin/sh\necho hook\n');
    put(ws, 'visible2.txt', 'again\n');
    await m.synced('visible2.txt');
    await mirror.idle();

    assert.deepEqual(await boxFiles(task, ['.env', 'keys/id_rsa', 'private/notes.txt', 'config/.npmrc', 'clean/.npmrc', 'build/out.js', 'debug.log', 'visible.txt', 'visible2.txt']), {
      '.env': '-',
      'keys/id_rsa': '-',
      'private/notes.txt': '-',
      'config/.npmrc': '-',
      'clean/.npmrc': 'save-exact=true\n',
      'build/out.js': '-',
      'debug.log': '-',
      'visible.txt': 'visible\n',
      'visible2.txt': 'again\n',
    });
    assert.equal((await task.sh('git rev-list --count HEAD')).toString(), boxCommits);
    assert.equal((await task.sh('ls .git/hooks/post-commit 2>/dev/null || printf -')).toString(), '-');
    assert.equal((await task.sh(`grep -rl ${q(SECRET)} . 2>/dev/null || printf none`)).toString(), 'none');

    // A path may be heard twice (a new folder is read at once, and chokidar reports its files later).
    const skipped = new Map<string, string[]>();
    for (const event of m.events) if (event.kind === 'skipped') skipped.set(event.reason, [...new Set([...(skipped.get(event.reason) ?? []), ...event.paths])]);
    // private/ is a secret folder: the watch never even enters it.
    assert.deepEqual(skipped.get('secret')?.sort(), ['.env', 'keys/id_rsa']);
    assert.deepEqual(skipped.get('credentials'), ['config/.npmrc']);
    assert.deepEqual(skipped.get('ignored')?.sort(), ['debug.log']);
    // Paths, never contents: the secret is in none of the mirror's records (the test's own grep command is).
    const log = JSON.stringify(task.service.store.audit(task.id).records().filter((record) => record.type === 'mirror'));
    assert.ok(!log.includes(SECRET), 'the mirror records hold no secret value');
    assert.match(log, /"reason":"secret"/);
  });

  test('after mirroring, the change set shows none of the host edits, but does show a box edit, even of a mirrored file', async (t) => {
    const m = await mirrored(t, { 'a.txt': 'one\n', 'b.txt': 'bee\n', 'old.txt': 'old\n', 'sub/c.txt': 'sea\n' });
    if (!m) return;
    const { task, mirror } = m;
    const ws = task.workspace;
    put(ws, 'a.txt', 'host edit\n');
    put(ws, 'added/by/host.txt', 'new on host\n');
    fs.rmSync(path.join(ws, 'old.txt'));
    fs.rmSync(path.join(ws, 'sub'), { recursive: true });
    fs.chmodSync(path.join(ws, 'b.txt'), 0o755);
    await mirror.idle();
    assert.deepEqual(statusLines((await task.changes.changes(task.id)).changeSet), []);
    assert.equal((await task.sh('ls sub 2>/dev/null || printf gone')).toString(), 'gone');

    await task.sh("printf 'box edit\\n' > b.txt && printf 'box again\\n' >> a.txt");
    const { changeSet } = await task.changes.changes(task.id);
    assert.deepEqual(statusLines(changeSet), ['modified a.txt', 'modified b.txt']);
    // The base of a mirrored file is the host's bytes, so the review's diff starts there.
    assert.equal(changeFor(changeSet, 'a.txt').before?.sha256, sha256('host edit\n'));
    assert.equal(changeFor(changeSet, 'a.txt').hunks, 1);
    // Archive scans (images without node) compare with the same moved base.
    assert.deepEqual(statusLines((await task.changes.changes(task.id, { method: 'archive' })).changeSet), ['modified a.txt', 'modified b.txt']);
  });

  test('a path changed on both sides is a conflict: the box keeps its bytes and the host its own', async (t) => {
    const m = await mirrored(t, { 'a.txt': 'base\n', 'gone.txt': 'base\n', 'calm.txt': 'calm\n' });
    if (!m) return;
    const { task, mirror } = m;
    const ws = task.workspace;
    await task.sh("printf 'box\\n' > a.txt && printf 'box\\n' > gone.txt");
    const conflict = nextEvent(mirror.onEvent, (event) => event.kind === 'conflict', AbortSignal.timeout(5000));
    put(ws, 'a.txt', 'host\n');
    fs.rmSync(path.join(ws, 'gone.txt'));
    put(ws, 'calm.txt', 'host calm\n');
    await conflict;
    await mirror.idle();
    assert.deepEqual(pathsOf(m.events, 'conflict'), ['a.txt', 'gone.txt']);
    assert.deepEqual(await boxFiles(task, ['a.txt', 'gone.txt', 'calm.txt']), { 'a.txt': 'box\n', 'gone.txt': 'box\n', 'calm.txt': 'host calm\n' });
    assert.equal(fs.readFileSync(path.join(ws, 'a.txt'), 'utf8'), 'host\n');
    const { changeSet } = await task.changes.changes(task.id);
    // The base of a conflicted path did not move: the review merges base → host and base → box.
    assert.deepEqual(statusLines(changeSet), ['modified a.txt', 'modified gone.txt']);
    assert.equal(changeFor(changeSet, 'a.txt').before?.sha256, sha256('base\n'));
    const check = task.changes.checkAgainstHost((await task.changes.changes(task.id)), {});
    assert.ok(JSON.stringify(check).includes('conflict'), JSON.stringify(check));
    const records = task.service.store.audit(task.id).records().filter((record) => record.type === 'mirror');
    assert.ok(records.some((record) => (record.conflicts as string[]).includes('a.txt')));
  });

  test('host changes made before the mirror started (since the copy) are carried when it starts', async (t) => {
    const ws = makeTempDir('airlock-mirror-late-');
    initRepo(ws, { 'a.txt': 'one\n', 'b.txt': 'bee\n', 'same.txt': 'same\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    put(ws, 'a.txt', 'edited before the mirror\n');
    fs.rmSync(path.join(ws, 'b.txt'));
    put(ws, 'later/c.txt', 'added before the mirror\n');
    const events: HostMirrorEvent[] = [];
    const mirror = await startHostMirror(task.service, task.id, { onEvent: (event) => events.push(event) });
    t.after(async () => {
      mirror.dispose();
      await mirror.closed;
    });
    await mirror.idle();
    assert.deepEqual(await boxFiles(task, ['a.txt', 'b.txt', 'later/c.txt', 'same.txt']), { 'a.txt': 'edited before the mirror\n', 'b.txt': '-', 'later/c.txt': 'added before the mirror\n', 'same.txt': 'same\n' });
    assert.deepEqual(pathsOf(events, 'synced'), ['a.txt', 'b.txt', 'later/c.txt']);
    assert.deepEqual(statusLines((await task.changes.changes(task.id)).changeSet), []);
  });

  test('an apply of the box change and its undo do not bounce back into the box', async (t) => {
    const m = await mirrored(t, { 'a.txt': 'one\n', 'b.txt': 'bee\n' });
    if (!m) return;
    const { task, mirror } = m;
    await task.sh("printf 'box work\\n' > b.txt");
    const { report } = await task.changes.apply(task.id, {});
    assert.deepEqual(report.written.map((item) => item.path), ['b.txt']);
    await mirror.idle();
    // Host and box agree: nothing written, no conflict, and the review still shows the box's change.
    assert.deepEqual(pathsOf(m.events, 'synced'), []);
    assert.deepEqual(pathsOf(m.events, 'conflict'), []);
    assert.deepEqual(statusLines((await task.changes.changes(task.id)).changeSet), ['modified b.txt']);
    await task.changes.undo(task.id);
    await mirror.idle();
    assert.equal(fs.readFileSync(path.join(task.workspace, 'b.txt'), 'utf8'), 'bee\n');
    assert.equal((await task.sh('cat b.txt')).toString(), 'box work\n');
    assert.deepEqual(pathsOf(m.events, 'synced'), []);
    assert.deepEqual(statusLines((await task.changes.changes(task.id)).changeSet), ['modified b.txt']);
  });

  test('under gVisor (runsc), host edits reach the box and the review shows only the box edit', async (t) => {
    const m = await mirrored(t, { 'a.txt': 'one\n', 'b.txt': 'bee\n', 'old.txt': 'old\n' }, { task: { runtime: 'runsc' } });
    if (!m) return;
    const { task, mirror } = m;
    assert.equal(task.record.runtime, 'runsc');
    const started = Date.now();
    const edited = m.synced('a.txt');
    put(task.workspace, 'a.txt', 'host edit\n');
    await edited;
    t.diagnostic(`one host edit reached a runsc box in ${Date.now() - started} ms`);
    put(task.workspace, 'n/new.txt', 'new\n');
    fs.rmSync(path.join(task.workspace, 'old.txt'));
    await mirror.idle();
    assert.deepEqual(await boxFiles(task, ['a.txt', 'n/new.txt', 'old.txt']), { 'a.txt': 'host edit\n', 'n/new.txt': 'new\n', 'old.txt': '-' });
    await task.sh("printf 'box\\n' > b.txt");
    assert.deepEqual(statusLines((await task.changes.changes(task.id)).changeSet), ['modified b.txt']);
  });

  test('a burst of 1,000 new files lands complete, with the right contents', async (t) => {
    const m = await mirrored(t, { 'a.txt': 'one\n' });
    if (!m) return;
    const { task, mirror } = m;
    const ws = task.workspace;
    const expected: string[] = [];
    const started = Date.now();
    for (let index = 0; index < 1000; index++) {
      const rel = `burst/d${index % 10}/f${index}.txt`;
      const content = `file ${index}\n${'x'.repeat(index % 97)}\n`;
      put(ws, rel, content);
      expected.push(`${sha256(content)}  ./${rel.slice('burst/'.length)}`);
    }
    const written = Date.now() - started;
    await mirror.idle();
    const landed = Date.now() - started;
    t.diagnostic(`1,000 files: written on the host in ${written} ms, all in the box ${landed} ms after the first write`);
    const inBox = (await task.sh('cd burst && find . -type f -print0 | sort -z | xargs -0 sha256sum')).toString().trim().split('\n');
    assert.equal(inBox.length, 1000);
    assert.deepEqual([...inBox].sort(), [...expected].sort());
    assert.ok(landed < 10_000, `the burst took ${landed} ms`);
    assert.deepEqual(statusLines((await task.changes.changes(task.id)).changeSet), []);
  });

  test('host symlinks cross as links (never followed); nothing behind a symlinked folder crosses', async (t) => {
    const outside = makeTempDir('airlock-mirror-outside-');
    fs.writeFileSync(path.join(outside, 'host-only.txt'), 'outside the workspace\n');
    const m = await mirrored(t, { 'a.txt': 'one\n' });
    if (!m) return;
    const { task, mirror } = m;
    const ws = task.workspace;
    fs.symlinkSync('a.txt', path.join(ws, 'inside-link'));
    fs.symlinkSync(path.join(outside, 'host-only.txt'), path.join(ws, 'outside-link'));
    fs.symlinkSync(outside, path.join(ws, 'linked-dir'));
    put(ws, 'after.txt', 'after\n');
    await m.synced('after.txt');
    fs.writeFileSync(path.join(outside, 'later.txt'), 'later\n');
    await mirror.idle();
    assert.equal((await task.sh('readlink inside-link; readlink outside-link; readlink linked-dir')).toString(), `a.txt\n${path.join(outside, 'host-only.txt')}\n${outside}\n`);
    assert.equal((await task.sh('cat outside-link 2>/dev/null || printf unreadable')).toString(), 'unreadable');
    assert.equal((await task.sh('cat inside-link')).toString(), 'one\n');
    assert.deepEqual(pathsOf(m.events, 'synced').filter((rel) => rel.startsWith('linked-dir/')), []);
    assert.deepEqual(statusLines((await task.changes.changes(task.id)).changeSet), []);
  });

  test('the mirror stops itself when the task ends, with an error event and no crash', async (t) => {
    const m = await mirrored(t, { 'a.txt': 'one\n' });
    if (!m) return;
    const { task, mirror } = m;
    const stopped = nextEvent(mirror.onEvent, (event) => event.kind === 'stopped', AbortSignal.timeout(20_000));
    // Removed behind Airlock's back: the next batch finds the container gone.
    await task.service.engine.docker.getContainer(task.record.containerId).remove({ force: true });
    put(task.workspace, 'a.txt', 'after the end\n');
    await stopped;
    assert.equal(mirror.stopped, true);
    const errors = m.events.filter((event) => event.kind === 'error');
    assert.ok(errors.some((event) => event.kind === 'error' && event.code === 'task.gone'), JSON.stringify(m.events));
    await mirror.idle();
    await mirror.closed;
  });

  test('a workspace folder moved away does not empty the box: the mirror stops instead', async (t) => {
    const m = await mirrored(t, { 'a.txt': 'one\n', 'src/b.txt': 'bee\n' });
    if (!m) return;
    const { task, mirror } = m;
    const stopped = nextEvent(mirror.onEvent, (event) => event.kind === 'stopped', AbortSignal.timeout(10_000));
    const moved = `${task.workspace}-moved`;
    fs.renameSync(task.workspace, moved);
    t.after(() => fs.rmSync(moved, { recursive: true, force: true }));
    await stopped;
    assert.ok(m.events.some((event) => event.kind === 'error' && event.code === 'mirror.workspaceGone'), JSON.stringify(m.events));
    assert.deepEqual(await boxFiles(task, ['a.txt', 'src/b.txt']), { 'a.txt': 'one\n', 'src/b.txt': 'bee\n' });
    assert.deepEqual(pathsOf(m.events, 'synced'), []);
  });

  test('a task whose image has no node: edits still cross, and the archive scan shows only the box edit', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    await noNodeImage(engine.docker);
    const m = await mirrored(t, { 'a.txt': 'one\n', 'b.txt': 'bee\n' }, { task: { image: NO_NODE_IMAGE } });
    if (!m) return;
    const { task, mirror } = m;
    assert.equal((await task.sh('command -v node || printf none')).toString(), 'none');
    const edited = m.synced('a.txt');
    put(task.workspace, 'a.txt', 'host edit\n');
    put(task.workspace, 'n/new.txt', 'new\n');
    await edited;
    await mirror.idle();
    assert.deepEqual(await boxFiles(task, ['a.txt', 'n/new.txt']), { 'a.txt': 'host edit\n', 'n/new.txt': 'new\n' });
    await task.sh("printf 'box\\n' > b.txt");
    const { changeSet } = await task.changes.changes(task.id);
    assert.equal(changeSet.scan.method, 'archive');
    assert.deepEqual(statusLines(changeSet), ['modified b.txt']);
  });
});

let noNodeEngine: Docker | undefined;
let noNodeBuilt: Promise<void> | undefined;

/** TEST_IMAGE without node, made by one root container that deletes it, then a commit (no network, no pull). */
function noNodeImage(docker: Docker): Promise<void> {
  noNodeEngine = docker;
  noNodeBuilt ??= (async () => {
    const container = await docker.createContainer({ Image: TEST_IMAGE, Entrypoint: [], Cmd: ['sh', '-c', 'rm -f /usr/bin/node /usr/bin/nodejs /usr/local/bin/node'], User: '0', NetworkDisabled: true });
    try {
      await container.start();
      await container.wait();
      const [repo, tag] = NO_NODE_IMAGE.split(':');
      await container.commit({ repo, tag });
    } finally {
      await container.remove({ force: true });
    }
  })();
  return noNodeBuilt;
}
