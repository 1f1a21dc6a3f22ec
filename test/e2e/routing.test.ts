// Routing agents into the sandbox, in a real VS Code (code-server, chromium): the "Airlock
// sandbox" terminal with VS Code's own command decorations from the marks `airlock shell` writes,
// a Cline-like extension (test/fixtures/cline-like) running a command through the routed default
// profile with shell integration's executeCommand, an edit saved in the host editor seen inside
// the box, and Stop Routing putting the user settings back exactly. The README's sandbox-terminal
// screenshot comes from here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import { CODE_SERVER_ENTRY, E2E_NODE } from '../../scripts/codeServer.js';
import { useE2ESession } from './harness/session.js';
import { activeTerminal, createTerminalWithProfile, TERMINAL_SETTINGS, typeInTerminal, waitForDecorations, waitForTerminalText } from './harness/terminal.js';
import { answerDialog, clearNotifications, clickViewTitleAction, openFile, openViewContainer, runCommand, UI_TIMEOUT_MS, viewPane, waitForNotification, waitForTreeItem, widenSideBar } from './harness/workbench.js';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURE = path.join(ROOT, 'test/fixtures/cline-like');
const VSCE = path.join(ROOT, 'node_modules/.bin/vsce');

/** Where the fixture writes what it saw: named in the extension host's environment before code-server starts. */
const scratch = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-e2e-routing-')));
const RESULT = path.join(scratch, 'cline-like-result.json');

/**
 * The user's own settings before routing: one of the objects Airlock adds a member to already has
 * the user's profile in it; the default profile, Copilot's terminal profile and the agent host's
 * profile are unset. Stop Routing must bring back exactly this.
 */
const USER_SETTINGS: Record<string, unknown> = {
  ...TERMINAL_SETTINGS,
  'terminal.integrated.profiles.linux': { 'host bash': { path: '/bin/bash', args: ['-l'] } },
};

function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...options, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, output: `${stdout}${stderr}` });
    });
  });
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Waits out what a screenshot should not catch after a layout change: the palette fading, the
 * terminal's "cols x rows" overlay, a hover left on the panel's tabs where the palette was.
 */
async function settleForShot(page: Page): Promise<void> {
  const box = await activeTerminal(page).boundingBox();
  if (box) await page.mouse.move(box.x + box.width - 40, box.y + box.height - 40);
  await page.locator('.quick-input-widget').first().waitFor({ state: 'hidden', timeout: UI_TIMEOUT_MS });
  await page.locator('.terminal-resize-overlay.visible').first().waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
}

