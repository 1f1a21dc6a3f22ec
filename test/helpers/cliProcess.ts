import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as os from 'node:os';
import { TEST_IMAGE } from './realEngine.js';

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Running {
  child: ChildProcess;
  result: Promise<CliResult>;
  stdout(): string;
  stderr(): string;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Who `airlock approve`/`deny` record as the decider (os.userInfo, as the CLI does). */
export const osUser = (() => {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
})();

/**
 * Starts a node process without blocking this one (never spawnSync: a test may serve what the
 * child talks to). Every process has a hard timeout, so a bug can never hang the suite.
 */
export function launchNode(argv: string[], { env = {}, timeoutMs, cwd }: { env?: NodeJS.ProcessEnv; timeoutMs: number; cwd?: string }): Running {
  const started = Date.now();
  const child = spawn(process.execPath, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const result = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - started });
    });
  });
  return { child, result, stdout: () => Buffer.concat(out).toString('utf8'), stderr: () => Buffer.concat(err).toString('utf8') };
}

/** Polls until `check` holds or the time is up; the last answer is the result. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(intervalMs);
  }
  return check();
}

/** A way to run the CLI with a test's state folder and environment. */
export type Airlock = (args: string[], timeoutMs?: number) => Promise<CliResult>;

/** `airlock start …` → the task id it printed (stdout is the id alone). */
export async function startTask(airlock: Airlock, workspace: string, flags: string[], timeoutMs?: number): Promise<string> {
  const started = await airlock(['start', '--workspace', workspace, '--image', TEST_IMAGE, '--ttl', '900', ...flags], timeoutMs);
  assert.equal(started.status, 0, `start ${flags.join(' ')}: ${started.stderr}`);
  const id = started.stdout.trim();
  assert.match(id, /^[0-9a-f]{12}$/, `start printed ${JSON.stringify(started.stdout)}`);
  return id;
}

export async function stopTask(airlock: Airlock, id: string): Promise<void> {
  const stopped = await airlock(['stop', id]);
  assert.equal(stopped.status, 0, `stop ${id}: ${stopped.stderr}`);
}
