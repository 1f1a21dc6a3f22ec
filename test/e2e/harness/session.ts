// One end-to-end session per test file: a throwaway Airlock state folder, a sample git workspace,
// code-server with airlock.vsix installed, and chromium showing the workbench. Nothing here skips:
// a missing browser, code-server, package or CLI build is a failure that says how to fix it.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { type CodeServer, startCodeServer } from '../../../scripts/codeServer.js';
import { TEST_IMAGE } from '../../helpers/realEngine.js';
import { initRepo } from '../../helpers/tempWorkspace.js';
import { type BrowserSession, FIRST_LOAD_TIMEOUT_MS, launchBrowser, openWorkbench, screenshot, trustWorkspace } from './workbench.js';

const ROOT = path.resolve(__dirname, '../../..');
export const VSIX = path.join(ROOT, 'airlock.vsix');
export const CLI = path.join(ROOT, 'dist/cli.js');
/** Screenshots land in .e2e/screenshots/<session name>/ (ignored by git); README images are copied from there. */
export const SCREENSHOT_ROOT = process.env.AIRLOCK_E2E_SCREENSHOTS || path.join(ROOT, '.e2e/screenshots');

/** A small repository with a policy file, which is what activates the extension. */
export const SAMPLE_FILES: Readonly<Record<string, string>> = {
  'README.md': '# Sample project\n\nA workspace for Airlock\'s end-to-end tests.\n',
  'src/greet.js': 'export const greet = (name) => `hello, ${name}`;\n',
  '.airlock.json': `${JSON.stringify({ resources: { ttlSeconds: 900 }, commands: { ask: ['git push*'] } }, null, 2)}\n`,
};

const OFFLINE_NOISE = /open-vsx\.org|Gallery|ERR_NAME_NOT_RESOLVED|Failed to load resource/;