describe('routing agents into the sandbox in VS Code', () => {
  const session = useE2ESession({ name: 'routing', trust: true, settings: USER_SETTINGS, env: { CLINE_LIKE_RESULT: RESULT } });
  const settingsFile = () => path.join(session.server.userDataDir, 'User', 'settings.json');
  const launcherDir = () => path.join(session.server.userDataDir, 'User', 'globalStorage', 'airlock.airlock', 'bin');
  let taskId = '';
  let daemonPid = 0;
  let settingsBeforeRoute = '';
  /** The settings Route added that the user had not set. */
  let addedByRoute: string[] = [];

  // The fixture is packaged and installed next to Airlock once the session is up: the running
  // code-server takes an extension its own CLI installed ("Extensions added from another source").
  before(async () => {
    const vsix = path.join(scratch, 'cline-like.vsix');
    const packaged = await run(VSCE, ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--out', vsix], { cwd: FIXTURE });
    assert.equal(packaged.code, 0, `vsce could not package the fixture:\n${packaged.output}`);
    const { userDataDir, extensionsDir } = session.server;
    const config = path.join(path.dirname(userDataDir), 'config.yaml');
    const installed = await run(E2E_NODE, [CODE_SERVER_ENTRY, '--config', config, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', vsix]);
    assert.ok(installed.code === 0 && /was successfully installed/.test(installed.output), `code-server could not install the fixture:\n${installed.output}`);
  });

  // Runs after the session's own after hook (registered first), which stops the task and removes
  // the state folder: the daemon the Start began is detached from code-server, so it is ended here
  // by the pid scenario 1 read. It finishes on SIGTERM; SIGKILL only if it is still there after 5 s.
  after(async () => {
    if (daemonPid) {
      const gone = () => {
        try {
          process.kill(daemonPid, 0);
          return undefined;
        } catch {
          return true;
        }
      };
      try {
        process.kill(daemonPid, 'SIGTERM');
        await until('the daemon ended', gone, 5_000).catch(() => process.kill(daemonPid, 'SIGKILL'));
      } catch {
        // It had ended already.
      }
    }
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  session.test('1. a task started from the Tasks view; the "Airlock sandbox" profile\'s terminal runs `id -u` as 1000 in the box, with VS Code\'s success and error decorations', async () => {
    const { page } = session;
    await openViewContainer(page, 'Airlock');
    await widenSideBar(page, 420);
    await clickViewTitleAction(page, 'Tasks', 'Start Task for This Workspace');
    assert.match(await answerDialog(page, 'Start', 60_000), /Start a sandboxed task for sample-project\?/);
    const running = await waitForNotification(page, /^Airlock: task [0-9a-f]{12} is running for sample-project/, 120_000);
    taskId = /task ([0-9a-f]{12})/.exec(await running.innerText())![1];
    await waitForTreeItem(page, 'Tasks', `sample-project · ${taskId}`, 60_000);
    const record = JSON.parse(fs.readFileSync(path.join(session.stateDir, 'tasks', taskId, 'task.json'), 'utf8')) as { options: { mirrorHostEdits?: boolean } };
    assert.equal(record.options.mirrorHostEdits, true, 'a task started from VS Code mirrors host edits');
    // The Start began the user's daemon, which runs the mirror.
    const pidFile = path.join(session.stateDir, 'daemon', 'pid');
    daemonPid = await until('the daemon wrote its pid', () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').split(' ')[0]) || undefined : undefined), 30_000);

    await createTerminalWithProfile(page, 'Airlock sandbox', 60_000);
    await waitForTerminalText(page, new RegExp(`airlock: a shell in task ${taskId}[\\s\\S]*airlock:sample-project\\$`), 60_000);
    await typeInTerminal(page, 'pwd');
    await waitForDecorations(page, ['success'], 60_000);
    await waitForTerminalText(page, /\$ pwd\n\/workspace\n/);
    await typeInTerminal(page, 'id -u');
    await waitForDecorations(page, ['success', 'success'], 60_000);
    await waitForTerminalText(page, /\$ id -u\n1000\n/);
    await typeInTerminal(page, 'false');
    const decorations = await waitForDecorations(page, ['success', 'success', 'error'], 60_000);
    assert.match(decorations.find((item) => item.state === 'error')!.classes, /\berror\b/);
    // For the README: no toasts over the terminal, and the panel taller.
    await clearNotifications(page);
    await runCommand(page, 'View: Toggle Maximized Panel');
    await settleForShot(page);
    await session.shot('sandbox-terminal');
    await runCommand(page, 'View: Toggle Maximized Panel');

    // The lines ran in the task, gated and audited, as typed.
    const audit = (await session.airlock('audit', taskId)).stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; line?: string; exitCode?: number });
    const commands = audit.filter((record) => record.type === 'command' && record.line).map((record) => [record.line, record.exitCode]);
    assert.deepEqual(commands.slice(-3), [['pwd', 0], ['id -u', 0], ['false', 1]]);
  });

  session.test('2. Route Agents, then a Cline-like extension runs `id -u` through the default profile with executeCommand: output 1000, exit code 0, in the box; a host shell opened meanwhile is named in Tasks', async () => {
    const { page } = session;
    settingsBeforeRoute = fs.readFileSync(settingsFile(), 'utf8');
    // The fixture is installed (the before hook): its command is in the palette once the extension host has it.
    await runCommand(page, 'Airlock: Route Agents into the Sandbox');
    const consent = await answerDialog(page, 'Route Agents');
    assert.match(consent, /Route agents' commands into the Airlock sandbox\?/);
    assert.match(consent, /terminal\.integrated\.defaultProfile\.linux/);
    assert.match(consent, /terminal\.integrated\.profiles\.linux \(adds "Airlock sandbox"\)/);
    await waitForNotification(page, /^Airlock: agents are routed into the sandbox \(\d+ setting\(s\) changed\)/, 30_000);
    const shell = path.join(launcherDir(), 'airlock-shell');
    assert.equal(fs.statSync(shell).mode & 0o777, 0o755);
    const routed = JSON.parse(fs.readFileSync(settingsFile(), 'utf8')) as Record<string, unknown>;
    addedByRoute = Object.keys(routed).filter((key) => !(key in (JSON.parse(settingsBeforeRoute) as object)));
    assert.ok(addedByRoute.includes('terminal.integrated.defaultProfile.linux'), `Route added ${addedByRoute.join(', ')}`);
    assert.equal(routed['terminal.integrated.defaultProfile.linux'], 'Airlock sandbox');
    assert.deepEqual(routed['terminal.integrated.profiles.linux'], { 'host bash': { path: '/bin/bash', args: ['-l'] }, 'Airlock sandbox': { path: shell } });

    fs.rmSync(RESULT, { force: true });
    await runCommand(page, 'Cline-like: Run id -u the Cline Way', 60_000);
    const result = await until('the Cline-like extension wrote its result', () => (fs.existsSync(RESULT) ? (JSON.parse(fs.readFileSync(RESULT, 'utf8')) as { profile?: string; shellPath?: string; output?: string; exitCode?: number; error?: string }) : undefined), 120_000);
    assert.equal(result.error, undefined, `the fixture failed: ${result.error}`);
    assert.equal(result.profile, 'Airlock sandbox');
    assert.equal(result.shellPath, shell);
    // What read() gives starts with VS Code's own "command executed" mark (Cline strips it), then the box's output as a terminal shows it.
    const output = result.output ?? '';
    assert.equal(output.replace(/\x1b\]633;[^\x07]*\x07/g, ''), '1000\r\n', `execution.read() gave ${JSON.stringify(output)}`);
    assert.equal(result.exitCode, 0);
    // The panel shows the Cline terminal, in the box: the line ran in the task, audited.
    await waitForTerminalText(page, /airlock:sample-project\$ id -u\n1000\n/);
    await session.shot('cline-like-routed');
    const audit = (await session.airlock('audit', taskId)).stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; line?: string; exitCode?: number });
    assert.deepEqual(audit.filter((record) => record.type === 'command' && record.line).map((record) => [record.line, record.exitCode]).at(-1), ['id -u', 0]);

    // The Cline terminal runs Airlock's launcher, so the Tasks view has no warning; a host shell opened now gets one, until it closes.
    const warning = viewPane(page, 'Tasks').locator('.pane-body', { hasText: /runs outside the sandbox/ });
    assert.equal(await warning.count(), 0, 'the routed Cline terminal is not named as unrouted');
    await createTerminalWithProfile(page, 'host bash', 60_000);
    await viewPane(page, 'Tasks').getByText(/^Terminal "[^"]+" runs outside the sandbox: commands typed or sent there run on the host\.$/).waitFor({ timeout: UI_TIMEOUT_MS });
    await runCommand(page, 'Terminal: Kill the Active Terminal Instance');
    await warning.first().waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
  });

  session.test('3. an edit saved in the host editor is what `cat` shows in a sandbox terminal a few seconds later', async () => {
    const { page } = session;
    await runCommand(page, 'Airlock: Open Terminal');
    await waitForTerminalText(page, new RegExp(`airlock: a shell in task ${taskId}[\\s\\S]*airlock:sample-project\\$`), 60_000);

    await openFile(page, 'README.md');
    const editor = page.locator('.part.editor .editor-group-container.active .monaco-editor').first();
    await editor.locator('.view-lines').click();
    await page.keyboard.press('Control+End');
    const mark = `Edited on the host at ${Date.now()}`;
    await page.keyboard.type(`\n${mark}\n`);
    await page.locator('.part.editor .monaco-editor .view-lines', { hasText: mark }).first().waitFor({ timeout: UI_TIMEOUT_MS });
    // code-server may save by itself after a delay (files.autoSave); the explicit save is what a person does.
    await runCommand(page, 'File: Save');
    const readme = path.join(session.workspace, 'README.md');
    await until('the editor saved README.md', () => (fs.readFileSync(readme, 'utf8').includes(mark) ? true : undefined), UI_TIMEOUT_MS, 50);
    // When the bytes reached the host's disk: the mirror's clock starts there.
    const saved = fs.statSync(readme).mtimeMs;

    await runCommand(page, 'Terminal: Focus Terminal');
    // The line itself waits in the box (up to 10 s) until the edit is there: a slow mirror shows as time taken, a missing one as the old text.
    await typeInTerminal(page, `for i in $(seq 50); do grep -q '${mark}' README.md && break; sleep 0.2; done; cat README.md`);
    await waitForTerminalText(page, new RegExp(`\\n${mark}\\n[\\s\\S]*airlock:sample-project\\$ *$`), 30_000);
    const seenAfterMs = Math.round(Date.now() - saved);
    const log = fs.readFileSync(path.join(session.stateDir, 'daemon', 'daemon.log'), 'utf8');
    assert.match(log, new RegExp(`task ${taskId}: mirroring host edits from `));
    // The mirror's own record says when README.md crossed (the rest of the time above is typing the line).
    const audit = (await session.airlock('audit', taskId)).stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; time: string; synced?: { path: string }[] });
    const synced = audit.find((record) => record.type === 'mirror' && record.synced?.some((item) => item.path === 'README.md') && Date.parse(record.time) >= saved - 2_000);
    assert.ok(synced, 'the mirror recorded README.md crossing into the box');
    console.log(`host edit: in the box ${Math.round(Date.parse(synced.time) - saved)} ms after the save (the mirror's audit record), shown by cat ${seenAfterMs} ms after it`);
    assert.ok(seenAfterMs < 15_000, `the edit reached the terminal only after ${seenAfterMs} ms`);
    await session.shot('sandbox-terminal-host-edit');
  });

  session.test('4. Stop Routing puts the user settings back exactly as they were before Route', async () => {
    const { page } = session;
    await runCommand(page, 'Airlock: Stop Routing');
    await waitForNotification(page, /^Airlock: routing stopped; \d+ setting\(s\) restored\.$/, 30_000);
    const after = await until('settings.json is back to its text from before Route', () => {
      const text = fs.readFileSync(settingsFile(), 'utf8');
      return text === settingsBeforeRoute ? text : undefined;
    }, 10_000).catch(() => fs.readFileSync(settingsFile(), 'utf8'));
    assert.deepEqual(JSON.parse(after), JSON.parse(settingsBeforeRoute), 'the same settings and values');
    assert.equal(after, settingsBeforeRoute, 'byte for byte');
    for (const key of addedByRoute) assert.equal(key in (JSON.parse(after) as object), false, `${key} was unset before Route and is unset again`);
  });
});
