import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import type Docker from 'dockerode';
import { nextEvent } from '../../src/core/ground/events.js';
import { TaskWatcher } from '../../src/core/task/taskEvents.js';
import { TaskService } from '../../src/core/task/taskService.js';
import { realEngine, serviceFor, TEST_IMAGE, tempDir } from '../helpers/realEngine.js';

/** An event that has not come by then is a failure, not a hang. */
const within = (ms: number) => AbortSignal.timeout(ms);

function smallWorkspace(): string {
  const workspace = tempDir('events-ws');
  fs.writeFileSync(path.join(workspace, 'README.md'), '# hello\n');
  return workspace;
}

/**
 * The real engine behind a switch: while it is "down" every call fails as a refused connection
 * would, and the event streams handed out so far can be cut. It also keeps every stream it gave.
 */
function switchableEngine(docker: Docker) {
  const streams: Readable[] = [];
  let down = false;
  let opened = 0;
  const refuse = () => Object.assign(new Error('connect ECONNREFUSED (engine switched off by the test)'), { code: 'ECONNREFUSED' });
  const engine = {
    async getEvents(options?: Docker.GetEventsOptions) {
      opened++;
      if (down) throw refuse();
      const stream = (await docker.getEvents(options)) as Readable;
      streams.push(stream);
      return stream;
    },
    async listContainers(options?: Docker.ContainerListOptions) {
      if (down) throw refuse();
      return docker.listContainers(options);
    },
    getContainer: (id: string) => docker.getContainer(id),
  };
  return {
    engine: engine as unknown as Pick<Docker, 'getEvents' | 'listContainers' | 'getContainer'>,
    streams,
    opened: () => opened,
    switchOff() {
      down = true;
      for (const stream of streams) stream.destroy();
    },
    switchOn() {
      down = false;
    },
  };
}