export interface SessionOptions {
  /** Names the screenshot folder and the temp folders. */
  name: string;
  /** The workspace's committed files (SAMPLE_FILES by default). */
  files?: Record<string, string>;
  /** User settings over the harness's quiet ones. */
  settings?: Record<string, unknown>;
  /** Trust the workspace through the UI after it opens (it opens in Restricted Mode otherwise). */
  trust?: boolean;
  /** More environment for code-server (and so the extension) and for `airlock()`, e.g. a DOCKER_HOST nothing answers at. */
  env?: Record<string, string>;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface E2ESession {
  readonly page: Page;
  readonly browser: BrowserSession;
  readonly server: CodeServer;
  readonly workspace: string;
  /** AIRLOCK_STATE_DIR shared by the extension and `airlock()`. */
  readonly stateDir: string;
  readonly screenshotDir: string;
  /** Saves `<screenshotDir>/<name>.png`. */
  shot(name: string): Promise<string>;
  /** Runs the CLI (dist/cli.js) against the same state folder and engine as the extension. */
  airlock(...args: string[]): Promise<CliRun>;
  /** node:test's test(), with a screenshot and the logs printed when it fails. */
  test(name: string, fn: (t: TestContext) => Promise<void>, options?: { timeout?: number }): void;
}

function mustExist(file: string, fix: string): void {
  if (!fs.existsSync(file)) throw new Error(`${path.relative(ROOT, file)} is missing: ${fix}`);
}

function tailOf(file: string | undefined, lines: number): string {
  if (!file) return '(no such log yet)';
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch (error) {
    return `(unreadable: ${(error as Error).message})`;
  }
}

/** Polls a log file (its path may not exist yet) until it has `line`. */
async function waitForLogLine(what: string, file: () => string | undefined, line: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = file();
    if (found && fs.existsSync(found) && fs.readFileSync(found, 'utf8').includes(line)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not log "${line}" within ${timeoutMs} ms (log file: ${found ?? 'none yet'})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Registers before/after hooks for this test file and returns the session they fill in. Call it
 * once at the top level of the file.
 */
export function useE2ESession(options: SessionOptions): E2ESession {
  let state: { page: Page; browser: BrowserSession; server: CodeServer } | undefined;
  const temp: string[] = [];
  const consoleErrors: string[] = [];
  const screenshotDir = path.join(SCREENSHOT_ROOT, options.name.replace(/[^a-zA-Z0-9-]+/g, '-'));
  let workspace = '';
  let stateDir = '';
  let cliEnv: NodeJS.ProcessEnv = {};

  const need = () => {
    if (!state) throw new Error('the e2e session did not start (see the before hook\'s failure)');
    return state;
  };

  const airlock = (...args: string[]) =>
    new Promise<CliRun>((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: cliEnv, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
      });
    });

  /** What a failure needs next to its message: the screen, code-server's log, Airlock's log, the page's errors. */
  const diagnose = async (what: string) => {
    const parts = [`--- e2e diagnostics: ${what} ---`];
    if (state) {
      const file = await screenshot(state.page, `failure-${what}`, screenshotDir).catch((error: Error) => `(no screenshot: ${error.message})`);
      parts.push(`screenshot: ${file}`);
      parts.push(`--- code-server log (${state.server.logFile}) ---\n${state.server.logTail(60)}`);
      // One log per extension host: after a reload the current host's is the last.
      const logs = state.server.outputChannelLogs('Airlock');
      if (!logs.length) parts.push(`--- Airlock output channel ---\n${tailOf(undefined, 80)}`);
      logs.forEach((log, index) => parts.push(`--- Airlock output channel (extension host ${index + 1} of ${logs.length}) ---\n${tailOf(log, index === logs.length - 1 ? 80 : 30)}`));
      const host = state.server.extensionHostLogDir();
      if (host) parts.push(`--- extension host log ---\n${tailOf(path.join(host, 'remoteexthost.log'), 40)}`);
    }
    if (consoleErrors.length) parts.push(`--- page console errors ---\n${consoleErrors.slice(-20).join('\n')}`);
    console.error(parts.join('\n'));
  };

  before(async () => {
    let server: CodeServer | undefined;
    try {
      mustExist(VSIX, 'run `npm run package` first');
      mustExist(CLI, 'run `npm run package` (or `npm run build`) first');
      fs.rmSync(screenshotDir, { recursive: true, force: true });
      const mk = (prefix: string) => {
        const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
        temp.push(dir);
        return dir;
      };
      // Short: the egress gateway's control socket lives under the state folder.
      stateDir = mk('airlock-e2e-state-');
      const parent = mk('airlock-e2e-ws-');
      workspace = path.join(parent, 'sample-project');
      fs.mkdirSync(workspace);
      initRepo(workspace, options.files ?? SAMPLE_FILES);
      // `airlock` on PATH is this build's CLI, for anything the extension or a test shells out to.
      const bin = mk('airlock-e2e-bin-');
      fs.writeFileSync(path.join(bin, 'airlock'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });
      const env = { AIRLOCK_STATE_DIR: stateDir, AIRLOCK_IMAGE: TEST_IMAGE, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`, ...options.env };
      cliEnv = { ...process.env, ...env };

      server = await startCodeServer({ workspace, vsix: VSIX, env, settings: { 'airlock.image': TEST_IMAGE, ...options.settings } });
      const browser = await launchBrowser();
      state = { page: browser.page, browser, server };
      browser.page.on('console', (message) => {
        // The marketplace is unreachable offline; those errors are noise in every run.
        if (message.type() === 'error' && !OFFLINE_NOISE.test(message.text())) consoleErrors.push(message.text().slice(0, 500));
      });
      browser.page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
      await openWorkbench(browser.page, server.workbenchUrl);
      // The extension host has run every start-up activation (workspaceContains:.airlock.json is one),
      // and Airlock's first log line says it ran.
      const hostLog = () => {
        const dir = server!.extensionHostLogDir();
        return dir && path.join(dir, 'remoteexthost.log');
      };
      await waitForLogLine('the extension host', hostLog, 'Eager extensions activated', FIRST_LOAD_TIMEOUT_MS);
      await waitForLogLine('the "Airlock" output channel', () => server!.outputChannelLog('Airlock'), 'Airlock activated', FIRST_LOAD_TIMEOUT_MS);
      if (options.trust) await trustWorkspace(browser.page);
    } catch (error) {
      await diagnose('setup');
      if (!state && server) await server.stop();
      throw error;
    }
  });

  after(async () => {
    // Tasks a test left running are stopped, so no container outlives the suite.
    if (stateDir && fs.existsSync(CLI)) {
      const listed = await airlock('ls', '--json');
      try {
        for (const task of JSON.parse(listed.stdout || '[]') as { id: string; state: string }[]) {
          if (task.state !== 'destroyed') await airlock('stop', task.id);
        }
      } catch {
        // No tasks, or a listing this cleanup cannot read: nothing to stop.
      }
    }
    await state?.browser.close().catch(() => undefined);
    await state?.server.stop();
    while (temp.length) fs.rmSync(temp.pop()!, { recursive: true, force: true });
    if (fs.existsSync(screenshotDir)) console.log(`e2e screenshots: ${screenshotDir}`);
  });

  return {
    get page() {
      return need().page;
    },
    get browser() {
      return need().browser;
    },
    get server() {
      return need().server;
    },
    get workspace() {
      return workspace;
    },
    get stateDir() {
      return stateDir;
    },
    screenshotDir,
    shot: (name) => screenshot(need().page, name, screenshotDir),
    airlock,
    test(name, fn, testOptions = {}) {
      test(name, { timeout: testOptions.timeout ?? 180_000 }, async (t) => {
        try {
          await fn(t);
        } catch (error) {
          await diagnose(name);
          throw error;
        }
      });
    },
  };
}
