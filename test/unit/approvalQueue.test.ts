import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { ApprovalBoard } from '../../src/core/approvals/approvalBoard.js';
import { ApprovalQueue } from '../../src/core/approvals/approvalQueue.js';
import { AuditLog } from '../../src/core/audit/auditLog.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { launchNode } from '../helpers/cliProcess.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

function fresh() {
  const dir = makeTempDir('airlock-queue-');
  const audit = new AuditLog(path.join(dir, 'audit.jsonl'));
  return { dir, audit, queue: new ApprovalQueue(path.join(dir, 'approvals'), 'abcdef012345', audit) };
}

const input = { kind: 'command' as const, subject: 'git push origin main', reason: 'built-in ask rule "git push"', cwd: '/workspace' };

describe('ApprovalQueue', () => {
  test('a request records kind, subject, cwd, reason, creation and expiry, and is pending until decided', () => {
    const { queue, audit } = fresh();
    const request = queue.request(input, 60_000);
    assert.match(request.id, /^[a-f0-9]{24}$/);
    assert.equal(Date.parse(request.expiresAt) - Date.parse(request.createdAt), 60_000);
    assert.deepEqual(queue.pending().map((item) => item.id), [request.id]);
    assert.equal(queue.decide(request.id, { decision: 'allow', scope: 'once', by: 'alice' }), 'decided');
    assert.deepEqual(queue.pending(), []);
    assert.equal(queue.decision(request.id)?.by, 'alice');
    assert.deepEqual(audit.records().map((record) => record.type), ['approval.requested', 'approval.decided']);
  });

  test('the second decision is refused and the first stands', () => {
    const { queue, audit } = fresh();
    const request = queue.request(input, 60_000);
    assert.equal(queue.decide(request.id, { decision: 'deny', scope: 'once', by: 'alice', reason: 'no' }), 'decided');
    assert.equal(queue.decide(request.id, { decision: 'allow', scope: 'task', by: 'bob' }), 'already-decided');
    assert.equal(queue.decision(request.id)?.decision, 'deny');
    assert.equal(audit.records().filter((record) => record.type === 'approval.decided').length, 1);
  });

  test('an expired request cannot be approved; it is recorded as denied by airlock', () => {
    const { queue } = fresh();
    const request = queue.request(input, 1);
    const until = Date.now() + 5;
    while (Date.now() < until) {
      // let the request expire
    }
    assert.equal(queue.decide(request.id, { decision: 'allow', scope: 'once', by: 'alice' }), 'expired');
    assert.deepEqual({ decision: queue.decision(request.id)?.decision, by: queue.decision(request.id)?.by }, { decision: 'deny', by: 'airlock' });
  });

  test('wait returns the decision made elsewhere, and denies at the deadline when nobody decides', async () => {
    const { queue } = fresh();
    const decided = queue.request(input, 10_000);
    setTimeout(() => queue.decide(decided.id, { decision: 'allow', scope: 'once', by: 'carol' }), 50);
    assert.equal((await queue.wait(decided)).by, 'carol');
    const ignored = queue.request(input, 200);
    const outcome = await queue.wait(ignored);
    assert.deepEqual([outcome.decision, outcome.by, outcome.reason], ['deny', 'airlock', 'no decision before the timeout']);
  });

  test('a waiter wakes when a decider in another process writes the decision, and an abort ends the wait as the requester going away', async () => {
    const { dir, queue } = fresh();
    const request = queue.request(input, 60_000);
    const script = [
      `const { ApprovalQueue } = require(${JSON.stringify(path.resolve('src/core/approvals/approvalQueue.ts'))});`,
      `const { AuditLog } = require(${JSON.stringify(path.resolve('src/core/audit/auditLog.ts'))});`,
      `new ApprovalQueue(${JSON.stringify(path.join(dir, 'approvals'))}, 'abcdef012345', new AuditLog(${JSON.stringify(path.join(dir, 'audit.jsonl'))})).decide(${JSON.stringify(request.id)}, { decision: 'deny', scope: 'once', by: 'erin', reason: 'not today' });`,
    ].join('\n');
    const waiting = queue.wait(request);
    const { status, stderr } = await launchNode(['--import', 'tsx', '-e', script], { timeoutMs: 30_000 }).result;
    assert.equal(status, 0, stderr);
    const outcome = await waiting;
    assert.deepEqual([outcome.decision, outcome.by, outcome.reason], ['deny', 'erin', 'not today']);
    const abandoned = queue.request(input, 60_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const gone = await queue.wait(abandoned, controller.signal);
    assert.deepEqual([gone.decision, gone.by, gone.reason], ['deny', 'airlock', 'the requester went away']);
    assert.equal(fs.readdirSync(path.join(dir, 'approvals')).filter((name) => name.endsWith('.tmp')).length, 0);
  });

  test('a task-scope allow covers the identical subject and kind only', () => {
    const { queue } = fresh();
    const request = queue.request(input, 60_000);
    assert.equal(queue.grantedForTask('command', input.subject), undefined);
    queue.decide(request.id, { decision: 'allow', scope: 'task', by: 'dave' });
    assert.equal(queue.grantedForTask('command', input.subject)?.by, 'dave');
    assert.equal(queue.grantedForTask('command', 'git push origin other'), undefined);
    assert.equal(queue.grantedForTask('network', input.subject), undefined);
    const once = queue.request({ ...input, subject: 'npm publish' }, 60_000);
    queue.decide(once.id, { decision: 'allow', scope: 'once', by: 'dave' });
    assert.equal(queue.grantedForTask('command', 'npm publish'), undefined);
  });

  test('leftover temporary and foreign files are ignored; ids must be ours', () => {
    const { queue, dir } = fresh();
    const request = queue.request(input, 60_000);
    fs.writeFileSync(path.join(dir, 'approvals', `${request.id}.decision.json.123.tmp`), '{"half":');
    fs.writeFileSync(path.join(dir, 'approvals', 'junk.request.json'), 'not json');
    assert.deepEqual(queue.pending().map((item) => item.id), [request.id]);
    assert.throws(() => queue.decide('../../etc/passwd', { decision: 'allow', scope: 'once', by: 'x' }), /not valid/);
  });
});

describe('ApprovalQueue: using an allow-once', () => {
  test('of several users of one allow exactly one wins, across processes; a use taken back can be used again', async () => {
    const { dir, queue } = fresh();
    const request = queue.request({ kind: 'apply', subject: 'apply 1 change(s) to /w', reason: 'writes to the host workspace' }, 60_000);
    assert.equal(queue.used(request.id), false);
    const script = [
      `const { ApprovalQueue } = require(${JSON.stringify(path.resolve('src/core/approvals/approvalQueue.ts'))});`,
      `const { AuditLog } = require(${JSON.stringify(path.resolve('src/core/audit/auditLog.ts'))});`,
      `process.stdout.write(String(new ApprovalQueue(${JSON.stringify(path.join(dir, 'approvals'))}, 'abcdef012345', new AuditLog(${JSON.stringify(path.join(dir, 'audit.jsonl'))})).use(${JSON.stringify(request.id)})));`,
    ].join('\n');
    const others = Array.from({ length: 4 }, () => launchNode(['--import', 'tsx', '-e', script], { timeoutMs: 30_000 }).result);
    const results = await Promise.all(others);
    assert.deepEqual(results.map((result) => result.status), [0, 0, 0, 0], JSON.stringify(results.map((result) => result.stderr)));
    assert.ok(results.every((result) => result.stdout === 'true' || result.stdout === 'false'));
    const wins = results.filter((result) => result.stdout === 'true').length + (queue.use(request.id) ? 1 : 0);
    assert.equal(wins, 1, JSON.stringify(results.map((result) => result.stdout + result.stderr)));
    assert.equal(queue.used(request.id), true);
    // The mark lives beside the queue's folder, never in it (that holds requests and decisions only).
    assert.deepEqual(fs.readdirSync(path.join(dir, 'approvals-used')), [request.id]);
    queue.unuse(request.id);
    assert.equal(queue.used(request.id), false);
    assert.equal(queue.use(request.id), true);
    assert.throws(() => queue.use('../../etc'), /not valid/);
  });
});

describe('ApprovalBoard', () => {
  test('lists pending requests across tasks, finds them by unique prefix, and sweeps expired ones into deny', () => {
    const root = makeTempDir('airlock-board-');
    const store = new TaskStore(root);
    store.create('aaaaaaaaaaaa');
    store.create('bbbbbbbbbbbb');
    const board = new ApprovalBoard(store);
    const first = board.queue('aaaaaaaaaaaa').request(input, 60_000);
    const second = board.queue('bbbbbbbbbbbb').request({ ...input, kind: 'push', subject: 'git push origin 0123:refs/heads/x' }, 60_000);
    const stale = board.queue('bbbbbbbbbbbb').request(input, 1);
    const until = Date.now() + 5;
    while (Date.now() < until) {
      // let the stale request expire
    }
    assert.deepEqual(board.pending().map((item) => item.id).sort(), [first.id, second.id].sort());
    assert.equal(board.queue('bbbbbbbbbbbb').decision(stale.id)?.by, 'airlock');
    assert.equal(board.locate(second.id.slice(0, 10)).request.task, 'bbbbbbbbbbbb');
    assert.throws(() => board.locate('abc'), /not an approval id/);
    assert.throws(() => board.locate('ffffffffffff'), /no approval request/);
  });
});
