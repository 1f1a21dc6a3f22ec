import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { ChangeService } from '../../src/core/changes/changeService.js';
import { ChangeSetStore } from '../../src/core/changes/changeSetStore.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { TaskWatcher } from '../../src/core/task/taskEvents.js';
import { TaskService } from '../../src/core/task/taskService.js';
import { launchNode, until } from '../helpers/cliProcess.js';
import { run, TEST_IMAGE } from '../helpers/realEngine.js';
import { taskObjects } from '../helpers/ownedEngineProcess.js';
import { secondEngine, stopSecondEngine, type SecondEngine } from '../helpers/secondEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * The fault "the Docker engine restarts mid-task" (issue 19), against a real engine the test owns
 * and restarts (test/helpers/secondEngine.ts; live-restore off, as engines ship). What the user
 * sees: a running command ends with one error naming the engine, through either way of running
 * commands, and is in the audit log. What is kept: a layered task's workspace lives in named
 * volumes, so the task is found again on a new container with the same hardened spec and deadline,
 * every file as the box left it; a task whose workspace was inside the container is reported lost,
 * with its audit log, its last change set and that set's bytes on the host. Either way, applying
 * the kept change set writes each file once.
 */

after(async () => {
  await stopSecondEngine();
  removeTempDirs();
});

const REPO = process.cwd();
const SLOW = { timeout: 300_000 };
const workspaceFiles = { 'README.md': '# restart\n', 'src/a.txt': 'host a\n', 'src/b.txt': 'host b\n', 'src/c.txt': 'host c\n' };

