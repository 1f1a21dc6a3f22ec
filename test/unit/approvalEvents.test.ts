import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { ApprovalBoard } from '../../src/core/approvals/approvalBoard.js';
import { ApprovalWatcher } from '../../src/core/approvals/approvalEvents.js';
import type { ApprovalRequest } from '../../src/core/approvals/approvalQueue.js';
import { nextEvent } from '../../src/core/ground/events.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { launchNode } from '../helpers/cliProcess.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const QUEUE_SOURCE = path.resolve('src/core/approvals/approvalQueue.ts');
const AUDIT_SOURCE = path.resolve('src/core/audit/auditLog.ts');
const input = { kind: 'command' as const, subject: 'git push origin main', reason: 'built-in ask rule "git push"', cwd: '/workspace' };

/** No event within this long is a failure, not a hang. */
const within = () => AbortSignal.timeout(10_000);

/** Runs ApprovalQueue in a process of its own against the task's approvals folder, as the gate and the gateway do. */
async function inAnotherProcess(store: TaskStore, task: string, action: { request: number } | { decide: string; by: string; decision: 'allow' | 'deny' }): Promise<string> {
  const dir = store.gatewayFiles(task).approvalsDir;
  const audit = path.join(store.taskDir(task), 'audit.jsonl');
  const work = 'request' in action
    ? `console.log(queue.request(${JSON.stringify(input)}, ${action.request}).id)`
    : `console.log(queue.decide(${JSON.stringify(action.decide)}, { decision: ${JSON.stringify(action.decision)}, scope: 'once', by: ${JSON.stringify(action.by)} }))`;
  const script = [
    `const { ApprovalQueue } = require(${JSON.stringify(QUEUE_SOURCE)});`,
    `const { AuditLog } = require(${JSON.stringify(AUDIT_SOURCE)});`,
    `const queue = new ApprovalQueue(${JSON.stringify(dir)}, ${JSON.stringify(task)}, new AuditLog(${JSON.stringify(audit)}));`,
    work,
  ].join('\n');
  const { status, stdout, stderr } = await launchNode(['--import', 'tsx', '-e', script], { timeoutMs: 30_000 }).result;
  assert.equal(status, 0, stderr);
  return stdout.trim();
}

function freshStore(): TaskStore {
  return new TaskStore(makeTempDir('airlock-approval-events-'));
}

