import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { ApprovalBoard } from '../../src/core/approvals/approvalBoard.js';
import { CommandRefused, CommandWaiting, gateCommand, previewCommand } from '../../src/core/gate/commandGate.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

/**
 * The gate for callers that answer at once (agent tools): an ask files its request and says so
 * without waiting; coming back with the request's id runs the command once it is allowed, exactly
 * once for an allow-once, and never for another command or folder.
 */

after(removeTempDirs);

function fakeTask(commands: Record<string, unknown>): { store: TaskStore; record: TaskRecord } {
  const store = new TaskStore(makeTempDir('airlock-gate-'));
  const id = randomBytes(6).toString('hex');
  store.create(id);
  const now = new Date();
  const record: TaskRecord = {
    id, createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3_600_000).toISOString(), workspace: '/nowhere', image: 'none', runtime: 'runc', containerId: 'none', containerName: 'none', user: '1000:1000', env: {},
    options: { commands },
    snapshot: { kind: 'folder', files: 0, bytes: 0, excluded: [], manifestFile: '/nowhere', archiveFile: '/nowhere' },
  };
  return { store, record };
}

async function waiting(promise: Promise<unknown>): Promise<CommandWaiting> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CommandWaiting, `CommandWaiting, not ${String(error)}`);
    return error;
  }
  assert.fail('the gate let the command through');
}

describe('the gate without waiting (agent tools)', () => {
  test('an ask files one request and returns at once; the same id while undecided files no second one', async () => {
    const { store, record } = fakeTask({ ask: ['touch'] });
    const started = Date.now();
    const first = await waiting(gateCommand(store, record, { line: 'touch made-it' }, '/workspace', { noWait: true }));
    assert.ok(Date.now() - started < 5_000, 'did not wait for a reviewer');
    assert.equal(first.code, 'command.waiting');
    assert.equal(first.request.subject, 'touch made-it');
    const again = await waiting(gateCommand(store, record, { line: 'touch made-it' }, '/workspace', { noWait: true, approval: first.request.id }));
    assert.equal(again.request.id, first.request.id);
    assert.deepEqual(new ApprovalBoard(store).pending(record.id).map((request) => request.id), [first.request.id]);
  });

  test('allowed once: the id lets exactly one run through', async () => {
    const { store, record } = fakeTask({ ask: ['touch'] });
    const { request } = await waiting(gateCommand(store, record, { line: 'touch x' }, '/workspace', { noWait: true }));
    assert.equal(new ApprovalBoard(store).queue(record.id).decide(request.id, { decision: 'allow', scope: 'once', by: 'alice' }), 'decided');
    const outcome = await gateCommand(store, record, { line: 'touch x' }, '/workspace', { noWait: true, approval: request.id });
    assert.equal(outcome.approval?.decision.by, 'alice');
    await assert.rejects(gateCommand(store, record, { line: 'touch x' }, '/workspace', { noWait: true, approval: request.id }), (error: AirlockError) => error.code === 'command.approvalUsed' && error.field === 'approval');
  });

  test('allowed for the task: the same command passes again, with or without the id', async () => {
    const { store, record } = fakeTask({ ask: ['touch'] });
    const { request } = await waiting(gateCommand(store, record, { line: 'touch y' }, '/workspace', { noWait: true }));
    new ApprovalBoard(store).queue(record.id).decide(request.id, { decision: 'allow', scope: 'task', by: 'alice' });
    for (let index = 0; index < 2; index++) assert.equal((await gateCommand(store, record, { line: 'touch y' }, '/workspace', { noWait: true, approval: request.id })).approval?.decision.scope, 'task');
    assert.equal((await gateCommand(store, record, { line: 'touch y' }, '/workspace', { noWait: true })).approval?.decision.scope, 'task');
  });

  test('denied: the refusal, with the reviewer and reason', async () => {
    const { store, record } = fakeTask({ ask: ['touch'] });
    const { request } = await waiting(gateCommand(store, record, { line: 'touch z' }, '/workspace', { noWait: true }));
    new ApprovalBoard(store).queue(record.id).decide(request.id, { decision: 'deny', scope: 'once', by: 'bob', reason: 'not now' });
    await assert.rejects(gateCommand(store, record, { line: 'touch z' }, '/workspace', { noWait: true, approval: request.id }), (error: unknown) => error instanceof CommandRefused && /denied by bob: not now/.test(error.message));
  });

  test('the id of another command, another folder or no request is refused, and files nothing', async () => {
    const { store, record } = fakeTask({ ask: ['touch'] });
    const { request } = await waiting(gateCommand(store, record, { line: 'touch a' }, '/workspace', { noWait: true }));
    new ApprovalBoard(store).queue(record.id).decide(request.id, { decision: 'allow', scope: 'once', by: 'alice' });
    for (const [line, cwd, id] of [['touch b', '/workspace', request.id], ['touch a', '/workspace/sub', request.id], ['touch a', '/workspace', 'f'.repeat(24)], ['touch a', '/workspace', 'nonsense']]) {
      await assert.rejects(gateCommand(store, record, { line }, cwd, { noWait: true, approval: id }), (error: AirlockError) => error.code === 'command.approvalMismatch' && error.field === 'approval', `${line} in ${cwd} with ${id}`);
    }
    assert.equal(new ApprovalBoard(store).queue(record.id).requests().length, 1);
    // The allow was not spent by the mismatches.
    assert.ok(await gateCommand(store, record, { line: 'touch a' }, '/workspace', { approval: request.id }));
  });

  test('without noWait the gate still waits for the decision, as the CLI and terminals use it', async () => {
    const { store, record } = fakeTask({ ask: ['touch'] });
    let filed: string | undefined;
    const gated = gateCommand(store, record, { line: 'touch w' }, '/workspace', { onWaiting: (request) => (filed = request.id) });
    const queue = new ApprovalBoard(store).queue(record.id);
    for (let tries = 0; !filed && tries < 100; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(filed, 'the request was filed');
    assert.equal(queue.decide(filed, { decision: 'allow', scope: 'once', by: 'carol' }), 'decided');
    assert.equal((await gated).approval?.decision.by, 'carol');
    // The waiter ran it: naming the same request afterwards does not run it again.
    await assert.rejects(gateCommand(store, record, { line: 'touch w' }, '/workspace', { noWait: true, approval: filed }), (error: AirlockError) => error.code === 'command.approvalUsed');
  });

  test('a deny rule refuses before any approval is looked at', async () => {
    const { store, record } = fakeTask({ deny: ['rm'] });
    await assert.rejects(gateCommand(store, record, { line: 'rm -rf x' }, '/workspace', { noWait: true, approval: 'a'.repeat(24) }), (error: unknown) => error instanceof CommandRefused && error.code === 'command.denied');
  });

  test('the preview says what the gate would, and records nothing', async () => {
    const { store, record } = fakeTask({ ask: ['touch'], deny: ['curl'] });
    assert.equal((await previewCommand(store, record, { line: 'ls' }, '/workspace')).verdict.decision, 'allow');
    assert.equal((await previewCommand(store, record, { line: 'curl x' }, '/workspace')).verdict.decision, 'deny');
    const asked = await previewCommand(store, record, { line: 'touch q' }, '/workspace');
    assert.equal(asked.verdict.decision, 'ask');
    assert.equal(asked.subject, 'touch q');
    assert.equal(asked.granted, undefined);
    assert.equal(new ApprovalBoard(store).queue(record.id).requests().length, 0);
    assert.equal(store.audit(record.id).read(), '');
  });
});
