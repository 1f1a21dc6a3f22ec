// The side bar in a real VS Code (code-server, chromium): a task started from the command palette,
// a reviewer's approvals for a CLI command and a host push, a stop from the Tasks view, and an
// invalid policy file while a task runs. Each step leaves screenshots; README's come from here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe } from 'node:test';
import { SAMPLE_FILES, useE2ESession } from './harness/session.js';
import {
  answerDialog, answerInputBox, clearNotifications, clickNotificationButton, clickTreeItemAction, expandTreeItem, notifications, openViewContainer, runCommand, showView,
  activeEditorText, editorTab, pickTreeItemMenu, widenSideBar as widenHarnessSideBar, readClipboard, statusBarText, treeItems, treeItemText, viewPane, waitForNotification, waitForTreeItem,
} from './harness/workbench.js';

const DOCKER = '/usr/bin/docker';

/**
 * Enough files that copying the workspace takes a moment, so the progress notification is seen
 * with its percentages (about 12 MB in 1,500 files), plus a workspace setting that names another
 * image: a repository's .vscode/settings.json must never choose the task's image.
 */
function sampleFiles(): Record<string, string> {
  // The repository asks for a destination (a loosening, held back until accepted) and gates git push.
  const policy = { resources: { ttlSeconds: 900 }, commands: { ask: ['git push*'] }, network: { agent: { allow: ['registry.npmjs.org:443'] } } };
  const files: Record<string, string> = { ...SAMPLE_FILES, '.airlock.json': `${JSON.stringify(policy, null, 2)}\n`, '.vscode/settings.json': '{ "airlock.image": "evil.example/backdoor:latest", "airlock.runtime": "runc" }\n' };
  const block = 'x'.repeat(8 * 1024);
  for (let index = 0; index < 1500; index++) files[`data/part-${String(index).padStart(4, '0')}.txt`] = `${index}\n${block}`;
  return files;
}

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
const docker = (...args: string[]) => execFileSync(DOCKER, args, { encoding: 'utf8' }).trim();

