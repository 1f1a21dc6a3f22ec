import type { ChildProcess } from 'node:child_process';
import { connectEngine, type EngineConnection } from '../../src/core/engine/locateEngine.js';
import { TASK_LABEL } from '../../src/core/state/taskRecord.js';
import { TEST_IMAGE } from './realEngine.js';

/**
 * What the tests' own engines (a second dockerd, a Podman service) share: watching the server
 * process they started, waiting until Airlock's own connection code reaches it, and copying the
 * test image into it from the main engine.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface WatchedChild {
  /** Resolves when the process has exited (or could not start). */
  exited: Promise<void>;
  /** Why it ended, once it has. */
  ended(): string | undefined;
}

export function watchChild(child: ChildProcess, name: string): WatchedChild {
  let reason: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      reason = `${name} exited (${signal ?? `code ${code}`})`;
      resolve();
    });
    child.once('error', (error) => {
      reason = `${name} did not start: ${error.message}`;
      resolve();
    });
  });
  return { exited, ended: () => reason };
}

/** Connects to the engine at `env` once it answers; fails at once if its process ended, or after 60 s. */
export async function waitForEngine(env: NodeJS.ProcessEnv, server: WatchedChild, what: string, tail: () => string, pollMs = 50): Promise<EngineConnection> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    const ended = server.ended();
    if (ended) throw new Error(`${what} did not start: ${ended}\n${tail()}`);
    try {
      return await connectEngine({ env: { ...process.env, ...env }, timeoutMs: 1000 });
    } catch {
      await sleep(pollMs);
    }
  }
  throw new Error(`${what} did not answer within 60 s\n${tail()}`);
}

const sameImage = (a: string, b: string) => a.replace(/^sha256:/, '') === b.replace(/^sha256:/, '');

/**
 * The test image, copied from the main engine unless the same image (by id; Docker and Podman
 * both say sha256:<id>) is there already. Returns how long the copy took, or undefined if none.
 */
export async function copyTestImage(target: EngineConnection, what: string): Promise<number | undefined> {
  const main = await connectEngine({ env: { ...process.env, DOCKER_HOST: '' }, timeoutMs: 3000 });
  const wanted = (await main.docker.getImage(TEST_IMAGE).inspect()).Id;
  const have = await target.docker.getImage(TEST_IMAGE).inspect().then((info) => info.Id, () => undefined);
  if (have && sameImage(have, wanted)) return undefined;
  const started = Date.now();
  const archive = await main.docker.getImage(TEST_IMAGE).get();
  const progress = await target.docker.loadImage(archive);
  await new Promise<void>((resolve, reject) => target.docker.modem.followProgress(progress, (error: Error | null, output: Array<{ error?: string }>) => {
    const failed = error ?? output.find((line) => line.error);
    if (failed) reject(failed instanceof Error ? failed : new Error(failed.error));
    else resolve();
  }));
  const loaded = await target.docker.getImage(TEST_IMAGE).inspect();
  if (!sameImage(loaded.Id, wanted)) throw new Error(`${what} has ${loaded.Id} as ${TEST_IMAGE}, not ${wanted}`);
  return Date.now() - started;
}

/** One task's containers and volumes on an engine the test owns, by id and name. */
export async function taskObjects(engine: { connection: EngineConnection }, id: string): Promise<{ containers: string[]; volumes: string[] }> {
  const filters = { label: [`${TASK_LABEL}=${id}`] };
  const containers = await engine.connection.docker.listContainers({ all: true, filters });
  const volumes = (await engine.connection.docker.listVolumes({ filters })).Volumes ?? [];
  return { containers: containers.map((item) => item.Id), volumes: volumes.map((volume) => volume.Name) };
}
