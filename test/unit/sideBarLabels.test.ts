import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import * as core from '../../src/core/index.js';
import { requestRows, requestTitle } from '../../src/extension/approvals/approvalLabels.js';
import { taskDescription, taskDetails } from '../../src/extension/tasks/taskLabels.js';
import { noticeText } from '../../src/extension/ui/noticeText.js';
import type { ApprovalRequest, TaskOverview } from '../../src/core/index.js';

const NOW = Date.parse('2026-12-02T10:00:00Z');

function overview(overrides: Partial<TaskOverview> = {}): TaskOverview {
  return {
    id: 'a1b2c3d4e5f6', workspace: '/home/dev/shop', folder: 'shop', state: 'running', image: 'node:22-bookworm', runtime: 'runsc', network: 'allowlist',
    // Labels count the TTL down from expiresAt (overviews are cached between events).
    createdAt: '2026-12-02T09:00:00Z', expiresAt: new Date(Date.now() + 65 * 60_000 + 500).toISOString(), pendingApprovals: 2, ...overrides,
  };
}

function request(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return { id: 'f'.repeat(24), task: 'a1b2c3d4e5f6', kind: 'command', subject: 'git push origin main', reason: 'git push publishes commits', createdAt: '2026-12-02T09:59:00Z', expiresAt: '2026-12-02T10:04:30Z', requestedBy: 'dev (process 42)', ...overrides };
}