describe('the Airlock side bar in VS Code', () => {
  const session = useE2ESession({ name: 'side-bar', files: sampleFiles(), trust: true });
  let taskId = '';

  const widenSideBar = () => widenHarnessSideBar(session.page);
  const logText = () => fs.readFileSync(session.server.outputChannelLog('Airlock')!, 'utf8');
  const taskRow = () => waitForTreeItem(session.page, 'Tasks', `sample-project · ${taskId}`, 60_000);

  session.test('1. Start Task from the command palette: the policy summary, a progress notification with percentages, the task running in Tasks', async () => {
    const { page } = session;
    await openViewContainer(page, 'Airlock');
    await widenSideBar();
    await runCommand(page, 'Airlock: Start Task for This Workspace');
    // First the summary with the repository's loosening held back, and Accept.
    const held = await answerDialog(page, 'Accept Repository Policy…', 60_000);
    assert.match(held, /Start a sandboxed task for sample-project\?/);
    assert.match(held, /image airlock-test:bookworm/, 'the image is the user\'s setting, not the workspace\'s');
    assert.doesNotMatch(held, /evil\.example/);
    assert.match(held, /network: setup offline; agent offline/);
    assert.match(held, /Held back from the repository policy until you accept it:\n• network\.agent\.allow: registry\.npmjs\.org:443/);
    assert.match(await answerDialog(page, 'Accept'), /loosens your sandbox/);
    const summary = await answerDialog(page, 'Start', 60_000);
    assert.match(summary, /network: setup offline; agent allow registry\.npmjs\.org:443/);
    assert.doesNotMatch(summary, /Held back/);
    // The copy is the long step: the toast is fully in by then, with a percentage worth showing.
    const progress = notifications(page, /starting a task for sample-project: [1-9]\d% — copying/).first();
    await progress.waitFor({ state: 'visible', timeout: 60_000 });
    await page.locator('.notifications-toasts .notification-toast.notification-fade-in-done').first().waitFor({ timeout: 10_000 });
    await session.shot('start-progress');
    const running = await waitForNotification(page, /^Airlock: task [0-9a-f]{12} is running for sample-project/, 120_000);
    taskId = /task ([0-9a-f]{12})/.exec(await running.innerText())![1];

    const percents = [...logText().matchAll(/start: (\d+)% — /g)].map((match) => Number(match[1]));
    assert.ok(percents.length >= 3, `the log has a line per step: ${percents.join(', ')}`);
    assert.deepEqual([...percents].sort((a, b) => a - b), percents, 'percentages only rise');
    assert.equal(percents.at(-1), 100);

    const row = await taskRow();
    // The gateway the extension started answers with its phase: the agent's, after setup.
    await row.locator('.label-description', { hasText: /^running · runc · allowlist · agent phase · \d+m\d\ds left$/ }).waitFor({ timeout: 30_000 });
    await expandTreeItem(page, 'Tasks', `sample-project · ${taskId}`);
    for (const detail of ['Image: airlock-test:bookworm', 'Runtime: runc', 'Network: allowlist, agent phase', 'Approvals: none waiting']) await waitForTreeItem(page, 'Tasks', detail);
    assert.match(await statusBarText(page, 'airlock.airlock.airlock.status'), new RegExp(`Airlock ${taskId} · allowlist, agent phase`));
    const listed = JSON.parse((await session.airlock('ls', '--json')).stdout) as { id: string; state: string; image: string }[];
    assert.deepEqual(listed.map((task) => [task.id, task.state, task.image]), [[taskId, 'running', 'airlock-test:bookworm']]);
    await session.shot('tasks-running');
    await clearNotifications(page);
  });

  session.test('2. A gated command from the CLI waits in Approvals with its reason; Deny with a reason gives exit 126 and that reason; Approve once lets it run', async () => {
    const { page } = session;
    assert.ok(taskId, 'scenario 1 started the task');
    const denied = session.airlock('exec', taskId, '--', 'git', 'push', 'origin', 'main');
    const request = await waitForTreeItem(page, 'Approvals', 'Run: git push origin main', 60_000);
    assert.match((await treeItemText(request)).description, new RegExp(`sample-project ${taskId} · \\d+m\\d\\ds left`));
    await waitForTreeItem(page, 'Approvals', /^Why it was gated: /);
    await waitForTreeItem(page, 'Approvals', /^Asked by: root \(process \d+\)$/);
    assert.equal((await viewPane(page, 'Approvals').locator('.pane-header .description').innerText()).trim(), '1 waiting');
    assert.match(await statusBarText(page, 'airlock.airlock.airlock.status'), /1 waiting/);
    await session.shot('approvals-command');
    await clickTreeItemAction(page, 'Approvals', 'Run: git push origin main', 'Deny…');
    await answerInputBox(page, 'not on main, please');
    const refusal = await denied;
    assert.equal(refusal.code, 126, refusal.stderr);
    assert.match(refusal.stderr, /denied by root: not on main, please/);
    await treeItems(page, 'Approvals', 'Run: git push origin main').first().waitFor({ state: 'detached' });

    const allowed = session.airlock('exec', taskId, '--', 'git', 'push', 'origin', 'main');
    await clickTreeItemAction(page, 'Approvals', 'Run: git push origin main', 'Approve Once', 60_000);
    const ran = await allowed;
    // It ran: the box's copy has no remote (nothing of the host's .git/config enters), so git itself fails.
    assert.notEqual(ran.code, 126, ran.stderr);
    assert.match(ran.stderr, /origin/);
    const audit = (await session.airlock('audit', taskId)).stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; decision?: { decision: string; by: string; reason?: string } });
    const decisions = audit.filter((record) => record.type === 'approval.decided').map((record) => [record.decision!.decision, record.decision!.by, record.decision!.reason ?? '']);
    assert.deepEqual(decisions, [['deny', 'root', 'not on main, please'], ['allow', 'root', '']]);

    // The task's context menu: its logs as readable editors, and its id.
    const label = `sample-project · ${taskId}`;
    await pickTreeItemMenu(page, 'Tasks', label, 'Show Audit Log');
    await editorTab(page, 'audit.log').waitFor({ timeout: 20_000 });
    const auditText = await activeEditorText(page);
    assert.match(auditText, new RegExp(`Airlock audit log — task ${taskId}`));
    assert.match(auditText, /denied once by root \([0-9a-f]{24}\): not on main, please/);
    assert.match(auditText, /ran git push origin main/);
    await session.shot('audit-log');
    await pickTreeItemMenu(page, 'Tasks', label, 'Show Network Log');
    await editorTab(page, 'network.log').waitFor({ timeout: 20_000 });
    assert.match(await activeEditorText(page), /network: allowlist \(default deny, every connection logged\)/);
    // The browser's clipboard takes a write only while the page has focus, which a closing menu can
    // take away for a moment: the copy is tried again once, after a click on the row.
    for (let attempt = 1; ; attempt++) {
      await pickTreeItemMenu(page, 'Tasks', label, 'Copy Task ID');
      await page.locator('.part.statusbar', { hasText: `Airlock: copied ${taskId}` }).waitFor({ timeout: 10_000 });
      const copied = await page.waitForFunction(`navigator.clipboard.readText().then((text) => text === ${JSON.stringify(taskId)})`, undefined, { timeout: 5_000, polling: 200 }).then(() => true, () => false);
      if (copied || attempt === 2) break;
      await (await waitForTreeItem(page, 'Tasks', label)).click();
    }
    assert.equal(await readClipboard(page), taskId);
    await runCommand(page, 'View: Close All Editors');
  });

  session.test('2b. A flood of requests while the view is hidden raises two notifications and one summary, not one toast each', async () => {
    const { page } = session;
    await runCommand(page, 'View: Show Explorer');
    const branches = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6'];
    const runs = branches.map((branch) => session.airlock('exec', taskId, '--', 'git', 'push', 'origin', branch));
    await page.locator('.part.statusbar [id="airlock.airlock.airlock.status"]', { hasText: /6 waiting/ }).waitFor({ timeout: 60_000 });
    const summary = await waitForNotification(page, /^Airlock: more requests are waiting for a reviewer; the Approvals view lists them all\.$/, 30_000);
    assert.deepEqual((await summary.locator('.notification-list-item-buttons-container .monaco-button').allInnerTexts()).map((text) => text.trim()), ['Show Approvals']);
    const single = notifications(page, /^Airlock: task [0-9a-f]{12} asks — Run: git push origin b\d/);
    assert.equal(await single.count(), 2, 'two requests got a toast of their own');
    await session.shot('approvals-flood');
    const pending = JSON.parse((await session.airlock('approvals', '--json')).stdout) as { id: string }[];
    for (const request of pending) await session.airlock('deny', request.id, '--reason', 'flood test');
    for (const run of await Promise.all(runs)) assert.equal(run.code, 126);
    await clearNotifications(page);
    await openViewContainer(page, 'Airlock');
  });

  session.test('3. A host push shows its commit and files in Approvals, raised by a notification while the view is hidden; Approve lands it in the bare repository', async () => {
    const { page, workspace } = session;
    const bare = path.join(path.dirname(workspace), 'origin.git');
    git(path.dirname(workspace), 'clone', '-q', '--bare', workspace, bare);
    git(workspace, 'remote', 'add', 'origin', bare);
    const made = await session.airlock('exec', taskId, '--', 'sh', '-c', 'mkdir -p src/feature && for n in 1 2 3 4 5 6; do echo "export const part$n = $n;" > src/feature/part$n.js; done && echo "# Sample project, changed in the box" > README.md');
    assert.equal(made.code, 0, made.stderr);
    await runCommand(page, 'View: Show Explorer');
    const pushing = session.airlock('push', taskId, '--branch', 'airlock/e2e', '--message', 'feature parts from the sandbox');
    await clickNotificationButton(page, /^Airlock: task [0-9a-f]{12} asks — Push [0-9a-f]{10} to airlock\/e2e \(7 files\)/, 'Show', 60_000);
    const push = await waitForTreeItem(page, 'Approvals', /^Push [0-9a-f]{10} to airlock\/e2e \(7 files\)$/);
    for (const detail of [/^Remote: origin \(/, /^Branch: airlock\/e2e$/, /^Commit: [0-9a-f]{40} on [0-9a-f]{12}$/, /^Files: 7$/, /^Why it was gated: pushes from the host with your git credentials$/]) await waitForTreeItem(page, 'Approvals', detail);
    for (const file of ['M README.md', 'A src/feature/part1.js', 'A src/feature/part6.js']) await waitForTreeItem(page, 'Approvals', file);
    await session.shot('approvals-push');
    const pushLabel = (await treeItemText(push)).label;
    await clickTreeItemAction(page, 'Approvals', pushLabel, 'Approve Once');
    const pushed = await pushing;
    assert.equal(pushed.code, 0, pushed.stderr);
    const files = git(bare, 'show', '--name-only', '--format=%s', 'airlock/e2e').split('\n').filter(Boolean);
    assert.equal(files[0], 'feature parts from the sandbox');
    assert.deepEqual(files.slice(1).sort(), ['README.md', ...[1, 2, 3, 4, 5, 6].map((n) => `src/feature/part${n}.js`)]);
  });

  session.test('4. Stop from the Tasks view: the container and volume are gone, and the task moves to Recent', async () => {
    const { page } = session;
    // The status bar item brings the side bar back.
    await runCommand(page, 'View: Show Explorer');
    await page.locator('.part.statusbar [id="airlock.airlock.airlock.status"]').click();
    await page.locator('.part.sidebar .composite.title h2', { hasText: /^Airlock$/ }).waitFor({ timeout: 20_000 });
    await showView(page, 'Tasks');
    assert.notEqual(docker('ps', '-aq', '--filter', `label=airlock.task=${taskId}`), '');
    await clickTreeItemAction(page, 'Tasks', `sample-project · ${taskId}`, 'Stop Task');
    assert.match(await answerDialog(page, 'Stop'), /Stop task [0-9a-f]{12} for sample-project\?[\s\S]*changed file\(s\) at the last look[\s\S]*not applied to the host/);
    await waitForTreeItem(page, 'Tasks', /^Recent$/, 60_000);
    await treeItems(page, 'Tasks', `sample-project · ${taskId}`).first().waitFor({ state: 'detached', timeout: 60_000 });
    await expandTreeItem(page, 'Tasks', /^Recent$/);
    const ended = await waitForTreeItem(page, 'Tasks', `sample-project · ${taskId}`);
    assert.match((await treeItemText(ended)).description, /^ended .*\(stopped by user\)$/);
    assert.equal(docker('ps', '-aq', '--filter', `label=airlock.task=${taskId}`), '');
    assert.equal(docker('volume', 'ls', '-q', '--filter', `label=airlock.task=${taskId}`), '');
    assert.match(await statusBarText(page, 'airlock.airlock.airlock.status'), /Airlock: no task/);
    await session.shot('tasks-stopped');
  });

  session.test('5. An invalid .airlock.json gets a diagnostic on the file, and a running task keeps its policy', async () => {
    const { page, workspace } = session;
    const started = await session.airlock('start', '--workspace', workspace);
    assert.equal(started.code, 0, started.stderr);
    const second = started.stdout.trim();
    await waitForTreeItem(page, 'Tasks', `sample-project · ${second}`, 60_000);
    fs.writeFileSync(path.join(workspace, '.airlock.json'), '{ "commands": { "ask": ["git push*"] }, "resources": { "ttlSeconds": "soon" } }\n');
    await page.locator('.part.statusbar [id="status.problems"]', { hasText: /1/ }).waitFor({ timeout: 60_000 });
    await runCommand(page, 'View: Focus Problems (Errors, Warnings, Infos)');
    const problem = page.locator('.part.panel .markers-panel .monaco-list-row', { hasText: /resources\.ttlSeconds/ }).first();
    await problem.waitFor({ timeout: 20_000 });
    await session.shot('policy-invalid');
    assert.match(logText(), new RegExp(`task ${second} keeps its last good policy`));
    // The task's rules are the last good ones: git push still waits for a reviewer.
    const gated = session.airlock('exec', second, '--', 'git', 'push');
    await openViewContainer(page, 'Airlock');
    await waitForTreeItem(page, 'Approvals', 'Run: git push', 60_000);
    const pending = JSON.parse((await session.airlock('approvals', '--json')).stdout) as { id: string }[];
    assert.equal(pending.length, 1);
    await session.airlock('deny', pending[0].id);
    assert.equal((await gated).code, 126);
    await runCommand(page, 'Airlock: Stop All Tasks');
    assert.match(await answerDialog(page, 'Stop All'), /Stop all 1 Airlock task\(s\)\?/);
    await treeItems(page, 'Tasks', `sample-project · ${second}`).and(page.locator('[aria-level="1"]')).first().waitFor({ state: 'detached', timeout: 60_000 });
    assert.equal(docker('ps', '-aq', '--filter', `label=airlock.task=${second}`), '');
  });
});
