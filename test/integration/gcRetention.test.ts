import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copyBundle } from '../helpers/cliBundle.js';
import { type CliResult, launchNode, startTask as startTaskVia, stopTask as stopTaskVia } from '../helpers/cliProcess.js';
import { realEngine, serviceFor, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';
import { DEFAULT_RECORD_RETENTION_MS } from '../../src/core/index.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { TASK_LABEL } from '../../src/core/state/taskRecord.js';

const SLOW = { timeout: 300_000 };
const DAY = 86_400_000;

let cli = '';
let state = '';
const started: Array<{ state: string; id: string }> = [];

function airlock(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return launchNode([cli, ...args], { env: { AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE, AIRLOCK_MACHINE_POLICY: '' }, timeoutMs, cwd: state }).result;
}

async function startTask(workspace: string): Promise<string> {
  const id = await startTaskVia(airlock, workspace, []);
  started.push({ state, id });
  return id;
}

const stopTask = (id: string) => stopTaskVia(airlock, id);
const taskDir = (id: string) => path.join(state, 'tasks', id);

/** Rewrites a task's record as if it had ended `agoMs` ago. */
function backdateEnd(id: string, agoMs: number): void {
  const file = path.join(taskDir(id), 'task.json');
  const record = JSON.parse(fs.readFileSync(file, 'utf8')) as { destroyedAt?: string };
  assert.ok(record.destroyedAt, `task ${id} has ended`);
  fs.writeFileSync(file, JSON.stringify({ ...record, destroyedAt: new Date(Date.now() - agoMs).toISOString() }, null, 2));
}

async function listed(args: string[]): Promise<Array<{ id: string; state: string }>> {
  const result = await airlock(['ls', ...args, '--json']);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as Array<{ id: string; state: string }>;
}

const ids = (entries: Array<{ id: string }>) => entries.map((entry) => entry.id).sort();

async function gc(args: string[] = []): Promise<CliResult> {
  const result = await airlock(['gc', ...args]);
  assert.equal(result.status, 0, result.stderr);
  return result;
}

before(() => {
  cli = copyBundle(makeTempDir('airlock-gc-cli-'));
});

after(async () => {
  // A failed assertion must not leave running boxes behind.
  for (const task of started) {
    state = task.state;
    await airlock(['stop', task.id]).catch(() => undefined);
  }
  removeTempDirs();
});

describe('`ls` shows live tasks and `gc` prunes the records of tasks ended long ago (integration)', () => {
  test('ls hides ended tasks unless -a; gc prunes an ended task past the retention and keeps recent and live ones', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    state = makeTempDir('airlock-gc-state-');
    const ws = makeTempDir('airlock-gc-ws-');
    writeFiles(ws, { 'README.md': '# gc\n' });

    const live = await startTask(ws);
    const old = await startTask(ws);
    const recent = await startTask(ws);
    await stopTask(old);
    await stopTask(recent);

    const table = await airlock(['ls']);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+STATE/);
    assert.match(table.stdout, new RegExp(`^${live}\\s+running`, 'm'));
    assert.doesNotMatch(table.stdout, new RegExp(`${old}|${recent}|destroyed`));
    const all = await airlock(['ls', '-a']);
    assert.equal(all.status, 0, all.stderr);
    assert.match(all.stdout, new RegExp(`^${live}\\s+running`, 'm'));
    for (const id of [old, recent]) assert.match(all.stdout, new RegExp(`^${id}\\s+destroyed \\(stopped by user\\)`, 'm'));
    assert.deepEqual((await listed([])).map((entry) => [entry.id, entry.state]), [[live, 'running']]);
    assert.deepEqual(ids(await listed(['--all'])), [live, old, recent].sort());

    // The old task's folder holds more than its record; none of it may survive, and a symlink in
    // it to a file outside the state folder is removed, never followed.
    const outside = path.join(makeTempDir('airlock-gc-outside-'), 'keep.txt');
    fs.writeFileSync(outside, 'not airlock state\n');
    fs.symlinkSync(outside, path.join(taskDir(old), 'link-out'));
    assert.ok(fs.existsSync(path.join(taskDir(old), 'audit.jsonl')));
    backdateEnd(old, DEFAULT_RECORD_RETENTION_MS + DAY);

    const refused = await airlock(['gc', '--keep-ended', '7w']);
    assert.equal(refused.status, 2, 'a bad --keep-ended is a usage error');
    assert.match(refused.stderr, /--keep-ended must be a duration such as 7d, 36h or 90m \(or 0\)/);
    assert.ok(fs.existsSync(taskDir(old)), 'a refused gc prunes nothing');

    const first = await gc();
    assert.match(first.stdout, /pruned 1 ended task record\(s\)/);
    assert.equal(fs.existsSync(taskDir(old)), false, 'the whole folder of the old task is gone');
    assert.equal(fs.readFileSync(outside, 'utf8'), 'not airlock state\n');
    assert.ok(fs.existsSync(path.join(taskDir(recent), 'task.json')), 'a task ended just now keeps its record');
    assert.ok(fs.existsSync(path.join(taskDir(live), 'task.json')), 'a live task keeps its record');
    assert.deepEqual(ids(await listed(['-a'])), [live, recent].sort());
    const gone = await airlock(['audit', old]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, new RegExp(`no task "${old}"`));

    // --keep-ended is honoured with a unit: two days ago is within 3d, past 36h.
    backdateEnd(recent, 2 * DAY);
    assert.doesNotMatch((await gc(['--keep-ended', '3d'])).stdout, /pruned [1-9]/);
    assert.ok(fs.existsSync(taskDir(recent)));
    assert.match((await gc(['--keep-ended', '36h'])).stdout, /pruned 1 ended task record\(s\)/);
    assert.equal(fs.existsSync(taskDir(recent)), false);

    await stopTask(live);
    const none = await airlock(['ls']);
    assert.equal(none.status, 0, none.stderr);
    assert.equal(none.stdout, 'no live tasks (1 ended; `airlock ls -a` lists them)\n');
    assert.deepEqual(await listed([]), []);
    assert.doesNotMatch((await gc()).stdout, /pruned [1-9]/);
    assert.ok(fs.existsSync(taskDir(live)), 'the default retention keeps a task ended just now');
    assert.match((await gc(['--keep-ended', '0'])).stdout, /pruned 1 ended task record\(s\)/);
    assert.equal(fs.existsSync(taskDir(live)), false);
    assert.deepEqual(await listed(['-a']), []);
    assert.equal((await airlock(['ls', '-a'])).stdout, 'no tasks\n');
  });

  test('gc keeps a record while its container exists, one it ended itself this run, and anything behind a symlink', SLOW, async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service, stateRoot, warnings } = serviceFor(engine);
    const ws = makeTempDir('airlock-gc-ws-');
    writeFiles(ws, { 'README.md': '# gc\n' });
    const running = await service.start({ workspace: ws, image: TEST_IMAGE, ttlSeconds: 900 });
    const vanished = await service.start({ workspace: ws, image: TEST_IMAGE, ttlSeconds: 900 });
    try {
      // A record that says it ended long ago (a stop that crashed half way) while the box runs on.
      const file = path.join(stateRoot, 'tasks', running.id, 'task.json');
      fs.writeFileSync(file, JSON.stringify({ ...running, destroyedAt: new Date(Date.now() - 30 * DAY).toISOString(), destroyReason: 'stopped by user' }));
      // A box removed behind Airlock's back: this gc run is the one that records its end.
      const [box] = await engine.docker.listContainers({ all: true, filters: { label: [`${TASK_LABEL}=${vanished.id}`] } });
      await engine.docker.getContainer(box.Id).remove({ force: true, v: true });

      // A task folder that is a symlink to a folder outside the state folder, with an old end.
      const elsewhere = makeTempDir('airlock-gc-elsewhere-');
      fs.writeFileSync(path.join(elsewhere, 'task.json'), JSON.stringify({ ...running, id: 'feedfacecafe', destroyedAt: new Date(Date.now() - 30 * DAY).toISOString() }));
      fs.symlinkSync(elsewhere, path.join(stateRoot, 'tasks', 'feedfacecafe'));

      const report = await service.gc({ keepEndedMs: 1 });
      assert.deepEqual(report.pruned, []);
      assert.ok(fs.existsSync(file), 'the engine still has its container');
      assert.equal(service.store.load(vanished.id)?.destroyReason, 'container exited', 'gc recorded the end');
      assert.ok(fs.existsSync(path.join(stateRoot, 'tasks', vanished.id, 'task.json')), 'ended by this very run: kept until the next one');
      assert.ok(fs.existsSync(path.join(elsewhere, 'task.json')), 'a symlinked folder is never followed');
      assert.ok(fs.lstatSync(path.join(stateRoot, 'tasks', 'feedfacecafe')).isSymbolicLink());
      assert.ok(warnings.some((line) => line.includes('feedfacecafe') && /not a folder/.test(line)), warnings.join('\n'));

      assert.deepEqual((await service.gc({ keepEndedMs: 0 })).pruned, [vanished.id]);
      assert.ok(fs.existsSync(file), 'still running: kept even with nothing to keep');
      assert.ok(fs.existsSync(path.join(elsewhere, 'task.json')));
      await assert.rejects(service.gc({ keepEndedMs: -1 }), /retention of ended tasks/);
    } finally {
      await service.stop(running.id).catch(() => undefined);
      await service.stop(vanished.id).catch(() => undefined);
      service.dispose();
    }
  });

  test('TaskStore.remove takes only a task id directly inside the tasks folder', () => {
    const store = new TaskStore(makeTempDir('airlock-gc-store-'));
    for (const id of ['..', '../x', 'a/b', '', 'ABCDEF']) assert.throws(() => store.remove(id), /is not valid/);
    assert.equal(store.remove('abcdef'), false, 'no folder, nothing removed');
    const dir = store.create('abcdef');
    writeFiles(dir, { 'task.json': '{}', 'blobs/x': 'y' });
    assert.equal(store.remove('abcdef'), true);
    assert.equal(fs.existsSync(dir), false);
  });
});
