import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { ChangeService } from '../../src/core/changes/changeService.js';
import type { ChangeSet, FileChange } from '../../src/core/changes/changeSet.js';
import type { TaskOptionsInput } from '../../src/core/config/taskOptions.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';
import type { TaskService } from '../../src/core/task/taskService.js';
import { realEngine, run, serviceFor, TEST_IMAGE } from './realEngine.js';

/** Single-quotes a string for `sh -c`. */
export const q = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

export const sha256 = (content: Buffer | string) => createHash('sha256').update(content).digest('hex');

/** sha256 of a host file, streamed (fine for 200 MB files). */
export function sha256OfFile(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (let count; (count = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, count));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Numbered lines, each ending in `eol`; `edits` replaces line N (1-based). */
export function numberedLines(prefix: string, count: number, edits: Record<number, string> = {}, eol = '\n'): string {
  return Array.from({ length: count }, (_, index) => `${edits[index + 1] ?? `${prefix}${index + 1}`}${eol}`).join('');
}

export interface TaskFixture {
  service: TaskService;
  changes: ChangeService;
  record: TaskRecord;
  id: string;
  workspace: string;
  /** Runs `sh -c script` in the task (uid 1000, cwd /workspace); fails the test on a non-zero exit. */
  sh(script: string): Promise<string>;
  /** Writes exact bytes to a workspace path from inside the task (base64 through the shell). */
  write(rel: string, content: Buffer | string): Promise<void>;
  /** sha256 of a file as the task sees it (`sha256sum` inside). */
  shaInTask(rel: string): Promise<string>;
  /** The task's workspace as {path: description}, same format as `hostTree(…, 'exec')`. */
  taskTree(): Promise<Record<string, string>>;
}

/**
 * Starts a task on `workspace` over the real engine and registers its teardown (stop, dispose,
 * drop the state directory) with `t.after`. Undefined when the engine is missing outside CI.
 */
export async function startTask(t: TestContext, workspace: string, options: Partial<TaskOptionsInput> = {}): Promise<TaskFixture | undefined> {
  const engine = await realEngine(t);
  if (!engine) return undefined;
  const { service, stateRoot } = serviceFor(engine);
  // Assigned after the teardown is registered: a start that fails still gets its state folder removed.
  let record: TaskRecord | undefined = undefined;
  t.after(async () => {
    if (record) await service.stop(record.id).catch(() => undefined);
    service.dispose();
    fs.rmSync(stateRoot, { recursive: true, force: true });
  });
  record = await service.start({ workspace, image: TEST_IMAGE, ttlSeconds: 900, ...options });
  const id = record.id;
  const sh = async (script: string) => {
    const result = await run(service, id, ['sh', '-c', script]);
    assert.equal(result.exitCode, 0, `in-task command failed (${result.exitCode}): ${script}\n${result.stderr}`);
    return result.stdout;
  };
  return {
    service,
    changes: new ChangeService(service),
    record,
    id,
    workspace,
    sh,
    write: async (rel, content) => {
      const encoded = Buffer.from(content).toString('base64');
      const dir = path.posix.dirname(rel);
      await sh(`${dir !== '.' ? `mkdir -p ${q(dir)} && ` : ''}printf %s ${q(encoded)} | base64 -d > ${q(rel)}`);
    },
    shaInTask: async (rel) => (await sh(`sha256sum < ${q(rel)}`)).trim().split(/\s+/)[0],
    taskTree: async () => JSON.parse(await sh(`node -e ${q(TASK_TREE_SOURCE)}`)) as Record<string, string>,
  };
}

const TASK_TREE_SOURCE = `
const fs = require('fs'), crypto = require('crypto');
const out = {};
const walk = (rel) => {
  for (const name of fs.readdirSync('/workspace/' + rel)) {
    const r = rel ? rel + '/' + name : name;
    if (r === '.git') continue;
    const abs = '/workspace/' + r;
    const st = fs.lstatSync(abs);
    if (st.isSymbolicLink()) out[r] = 'link ' + fs.readlinkSync(abs);
    else if (st.isDirectory()) { out[r] = 'dir'; walk(r); }
    else out[r] = 'file ' + (st.mode & 0o111 ? 'x' : '-') + ' ' + crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
  }
};
walk('');
process.stdout.write(JSON.stringify(out));
`;

/**
 * The host tree under `root` (without .git) as {path: description}. `exec` describes files by
 * exec bit and hash (comparable with `taskTree`); `mode` adds exact permission bits for files and
 * folders, for "exactly as before" checks.
 */
export function hostTree(root: string, detail: 'exec' | 'mode' = 'mode'): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === '.git') continue;
      const abs = path.join(root, r);
      const stat = fs.lstatSync(abs);
      const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
      if (stat.isSymbolicLink()) out[r] = `link ${fs.readlinkSync(abs)}`;
      else if (stat.isDirectory()) {
        out[r] = detail === 'mode' ? `dir ${mode}` : 'dir';
        walk(r);
      } else out[r] = `file ${detail === 'mode' ? mode : stat.mode & 0o111 ? 'x' : '-'} ${sha256OfFile(abs)}`;
    }
  };
  walk('');
  return out;
}

/** Names under `root` left behind by an apply (staged temp files are `.airlock-*`). */
export function airlockLeftovers(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name);
      if (entry.name.startsWith('.airlock-')) found.push(path.relative(root, abs));
      if (entry.isDirectory() && !entry.isSymbolicLink()) walk(abs);
    }
  };
  walk(root);
  return found;
}

export function modeOf(file: string): number {
  return fs.lstatSync(file).mode & 0o7777;
}

export function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** The change for `rel`; fails the test when the change set has none. */
export function changeFor(changeSet: ChangeSet, rel: string): FileChange {
  const change = changeSet.files.find((file) => file.path === rel);
  assert.ok(change, `no change for ${rel}; the change set has: ${changeSet.files.map((file) => `${file.status} ${file.path}`).join(', ')}`);
  return change;
}

/** `status path` (with `← oldPath` for renames), sorted: the shape of a whole change set at a glance. */
export function statusLines(changeSet: ChangeSet): string[] {
  return changeSet.files.map((file) => `${file.status} ${file.path}${file.oldPath !== undefined ? ` <- ${file.oldPath}` : ''}`).sort();
}

/** `action path`, sorted. */
export function writtenLines(report: { written: Array<{ path: string; action: string }> }): string[] {
  return report.written.map((item) => `${item.action} ${item.path}`).sort();
}

export function paths(items: Array<{ path: string }>): string[] {
  return items.map((item) => item.path).sort();
}

/** Writes files with exact modes (chmod after, so the umask cannot interfere). */
export function writeWithModes(root: string, files: Record<string, { content: string | Buffer; mode?: number }>): void {
  for (const [rel, { content, mode = 0o644 }] of Object.entries(files)) {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    fs.chmodSync(file, mode);
  }
}

/** Fails (instead of hanging the suite) when a diff or apply does not finish in time. */
export async function withinTime<T>(what: string, work: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = Symbol('stalled');
  const outcome = await Promise.race([work(), new Promise<typeof stalled>((resolve) => (timer = setTimeout(() => resolve(stalled), timeoutMs)))]).finally(() => clearTimeout(timer));
  if (outcome === stalled) assert.fail(`${what} did not finish within ${timeoutMs} ms`);
  return outcome;
}