function cli(engine: SecondEngine, stateRoot: string, args: string[], timeoutMs = 120_000) {
  return launchNode(['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), ...args], { env: { ...engine.env, AIRLOCK_STATE_DIR: stateRoot, AIRLOCK_DAEMON: '0', AIRLOCK_IMAGE: TEST_IMAGE }, timeoutMs });
}

function serviceOn(engine: SecondEngine, layers = true) {
  const stateRoot = makeTempDir('airlock-restart-state-');
  const warnings: string[] = [];
  const service = new TaskService(engine.connection, new TaskStore(stateRoot), (message) => warnings.push(message), { layers });
  return { service, stateRoot, warnings, changes: new ChangeService(service) };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const inspect = (engine: SecondEngine, id: string) => engine.connection.docker.getContainer(id).inspect();

describe('the Docker engine restarting mid-task (integration)', () => {
  test('running commands end with one error naming the engine; the task is re-attached on its kept workspace with the same spec and deadline; the kept change set applies once', SLOW, async (t) => {
    const engine = await secondEngine(t);
    if (!engine) return;
    const { service, stateRoot, changes } = serviceOn(engine);
    const workspace = makeTempDir('airlock-restart-ws-');
    writeFiles(workspace, workspaceFiles);
    const record = await service.start({ workspace, image: TEST_IMAGE, ttlSeconds: 900 });
    t.after(() => service.stop(record.id).catch(() => undefined).then(() => service.dispose()));
    assert.ok(record.snapshot.baseVolume, 'a layered task: its workspace is in named volumes');
    const before = await inspect(engine, record.containerId);
    await run(service, record.id, ['sh', '-c', 'echo box a > src/a.txt; echo box b > src/b.txt; echo new > src/new.txt']);
    const looked = (await changes.changes(record.id)).changeSet;
    assert.deepEqual(looked.files.map((file) => file.path).sort(), ['src/a.txt', 'src/b.txt', 'src/new.txt']);
    // Work no look has seen yet: it is in the layer, so it must be there after the restart too.
    await run(service, record.id, ['sh', '-c', 'echo unlooked c > src/c.txt']);

    const watcher = await TaskWatcher.open(engine.connection.docker, service.store, { reconnect: { initialMs: 100, maxMs: 500 } });
    t.after(() => watcher.close());
    const ended: string[] = [];
    watcher.onDidEnd(({ id, reason }) => ended.push(`${id}: ${reason}`));

    // One command through one engine exec (the CLI's default), one through the task's runner.
    const viaEngineExec = cli(engine, stateRoot, ['exec', record.id, '--', 'sh', '-c', 'echo started; exec sleep 600']);
    const viaRunner = cli(engine, stateRoot, ['exec', '--runner', record.id, '--', 'sh', '-c', 'echo started; exec sleep 600']);
    assert.ok(await until(() => viaEngineExec.stdout().includes('started') && viaRunner.stdout().includes('started'), 60_000), `both commands run: ${viaEngineExec.stderr()} ${viaRunner.stderr()}`);
    const restartedAt = Date.now();
    const endedAt = Promise.all([viaEngineExec, viaRunner].map((running) => running.result.then(() => Date.now())));
    const timing = await engine.restart();
    const [engineExec, runner] = await Promise.all([viaEngineExec.result, viaRunner.result]);
    const [engineExecEnd, runnerEnd] = (await endedAt).map((at) => at - restartedAt);

    const engineLine = new RegExp(`^airlock: task ${record.id}: the container engine at ${escape(engine.host)} \\(DOCKER_HOST\\) went away while the command ran \\([^)\\n]+\\); the command ended with it\\n {2}→ Start the engine again[^\\n]+\\n`, 'm');
    for (const [name, ended, endMs] of [['engine exec', engineExec, engineExecEnd], ['runner', runner, runnerEnd]] as const) {
      assert.equal(ended.status, 125, `${name}: an Airlock error, not the command's exit code: ${ended.stderr}`);
      assert.equal(ended.stdout, 'started\n');
      assert.match(ended.stderr, engineLine, name);
      assert.doesNotMatch(ended.stderr, /^\s+at |Error:/m, `${name}: no stack trace`);
      assert.ok(endMs < 20_000, `${name}: ended with the engine (${endMs} ms after its stop began), not at a timeout`);
    }
    assert.deepEqual(engineExec.stderr.split('\n').filter((line) => line.startsWith('airlock:')).length, 1, 'one line from Airlock through an engine exec');
    // The runner's session reports its own end as it goes, before the error says why.
    assert.deepEqual(runner.stderr.split('\n').filter((line) => line.startsWith('airlock:')).map((line) => line.replace(/ went away.*/, '')), ["airlock: lost the task's runner (container stopped)", `airlock: task ${record.id}: the container engine at ${engine.host} (DOCKER_HOST)`]);

    const commands = service.store.audit(record.id).records().filter((entry) => entry.type === 'command' && entry.taskEnded === 'engine went away');
    assert.deepEqual(commands.map((entry) => entry.backend).sort(), ['docker-exec', 'supervisor'], 'both commands are in the audit log, with why they ended');

    // Before anyone uses it: the task is not ended, it waits to be found again; gc leaves its layer.
    assert.deepEqual((await service.list()).map((status) => [status.record.id, status.state]), [[record.id, 'stopped']]);
    assert.equal((await taskObjects(engine, record.id)).containers.length, 0, 'the restart took the container (AutoRemove)');
    await service.gc();
    assert.ok((await taskObjects(engine, record.id)).volumes.includes(`airlock-layer-${record.id}`), 'gc keeps the layer of a task waiting to be re-attached');
    const listed = await cli(engine, stateRoot, ['ls']).result;
    assert.match(listed.stdout, new RegExp(`^${record.id}\\s+stopped\\s`, 'm'), listed.stdout);

    // The next command finds it again: every file as the box left it, looked at or not.
    const reattachStarted = Date.now();
    const next = await cli(engine, stateRoot, ['exec', record.id, '--', 'sh', '-c', 'cat src/a.txt src/b.txt src/c.txt src/new.txt README.md']).result;
    const reattachMs = Date.now() - reattachStarted;
    assert.equal(next.status, 0, next.stderr);
    assert.equal(next.stdout, 'box a\nbox b\nunlooked c\nnew\n# restart\n');
    assert.equal(next.stderr, `airlock: warning: task ${record.id}: re-attached after the engine went away; its workspace is as the box left it, its processes and /tmp are gone\n`);
    const now = service.store.load(record.id)!;
    assert.notEqual(now.containerId, record.containerId, 'a new container');
    assert.equal(now.destroyedAt, undefined);
    assert.equal(now.expiresAt, record.expiresAt, 'the same deadline');
    const reattached = service.store.audit(record.id).records().filter((entry) => entry.type === 'task.reattached' && /attached to its kept workspace/.test(String(entry.reason)));
    assert.equal(reattached.length, 1, 'the audit log says it was re-attached, once');
    assert.deepEqual((await service.list()).map((status) => status.state), ['running']);

    // The re-created container is the same hardened container, with what is left of the TTL.
    const again = await inspect(engine, now.containerId);
    assert.deepEqual(again.HostConfig, before.HostConfig, 'caps, seccomp, no-new-privileges, limits, network none, mounts: all as at start');
    for (const field of ['Labels', 'Env', 'User', 'Image', 'Entrypoint', 'WorkingDir', 'Hostname'] as const) assert.deepEqual(again.Config[field], before.Config[field], field);
    assert.deepEqual(again.Mounts.map((mount) => mount.Type).sort(), before.Mounts.map((mount) => mount.Type).sort());
    assert.ok(again.Mounts.every((mount) => mount.Type !== 'bind'), 'no host path is mounted');
    const left = (Date.parse(record.expiresAt) - Date.now()) / 1000;
    assert.equal(again.Config.Cmd[0], 'sleep');
    assert.ok(Math.abs(Number(again.Config.Cmd[1]) - left) < 30 && Number(again.Config.Cmd[1]) < Number(before.Config.Cmd[1]), `sleep ${again.Config.Cmd[1]}: the rest of the TTL (${Math.round(left)} s), not a fresh one (${before.Config.Cmd[1]} s)`);
    const inside = await run(service, record.id, ['sh', '-c', 'id -u; grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; ls /sys/class/net']);
    assert.equal(inside.stdout, '1000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\nlo\n');

    // The kept change set, applied after the restart: each file once, and a second apply writes nothing.
    const first = await changes.apply(record.id, {}, { changeSet: looked.id });
    assert.deepEqual(first.report.written.map((item) => item.path).sort(), ['src/a.txt', 'src/b.txt', 'src/new.txt']);
    assert.equal(fs.readFileSync(path.join(workspace, 'src/a.txt'), 'utf8'), 'box a\n');
    assert.equal(fs.readFileSync(path.join(workspace, 'src/c.txt'), 'utf8'), 'host c\n', 'what that set did not hold stays');
    const second = await changes.apply(record.id, {}, { changeSet: looked.id });
    assert.deepEqual(second.report.written, []);
    assert.deepEqual(second.report.unchanged.sort(), ['src/a.txt', 'src/b.txt', 'src/new.txt']);
    // A fresh look sees the same box: the one file no look had seen, and nothing else.
    const fresh = (await changes.changes(record.id)).changeSet;
    assert.deepEqual(fresh.files.map((file) => file.path).sort(), ['src/a.txt', 'src/b.txt', 'src/c.txt', 'src/new.txt']);

    assert.ok(await until(() => watcher.current().find((status) => status.record.id === record.id)?.state === 'running', 30_000), `the watcher sees it running again: ${JSON.stringify(watcher.current().map((s) => [s.state, s.record.containerId.slice(0, 12)]))} connected ${watcher.engineConnected} now ${service.store.load(record.id)?.containerId.slice(0, 12)}`);
    assert.deepEqual(ended, [], 'a front end following events never saw the task end');
    t.diagnostic(`second engine: start ${engine.timings.startMs} ms, image load ${engine.timings.imageLoadMs ?? 'cached'} ms; restart: stop ${timing.stopMs} ms + start ${timing.startMs} ms; commands ended ${engineExecEnd} ms (engine exec) and ${runnerEnd} ms (runner) after the stop began; re-attach through the CLI ${reattachMs} ms (node and the CLI's start included)`);
  });

  test('a task whose workspace was a whole copy is reported lost, with its audit log, last change set and its bytes kept; the set applies once', SLOW, async (t) => {
    const engine = await secondEngine(t);
    if (!engine) return;
    const { service, stateRoot, changes } = serviceOn(engine, false);
    const workspace = makeTempDir('airlock-restart-copy-');
    writeFiles(workspace, workspaceFiles);
    const record = await service.start({ workspace, image: TEST_IMAGE, ttlSeconds: 900 });
    t.after(() => service.dispose());
    assert.equal(record.snapshot.baseVolume, undefined, 'a whole private copy');
    // `run` goes through the task's runner, which stays open: an idle task whose engine goes is seen going.
    await run(service, record.id, ['sh', '-c', 'echo box a > src/a.txt; echo new > src/new.txt; rm src/b.txt']);
    const looked = (await changes.changes(record.id)).changeSet;
    assert.equal(looked.files.length, 3);

    await engine.restart();
    assert.ok(await until(() => fs.existsSync(path.join(service.store.taskDir(record.id), 'engine-lost.json')), 10_000), 'the open runner session saw the engine go');
    const [status] = await service.list();
    assert.equal(status.state, 'destroyed');
    assert.match(status.record.destroyReason ?? '', /^lost when the engine went away: its workspace was a whole copy/);

    const next = await cli(engine, stateRoot, ['exec', record.id, '--', 'true']).result;
    assert.equal(next.status, 125);
    assert.match(next.stderr, new RegExp(`^airlock: task ${record.id} has ended \\(lost when the engine went away: [^\\n]+\\); its last change set ${looked.id.slice(0, 32)}\\S* \\(3 file\\(s\\), taken [^)]+\\) is kept on this machine with the audit log\\n {2}→ Review and apply that change set[^\\n]*\\n$`));
    const saved = service.store.load(record.id)!;
    assert.match(saved.destroyReason ?? '', /^lost when the engine went away/);
    const ends = service.store.audit(record.id).records().filter((entry) => entry.type === 'task.destroyed');
    assert.equal(ends.length, 1, 'the end is recorded once');

    // What a stop drops, a loss keeps, and gc does not sweep it either.
    await service.gc();
    const files = service.store.changeFiles(record.id);
    assert.deepEqual(new ChangeSetStore(files.changeSetDir).ids(), [looked.id]);
    assert.ok(fs.existsSync(record.snapshot.archiveFile), 'the base snapshot the set is diffed against');
    const shown = changes.reviewed(record.id, looked.id);
    assert.equal(shown.changeSet.files.find((file) => file.path === 'src/a.txt')?.hunks, 1, 'the kept set can still be reviewed');
    const first = await changes.apply(record.id, {}, { changeSet: looked.id });
    assert.equal(first.review.currentUnknown, `task ${record.id} has ended`);
    assert.deepEqual(first.report.written.map((item) => item.path).sort(), ['src/a.txt', 'src/b.txt', 'src/new.txt']);
    assert.equal(fs.readFileSync(path.join(workspace, 'src/new.txt'), 'utf8'), 'new\n');
    assert.equal(fs.existsSync(path.join(workspace, 'src/b.txt')), false);
    const second = await changes.apply(record.id, {}, { changeSet: looked.id });
    assert.deepEqual(second.report.written, []);
    assert.deepEqual(await taskObjects(engine, record.id), { containers: [], volumes: [] }, 'nothing of it is left on the engine');
  });

  test('an idle task whose front end follows the engine is found again; one nobody watched ends as before, its change set kept', SLOW, async (t) => {
    const engine = await secondEngine(t);
    if (!engine) return;
    const watched = serviceOn(engine);
    const alone = serviceOn(engine);
    const workspace = makeTempDir('airlock-restart-idle-');
    writeFiles(workspace, workspaceFiles);
    const [kept, unwatched] = await Promise.all([watched.service.start({ workspace, image: TEST_IMAGE, ttlSeconds: 900 }), alone.service.start({ workspace, image: TEST_IMAGE, ttlSeconds: 900 })]);
    t.after(async () => {
      await watched.service.stop(kept.id).catch(() => undefined);
      await alone.service.stop(unwatched.id).catch(() => undefined);
      watched.service.dispose();
      alone.service.dispose();
    });
    for (const [side, id] of [[watched, kept.id], [alone, unwatched.id]] as const) {
      await run(side.service, id, ['sh', '-c', 'echo box a > src/a.txt'], { backend: 'docker-exec' });
      await side.changes.changes(id);
    }
    // What a front end with an event stream does when it ends (one call): the tasks it knew live there are noted.
    const watcher = await TaskWatcher.open(engine.connection.docker, watched.service.store, { reconnect: { initialMs: 100, maxMs: 500 } });
    t.after(() => watcher.close());
    watcher.onDidLoseEngine(({ error }) => watched.service.noteEngineLoss(watcher.current().filter((status) => status.state !== 'destroyed').map((status) => status.record.id), error));

    await engine.restart();
    assert.ok(await until(() => watcher.engineConnected, 30_000));
    assert.equal((await watched.service.list())[0].state, 'stopped');
    const reattachStarted = Date.now();
    const next = await run(watched.service, kept.id, ['cat', 'src/a.txt']);
    const reattachMs = Date.now() - reattachStarted;
    assert.deepEqual([next.exitCode, next.stdout], [0, 'box a\n']);
    assert.ok(watched.warnings.some((line) => line.includes('re-attached')), watched.warnings.join('\n'));
    t.diagnostic(`re-attach and the first command after it, in-process: ${reattachMs} ms`);

    // Nobody saw this one's engine go: the vanished container reads as the box's own end, as it
    // always has, and is recorded so by gc, but what it had is kept for review.
    const [lone] = await alone.service.list();
    assert.deepEqual([lone.state, lone.record.destroyReason], ['destroyed', 'container exited']);
    await alone.service.gc();
    assert.equal(alone.service.store.load(unwatched.id)?.destroyReason, 'container exited');
    assert.equal(new ChangeSetStore(alone.service.store.changeFiles(unwatched.id).changeSetDir).ids().length, 1, 'its last change set is kept');
    assert.ok(fs.existsSync(unwatched.snapshot.archiveFile));
  });
});