describe('task events (integration)', () => {
  test('a start raises onDidStart, and the TTL ends the task with "ttl expired" while nobody lists or writes', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const watcher = await TaskWatcher.open(engine.docker, service.store);
    try {
      assert.equal(watcher.engineConnected, true);
      assert.deepEqual(watcher.current(), []);
      const started = nextEvent(watcher.onDidStart, () => true, within(120_000));
      const record = await service.start({ workspace: smallWorkspace(), image: TEST_IMAGE, ttlSeconds: 5 });
      const start = await started;
      assert.equal(start.id, record.id);
      assert.equal(start.status.state, 'running');
      assert.deepEqual(watcher.current().map((status) => [status.record.id, status.state]), [[record.id, 'running']]);

      // Nothing of Airlock is left running for this task: the container's own sleep ends it.
      service.dispose();
      const ended = await nextEvent(watcher.onDidEnd, (event) => event.id === record.id, within(60_000));
      assert.equal(ended.reason, 'ttl expired');
      assert.equal(ended.status.state, 'destroyed');
      assert.equal(ended.status.record.destroyReason, 'ttl expired');
      assert.ok(Date.now() >= Date.parse(record.expiresAt), 'the end comes no earlier than the TTL');
      assert.deepEqual(watcher.current().map((status) => [status.record.id, status.state]), [[record.id, 'destroyed']]);
      // The watcher only read: the record and the audit log are as the start left them.
      assert.equal(service.store.load(record.id)?.destroyedAt, undefined);
      assert.notEqual(service.store.audit(record.id).records().at(-1)?.type, 'task.destroyed');
    } finally {
      await watcher.close();
    }
  });

  test('a stop from another TaskService raises onDidEnd with "stopped by user"', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const watcher = await TaskWatcher.open(engine.docker, service.store);
    try {
      const started = nextEvent(watcher.onDidStart, () => true, within(120_000));
      const record = await service.start({ workspace: smallWorkspace(), image: TEST_IMAGE });
      service.dispose();
      assert.equal((await started).id, record.id);
      assert.equal(watcher.current().find((status) => status.record.id === record.id)?.state, 'running');
      const ended = nextEvent(watcher.onDidEnd, (event) => event.id === record.id, within(60_000));
      const other = new TaskService(engine, service.store);
      await other.stop(record.id);
      other.dispose();
      const event = await ended;
      assert.equal(event.reason, 'stopped by user');
      assert.equal(event.previous !== undefined && event.previous !== 'destroyed', true);
      assert.equal(event.status.state, 'destroyed');
      assert.ok(event.status.record.destroyedAt, 'the end carries the record the stopper wrote');
    } finally {
      await watcher.close();
    }
  });

  test('losing the engine raises onDidLoseEngine; on reconnect one list fires the end that happened meanwhile', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const flaky = switchableEngine(engine.docker);
    const watcher = await TaskWatcher.open(flaky.engine, service.store, { reconnect: { initialMs: 100, maxMs: 400 } });
    const log: string[] = [];
    watcher.onDidLoseEngine(() => log.push('lost'));
    watcher.onDidRecoverEngine(() => log.push('recovered'));
    watcher.onDidEnd((event) => log.push(`end ${event.reason}`));
    try {
      const started = nextEvent(watcher.onDidStart, () => true, within(120_000));
      const record = await service.start({ workspace: smallWorkspace(), image: TEST_IMAGE });
      await started;

      const lost = nextEvent(watcher.onDidLoseEngine, () => true, within(10_000));
      flaky.switchOff();
      const loss = await lost;
      assert.match(loss.error.message, /ended|ECONNREFUSED|aborted|closed/);
      assert.equal(watcher.engineConnected, false);

      // The stop happens while the watcher cannot see the engine: its record lands, but the
      // container's state is unknown until the engine is back, so nothing is reported yet.
      await service.stop(record.id);
      const attemptsBefore = flaky.opened();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(flaky.opened() > attemptsBefore, 'reconnect attempts go on while the engine is away');
      assert.deepEqual(log, ['lost'], 'one loss is reported once, however many attempts fail');
      assert.equal(watcher.current().find((status) => status.record.id === record.id)?.state, 'running', 'the last known state stands');

      const ended = nextEvent(watcher.onDidEnd, (event) => event.id === record.id, within(10_000));
      flaky.switchOn();
      assert.equal((await ended).reason, 'stopped by user');
      assert.deepEqual(log, ['lost', 'recovered', 'end stopped by user']);
      assert.equal(watcher.engineConnected, true);
    } finally {
      service.dispose();
      await watcher.close();
    }
  });

  test('dispose closes the engine stream and no reconnect follows', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const flaky = switchableEngine(engine.docker);
    const watcher = await TaskWatcher.open(flaky.engine, service.store, { reconnect: { initialMs: 50, maxMs: 50 } });
    assert.equal(flaky.streams.length, 1);
    const stream = flaky.streams[0];
    assert.equal(stream.destroyed, false);
    const closed = new Promise<void>((resolve) => stream.once('close', resolve));
    await watcher.close();
    await closed;
    assert.equal(stream.destroyed, true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(flaky.opened(), 1, 'a disposed watcher never reconnects');
  });

  test('a watcher opened while the engine is away reports it, and fills current() once it is back', async (t) => {
    const engine = await realEngine(t);
    if (!engine) return;
    const { service } = serviceFor(engine);
    const record = await service.start({ workspace: smallWorkspace(), image: TEST_IMAGE });
    const flaky = switchableEngine(engine.docker);
    flaky.switchOff();
    const watcher = await TaskWatcher.open(flaky.engine, service.store, { reconnect: { initialMs: 100, maxMs: 200 } });
    try {
      assert.equal(watcher.engineConnected, false);
      assert.deepEqual(watcher.current(), [], 'no state is claimed without the engine');
      const recovered = nextEvent(watcher.onDidRecoverEngine, () => true, within(10_000));
      flaky.switchOn();
      await recovered;
      assert.deepEqual(watcher.current().map((status) => [status.record.id, status.state]), [[record.id, 'running']]);
    } finally {
      await watcher.close();
      await service.stop(record.id);
      service.dispose();
    }
  });
});
