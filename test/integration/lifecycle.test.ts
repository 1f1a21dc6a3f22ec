import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { AirlockError } from '../../src/core/ground/errors.js';
import { labelled, realEngine, run, serviceFor, TEST_IMAGE, tempDir, waitFor, withTask } from '../helpers/realEngine.js';

function smallWorkspace(): string {
  const workspace = tempDir('life-ws');
  fs.writeFileSync(path.join(workspace, 'README.md'), '# hello\n');
  return workspace;
}

describe('task lifecycle (integration)', () => {
  test('`stop` leaves no container or volume behind and records the end', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const record = await service.start({ workspace: smallWorkspace(), image: TEST_IMAGE });
    // Two volumes: the overlay that is /workspace, and the task's own layer under it.
    assert.deepEqual(await labelled(engine, record.id), { containers: 1, volumes: 2 });
    assert.ok(fs.existsSync(record.snapshot.archiveFile), 'the base content is kept while the task lives');
    await service.stop(record.id);
    assert.deepEqual(await labelled(engine, record.id), { containers: 0, volumes: 0 });
    assert.equal(fs.existsSync(record.snapshot.archiveFile), false, 'stop drops the base content');
    assert.ok(fs.existsSync(record.snapshot.manifestFile), 'the manifest stays with the record');
    const types = service.store.audit(record.id).records().map((entry) => entry.type);
    assert.deepEqual([types[0], types.at(-1)], ['task.created', 'task.destroyed']);
    await assert.rejects(service.exec(record.id, { argv: ['true'] }), (error: unknown) => AirlockError.is(error) && /destroyed/.test(error.message));
    service.dispose();
  });

  test('the TTL destroys the task with no Airlock process involved', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const record = await service.start({ workspace: smallWorkspace(), image: TEST_IMAGE, ttlSeconds: 5 });
    assert.equal((await run(service, record.id, ['echo', 'alive'])).stdout.trim(), 'alive');
    service.dispose();
    // The engine removes the container and the overlay with it; the task's layer is a named volume
    // (the overlay's options name its folder), which only Airlock removes: the next gc.
    const gone = await waitFor(async () => {
      const left = await labelled(engine, record.id);
      return left.containers === 0 && left.volumes <= 1;
    }, 30_000);
    assert.ok(gone, 'container and workspace overlay must be gone after the TTL');
    const status = (await service.list()).find((entry) => entry.record.id === record.id);
    assert.equal(status?.state, 'destroyed');
    assert.equal(status?.record.destroyReason, 'ttl expired');
    // Listing only reads: a tree view refreshing it must not write records.
    assert.equal(service.store.load(record.id)?.destroyedAt, undefined);
    assert.notEqual(service.store.audit(record.id).records().at(-1)?.type, 'task.destroyed');
    await service.gc();
    assert.deepEqual(await labelled(engine, record.id), { containers: 0, volumes: 0 }, 'gc removes the layer the TTL left');
    assert.equal(service.store.load(record.id)?.destroyReason, 'ttl expired');
    assert.equal(service.store.audit(record.id).records().at(-1)?.type, 'task.destroyed');
  });

  test('a task outlives the service that started it and is recovered from labels and state', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const first = serviceFor(engine);
    const record = await first.service.start({ workspace: smallWorkspace(), image: TEST_IMAGE });
    first.service.dispose();
    const { TaskService } = await import('../../src/core/task/taskService.js');
    const second = new TaskService(engine, first.service.store);
    const listed = await second.list();
    assert.equal(listed.find((entry) => entry.record.id === record.id)?.state, 'running');
    assert.equal((await run(second, record.id.slice(0, 6), ['cat', 'README.md'])).stdout, '# hello\n');
    await second.stop(record.id);
    second.dispose();
  });

  test('`gc` removes orphaned containers and volumes', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const orphanId = `orphan${Date.now().toString(36)}`;
    const labels = { 'airlock.task': orphanId, 'airlock.expires': new Date(Date.now() - 1000).toISOString() };
    await engine.docker.createVolume({ Name: `airlock-test-${orphanId}`, Labels: labels });
    await engine.docker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'], Labels: labels, HostConfig: { NetworkMode: 'none' } });
    assert.deepEqual(await labelled(engine, orphanId), { containers: 1, volumes: 1 });
    const report = await service.gc();
    assert.ok(report.containers.length >= 1);
    assert.ok(report.volumes.includes(`airlock-test-${orphanId}`));
    assert.deepEqual(await labelled(engine, orphanId), { containers: 0, volumes: 0 });
  });

  test('`gc` leaves alone a task container another process is still filling', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const startingId = `starting${Date.now().toString(36)}`;
    const labels = { 'airlock.task': startingId, 'airlock.expires': new Date(Date.now() + 600_000).toISOString() };
    const container = await engine.docker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'], Labels: labels, HostConfig: { NetworkMode: 'none' } });
    try {
      await service.gc();
      assert.deepEqual(await labelled(engine, startingId), { containers: 1, volumes: 0 });
    } finally {
      await container.remove({ force: true });
    }
  });

  test('a bind mount or socket request never reaches the engine', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service, stateRoot } = serviceFor(engine);
    const before = (await engine.docker.listContainers({ all: true })).length;
    for (const mount of [{ type: 'bind', source: '/etc', target: '/host-etc' }, { type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }]) {
      await assert.rejects(service.start({ workspace: smallWorkspace(), image: TEST_IMAGE, mounts: [mount] }), (error: unknown) => AirlockError.is(error) && error.field === 'mounts.0');
    }
    assert.equal((await engine.docker.listContainers({ all: true })).length, before);
    assert.deepEqual(fs.readdirSync(path.join(stateRoot)).filter((name) => name !== 'tasks'), []);
  });

  test('a read-only root filesystem still has a writable /tmp, home and workspace', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    await withTask(service, { workspace: smallWorkspace(), image: TEST_IMAGE, readOnlyRoot: true }, async (record) => {
      assert.notEqual((await run(service, record.id, ['touch', '/etc/airlock-probe'])).exitCode, 0);
      for (const dir of ['/tmp', '/home/airlock', '/workspace']) {
        assert.equal((await run(service, record.id, ['touch', `${dir}/probe`])).exitCode, 0, `${dir} must be writable`);
      }
    });
  });

  test('an in-memory workspace holds the copy, is size-bounded and leaves nothing behind', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const id = await withTask(service, { workspace: smallWorkspace(), image: TEST_IMAGE, workspaceTmpfs: '32m' }, async (record) => {
      assert.equal((await run(service, record.id, ['cat', 'README.md'])).stdout, '# hello\n');
      assert.equal((await run(service, record.id, ['sh', '-c', 'touch new && echo ok'])).stdout.trim(), 'ok');
      const mount = (await run(service, record.id, ['sh', '-c', 'grep " /workspace " /proc/mounts'])).stdout;
      assert.match(mount, /^tmpfs \/workspace tmpfs /);
      const fill = await run(service, record.id, ['sh', '-c', 'head -c 64m /dev/zero > big']);
      assert.notEqual(fill.exitCode, 0);
      assert.match(fill.stderr, /No space left on device/);
      return record.id;
    });
    assert.deepEqual(await labelled(engine, id), { containers: 0, volumes: 0 });
  });

  test('a command can have a terminal', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    await withTask(service, { workspace: smallWorkspace(), image: TEST_IMAGE }, async (record) => {
      const withTty = await run(service, record.id, ['sh', '-c', 'test -t 0 && test -t 1 && echo "tty $TERM"'], { tty: true });
      assert.equal(withTty.exitCode, 0);
      assert.equal(withTty.stdout.trim(), 'tty xterm-256color');
      const without = await run(service, record.id, ['sh', '-c', 'test -t 1 || echo no-tty']);
      assert.equal(without.stdout.trim(), 'no-tty');
    });
  });

  test('asking for root without allowRoot is refused; with it, a warning is logged', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service, warnings } = serviceFor(engine);
    await assert.rejects(service.start({ workspace: smallWorkspace(), image: TEST_IMAGE, user: '0' }), (error: unknown) => AirlockError.is(error) && error.field === 'user');
    await withTask(service, { workspace: smallWorkspace(), image: TEST_IMAGE, user: '0:0', allowRoot: true }, async (record) => {
      assert.equal((await run(service, record.id, ['id', '-u'])).stdout.trim(), '0');
      assert.match((await run(service, record.id, ['cat', '/proc/self/status'])).stdout, /CapEff:\s+0000000000000000/);
      assert.equal(warnings.length, 1);
      assert.ok(service.store.audit(record.id).records().some((entry) => entry.type === 'warning'));
    });
  });
});
