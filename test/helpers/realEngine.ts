import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { connectEngine, type EngineConnection } from '../../src/core/engine/locateEngine.js';
import { TaskService } from '../../src/core/task/taskService.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';

export const TEST_IMAGE = process.env.AIRLOCK_TEST_IMAGE || 'airlock-test:bookworm';
const inCi = process.env.CI === 'true';

let engine: Promise<EngineConnection | Error> | undefined;

/**
 * The real engine, or a skip outside CI. In CI a missing engine or test image is a failure:
 * these tests are the proof of Airlock's security claims and must never silently not run.
 */
export async function realEngine(t: TestContext): Promise<EngineConnection | undefined> {
  engine ??= connectEngine({ timeoutMs: 3000 }).then(async (connection) => {
    try {
      await connection.docker.getImage(TEST_IMAGE).inspect();
      return connection;
    } catch {
      return new Error(`test image ${TEST_IMAGE} is missing: run scripts/setup-engine.sh`);
    }
  }, (error: Error) => error);
  const result = await engine;
  if (!(result instanceof Error)) return result;
  if (inCi) throw new Error(`CI=true but the engine is not usable: ${result.message}`);
  t.skip(`no engine: ${result.message}`);
  return undefined;
}

/** A TaskService over the real engine with its own throwaway state directory. */
export function serviceFor(connection: EngineConnection): { service: TaskService; stateRoot: string; warnings: string[] } {
  const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-state-'));
  const warnings: string[] = [];
  return { service: new TaskService(connection, new TaskStore(stateRoot), (message) => warnings.push(message)), stateRoot, warnings };
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `airlock-${prefix}-`));
}

/** Collects a command's output as text. */
export function outputCollector(): { stdout: () => string; stderr: () => string; onStdout: (chunk: Buffer) => void; onStderr: (chunk: Buffer) => void } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  return {
    stdout: () => Buffer.concat(out).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
    onStdout: (chunk) => out.push(chunk),
    onStderr: (chunk) => err.push(chunk),
  };
}

/** Runs a command in a task and returns its exit code and output. */
export async function run(service: TaskService, id: string, argv: string[], extra: Partial<Parameters<TaskService['exec']>[1]> = {}) {
  const output = outputCollector();
  const result = await service.exec(id, { argv, onStdout: output.onStdout, onStderr: output.onStderr, ...extra });
  return { ...result, stdout: output.stdout(), stderr: output.stderr() };
}

export async function labelled(connection: EngineConnection, id: string): Promise<{ containers: number; volumes: number }> {
  const filters = { label: [`airlock.task=${id}`] };
  const containers = await connection.docker.listContainers({ all: true, filters });
  const volumes = (await connection.docker.listVolumes({ filters })).Volumes ?? [];
  return { containers: containers.length, volumes: volumes.length };
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return check();
}

/** Starts a task, runs `work` with it, and always destroys it and closes the service afterwards. */
export async function withTask<T>(service: TaskService, options: Parameters<TaskService['start']>[0], work: (record: TaskRecord) => Promise<T>): Promise<T> {
  const record = await service.start(options);
  try {
    return await work(record);
  } finally {
    await service.stop(record.id).catch(() => undefined);
    service.dispose();
  }
}