describe('ApprovalWatcher (unit, no engine)', () => {
  test('a request another process files, in a task folder made after the watcher started, raises onDidRequest', async () => {
    const store = freshStore();
    const watcher = await ApprovalWatcher.open(store);
    try {
      assert.equal(watcher.polling, false);
      assert.equal(fs.existsSync(store.taskDir('aaaa00000001')), false, 'the task folder does not exist yet');
      const requested = nextEvent(watcher.onDidRequest, () => true, within());
      const id = await inAnotherProcess(store, 'aaaa00000001', { request: 60_000 });
      const event = await requested;
      assert.equal(event.task, 'aaaa00000001');
      assert.equal(event.request.id, id);
      assert.equal(event.request.subject, input.subject);
      assert.deepEqual(watcher.pending().map((request) => request.id), [id]);

      // A second new task's folder is watched as well.
      const again = nextEvent(watcher.onDidRequest, (next) => next.task === 'bbbb00000002', within());
      const second = await inAnotherProcess(store, 'bbbb00000002', { request: 60_000 });
      assert.equal((await again).request.id, second);
      assert.deepEqual(watcher.pending().map((request) => request.id).sort(), [id, second].sort());
    } finally {
      await watcher.close();
    }
  });

  test('a decision made in another process raises onDidDecide, and the request leaves pending()', async () => {
    const store = freshStore();
    const watcher = await ApprovalWatcher.open(store);
    try {
      const requested = nextEvent(watcher.onDidRequest, () => true, within());
      const id = await inAnotherProcess(store, 'cccc00000003', { request: 60_000 });
      await requested;
      const decided = nextEvent(watcher.onDidDecide, () => true, within());
      assert.equal(await inAnotherProcess(store, 'cccc00000003', { decide: id, by: 'alice', decision: 'deny' }), 'decided');
      const event = await decided;
      assert.deepEqual([event.task, event.request.id, event.decision.decision, event.decision.by], ['cccc00000003', id, 'deny', 'alice']);
      assert.deepEqual(watcher.pending(), []);
    } finally {
      await watcher.close();
    }
  });

  test('a request nobody answers raises onDidExpire at its deadline, and the watcher records nothing', async () => {
    const store = freshStore();
    const watcher = await ApprovalWatcher.open(store);
    try {
      const queue = new ApprovalBoard(store).queue('dddd00000004');
      const requested = nextEvent(watcher.onDidRequest, () => true, within());
      const expired = nextEvent(watcher.onDidExpire, () => true, within());
      const request = queue.request(input, 600);
      await requested;
      assert.equal(watcher.pending().length, 1);
      const event = await expired;
      const late = Date.now() - Date.parse(request.expiresAt);
      assert.ok(late >= 0, `expired ${-late} ms before the deadline`);
      assert.ok(late < 1000, `expired ${late} ms after the deadline`);
      assert.equal(event.request.id, request.id);
      assert.equal(event.decision, undefined);
      assert.deepEqual(watcher.pending(), []);
      assert.equal(queue.decision(request.id), undefined, 'the watcher wrote no decision');
    } finally {
      await watcher.close();
    }
  });

  test('the asker\'s own deny at the deadline is an expiry, not a decision; its going away before is a decision', async () => {
    const store = freshStore();
    const watcher = await ApprovalWatcher.open(store);
    const decisions: string[] = [];
    watcher.onDidDecide((event) => decisions.push(event.request.id));
    try {
      const queue = new ApprovalBoard(store).queue('eeee00000005');
      const timedOut = queue.request(input, 300);
      const expired = nextEvent(watcher.onDidExpire, (event) => event.request.id === timedOut.id, within());
      await queue.wait(timedOut);
      assert.equal((await expired).request.id, timedOut.id);

      const abandoned = queue.request(input, 60_000);
      const decided = nextEvent(watcher.onDidDecide, (event) => event.request.id === abandoned.id, within());
      await queue.wait(abandoned, AbortSignal.abort());
      assert.equal((await decided).decision.reason, 'the requester went away');
      assert.deepEqual(decisions, [abandoned.id]);
    } finally {
      await watcher.close();
    }
  });

  test('requests already on file are pending() at open and raise no events; decided or expired ones are not pending', async () => {
    const store = freshStore();
    const board = new ApprovalBoard(store);
    const waiting = board.queue('ffff00000006').request(input, 60_000);
    const answered = board.queue('ffff00000006').request(input, 60_000);
    board.queue('ffff00000006').decide(answered.id, { decision: 'allow', scope: 'once', by: 'bob' });
    const stale = board.queue('ffff00000007').request(input, 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const watcher = await ApprovalWatcher.open(store);
    const seen: string[] = [];
    watcher.onDidRequest((event) => seen.push(`request ${event.request.id}`));
    watcher.onDidDecide((event) => seen.push(`decide ${event.request.id}`));
    watcher.onDidExpire((event) => seen.push(`expire ${event.request.id}`));
    try {
      assert.deepEqual(watcher.pending().map((request: ApprovalRequest) => request.id), [waiting.id]);
      assert.equal(board.queue('ffff00000007').decision(stale.id), undefined);
      const next = nextEvent(watcher.onDidRequest, () => true, within());
      const fresh = board.queue('ffff00000006').request(input, 60_000);
      await next;
      assert.deepEqual(seen, [`request ${fresh.id}`]);
    } finally {
      await watcher.close();
    }
  });

  test('with polling (the fallback where the OS cannot watch) a request and its decision still raise events', async () => {
    const store = freshStore();
    const watcher = await ApprovalWatcher.open(store, { polling: true, pollIntervalMs: 50 });
    try {
      assert.equal(watcher.polling, true);
      const requested = nextEvent(watcher.onDidRequest, () => true, within());
      const id = await inAnotherProcess(store, 'aaaa00000008', { request: 60_000 });
      assert.equal((await requested).request.id, id);
      const decided = nextEvent(watcher.onDidDecide, () => true, within());
      await inAnotherProcess(store, 'aaaa00000008', { decide: id, by: 'carol', decision: 'allow' });
      assert.equal((await decided).decision.by, 'carol');
    } finally {
      await watcher.close();
    }
  });

  test('after dispose (or an aborted signal) no events arrive', async () => {
    const store = freshStore();
    const controller = new AbortController();
    const watcher = await ApprovalWatcher.open(store, { signal: controller.signal });
    const seen: string[] = [];
    watcher.onDidRequest((event) => seen.push(event.request.id));
    controller.abort();
    await watcher.close();
    const probe = await ApprovalWatcher.open(store);
    try {
      const reached = nextEvent(probe.onDidRequest, () => true, within());
      new ApprovalBoard(store).queue('aaaa00000009').request(input, 60_000);
      await reached;
      assert.deepEqual(seen, []);
    } finally {
      await probe.close();
    }
  });
});