describe('the Tasks view: what each task shows', () => {
  test('a live task: state, runtime, network with its phase, TTL left and what waits on it', () => {
    assert.equal(taskDescription(core, overview(), 'agent phase'), 'running · gVisor · allowlist · agent phase · 1h05m left · 2 waiting');
    assert.equal(taskDescription(core, overview({ network: 'deny', runtime: 'runc', pendingApprovals: 0 }), undefined), 'running · runc · offline · 1h05m left');
    const rows = Object.fromEntries(taskDetails(core, overview({ lastLook: { changeSet: 'c'.repeat(64), files: 3, at: '2026-12-02T09:30:00Z' } }), 'agent phase').map((row) => [row.key, row.value]));
    assert.equal(rows.image, 'node:22-bookworm');
    assert.equal(rows.runtime, 'gVisor (runsc)');
    assert.equal(rows.network, 'allowlist, agent phase');
    assert.match(rows.ttl, /^1h05m \(until /);
    assert.match(rows.changes, /^3 files at the last look/);
    assert.equal(rows.approvals, '2 waiting for a reviewer');
    assert.equal(rows.workspace, '/home/dev/shop');
  });

  test('an ended task says when and why, and has no TTL or approvals rows', () => {
    const ended = overview({ state: 'destroyed', endedAt: '2026-12-02T09:40:00Z', endReason: 'stopped by user', pendingApprovals: 0 });
    assert.match(taskDescription(core, ended, undefined), /^ended .*\(stopped by user\)$/);
    assert.deepEqual(taskDetails(core, ended, undefined).map((row) => row.key), ['state', 'image', 'runtime', 'network', 'changes', 'workspace']);
  });

  test('live tasks come first, running before stopped; ended ones go to Recent, newest first, at most RECENT_TASKS', () => {
    const ended = Array.from({ length: 25 }, (_, index) => overview({ id: `e${String(index).padStart(11, '0')}`, state: 'destroyed', endedAt: new Date(NOW - index * 60_000).toISOString() }));
    const tasks = [...ended, overview({ id: 'stopped00001', state: 'stopped' }), overview({ id: 'running00001' })];
    const { live, recent, endedTotal } = core.liveAndRecent(tasks);
    assert.deepEqual(live.map((task) => task.id), ['running00001', 'stopped00001']);
    assert.equal(recent.length, core.RECENT_TASKS);
    assert.equal(endedTotal, 25);
    assert.equal(recent[0].id, 'e00000000000');
  });

  test('taskOverview reads the pending count and the last look from the state folder', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-overview-'));
    const store = new core.TaskStore(root);
    const record = { id: 'a1b2c3d4e5f6', createdAt: '2026-12-02T09:00:00Z', expiresAt: '2026-12-02T11:00:00Z', workspace: '/w/shop', image: 'img', runtime: 'runc' as const, containerId: 'c', containerName: 'n', user: '1000:1000', env: {}, options: { network: 'allowlist' }, snapshot: { kind: 'folder' as const, files: 1, bytes: 1, excluded: [], manifestFile: 'm', archiveFile: 'a' } };
    const summary = core.taskOverview(store, { record, state: 'running' }, [request(), request({ task: 'other0000000' })]);
    assert.equal(summary.pendingApprovals, 1);
    assert.equal(summary.network, 'allowlist');
    assert.equal(core.ttlLeft(summary, NOW), 3_600_000);
    assert.equal(summary.lastLook, undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });
});

describe('the Approvals view: everything needed to decide', () => {
  test('a command shows what, where, why, who asked and the time left', () => {
    assert.equal(requestTitle(core, request()), 'Run: git push origin main');
    const rows = Object.fromEntries(requestRows(core, request({ cwd: '/workspace' }), overview(), NOW).map((row) => [row.key, row.value]));
    assert.equal(rows.what, 'git push origin main');
    assert.equal(rows.task, 'a1b2c3d4e5f6 — /home/dev/shop');
    assert.equal(rows.cwd, '/workspace');
    assert.equal(rows.why, 'git push publishes commits');
    assert.equal(rows.by, 'dev (process 42)');
    assert.match(rows.time, /^4m30s, refused at /);
  });

  test('a push with 40 files lists its remote, branch, commit and every file', () => {
    const files = Array.from({ length: 40 }, (_, index) => `M src/file${index}.ts`);
    const push = request({ kind: 'push', subject: 'git push origin abc:refs/heads/airlock/x', reason: 'pushes from the host with your git credentials', details: { remote: 'origin', url: '/srv/repo.git', branch: 'airlock/x', commit: '0123456789abcdef', base: 'fedcba9876543210', files } });
    assert.equal(requestTitle(core, push), 'Push 0123456789 to airlock/x (40 files)');
    const rows = requestRows(core, push, undefined, NOW);
    const byKey = Object.fromEntries(rows.map((row) => [row.key, row]));
    assert.equal(byKey.remote.value, 'origin (/srv/repo.git)');
    assert.equal(byKey.branch.value, 'airlock/x');
    assert.equal(byKey.commit.value, '0123456789abcdef on fedcba987654');
    assert.deepEqual(byKey.files.items, files);
  });

  test('text from the box cannot forge lines or hide characters', () => {
    const rows = requestRows(core, request({ subject: 'rm -rf /\nwhy: approved by admin', reason: 'x\u202Ey' }), undefined, NOW);
    for (const row of rows) assert.doesNotMatch(row.value, /[\n\u202E]/);
  });
});

describe('policySummary and formatAuditLog', () => {
  test('a start shows image, runtime, limits, network per phase and command rules', () => {
    const state = core.resolvePolicy({ defaultImage: 'node:22-bookworm' });
    const lines = core.policySummary(state);
    assert.match(lines[0], /^image node:22-bookworm, runtime runc/);
    assert.match(lines[1], /^limits: 2 CPU\(s\), 2 GiB memory, 512 processes, ends after 4 h$/);
    assert.match(lines[2], /^network: setup offline; agent offline$/);
  });

  test('the audit log reads as one line per record, nothing raw', () => {
    const text = core.formatAuditLog([
      { time: '2026-12-02T10:00:00.000Z', type: 'command', task: 't', argv: ['npm', 'test'], cwd: '/workspace', exitCode: 1, bytesOut: 10, bytesErr: 2 },
      { time: '2026-12-02T10:00:01.000Z', type: 'approval.decided', task: 't', decision: { id: 'r1', decision: 'deny', scope: 'once', by: 'dev', reason: 'not now\nok' } },
    ], 1);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^2026-12-02 10:00:00  command +ran npm test  \[exit 1; in \/workspace; 10 B out, 2 B err\]$/);
    assert.match(lines[1], /denied once by dev \(r1\): not now\\nok$/);
    assert.match(lines[2], /1 line\(s\) could not be read/);
  });
});

describe('noticeText: box text in a notification is never a link or an icon', () => {
  test('a markdown command link from the box is broken up, and so are codicons', () => {
    const subject = 'git push \'[Show details](command:airlock.approveForTask?{"request":{"id":"x"}})\' $(check)';
    const shown = noticeText(core, subject);
    // VS Code makes `[label](target)` a link and `$(name)` an icon only when the characters touch.
    assert.doesNotMatch(shown, /\]\(/);
    assert.doesNotMatch(shown, /\$\(/);
    assert.match(shown, /Show details/);
    assert.equal(noticeText(core, 'a\nb'), 'a\\nb');
  });
});
