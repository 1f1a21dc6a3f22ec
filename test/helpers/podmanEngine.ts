import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { EngineConnection } from '../../src/core/engine/locateEngine.js';
import { TASK_LABEL } from '../../src/core/state/taskRecord.js';
import { copyTestImage, waitForEngine, watchChild } from './ownedEngineProcess.js';

/**
 * A Podman API service of the test's own (`podman system service --time=0` on a socket of its
 * own), rootful as this process or rootless as the user scripts/setup-podman.sh creates. It uses
 * that user's normal Podman storage, so the test image is loaded once per machine (copied from
 * the main Docker engine, and again only when it changed there); what tests leave (containers and
 * volumes labelled as Airlock tasks) is removed at start and at stop. Nothing else in that
 * storage is touched.
 */

const inCi = process.env.CI === 'true';
/** The user scripts/setup-podman.sh creates (with subuids and subgids) for rootless Podman. */
export const ROOTLESS_USER = process.env.AIRLOCK_TEST_PODMAN_USER || 'airlock-podman';

export type PodmanMode = 'rootful' | 'rootless';

export interface PodmanEngine {
  readonly mode: PodmanMode;
  /** unix:///…/podman.sock, as DOCKER_HOST takes it. */
  readonly host: string;
  /** The environment a CLI process needs to use this engine. */
  readonly env: NodeJS.ProcessEnv;
  readonly connection: EngineConnection;
  readonly timings: { startMs: number; imageLoadMs?: number };
  /** Podman's own log for this service (its warnings say what it ignored). */
  log(): string;
  stop(): Promise<void>;
}

function findPodman(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/usr/local/bin'])) {
    const candidate = path.join(dir, 'podman');
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

function userIds(name: string): { uid: number; gid: number; home: string } | undefined {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((row) => row.split(':')[0] === name);
  if (!line) return undefined;
  const [, , uid, gid, , home] = line.split(':');
  return { uid: Number(uid), gid: Number(gid), home };
}

class OwnedPodman implements PodmanEngine {
  readonly host: string;
  readonly env: NodeJS.ProcessEnv;
  readonly timings: PodmanEngine['timings'] = { startMs: 0 };
  connection!: EngineConnection;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly logFile: string;
  private readonly onExit = () => this.child?.kill('SIGTERM');

  constructor(readonly mode: PodmanMode, private readonly podman: string, private readonly dir: string, socket: string, private readonly user?: { name: string; uid: number; home: string }) {
    this.logFile = path.join(dir, 'podman.log');
    this.host = `unix://${socket}`;
    this.env = { DOCKER_HOST: this.host };
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  private tail(): string {
    return this.log().split('\n').slice(-15).join('\n');
  }

  async launch(): Promise<void> {
    const started = Date.now();
    const log = fs.openSync(this.logFile, 'a');
    const args = ['system', 'service', '--time=0', this.host];
    const user = this.user;
    // Rootless: as that user, with its own runtime folder, as a login would give it.
    const child = user
      ? spawn('runuser', ['-u', user.name, '--', 'env', `XDG_RUNTIME_DIR=/run/user/${user.uid}`, `HOME=${user.home}`, `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, this.podman, ...args], { stdio: ['ignore', log, log], cwd: '/' })
      : spawn(this.podman, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.child = child;
    const watched = watchChild(child, 'podman');
    this.exited = watched.exited;
    process.once('exit', this.onExit);
    this.connection = await waitForEngine(this.env, watched, `the ${this.mode} Podman service`, () => this.tail(), 100);
    this.timings.startMs = Date.now() - started;
  }

  /** Airlock's task containers and labelled volumes left in this storage (a crashed run included). */
  async clean(): Promise<void> {
    const { docker } = this.connection;
    const filters = { label: [TASK_LABEL] };
    for (const item of await docker.listContainers({ all: true, filters })) await docker.getContainer(item.Id).remove({ force: true, v: true }).catch(() => undefined);
    for (const volume of (await docker.listVolumes({ filters })).Volumes ?? []) await docker.getVolume(volume.Name).remove({ force: true }).catch(() => undefined);
  }

  /** The test image, copied from the main engine unless the same image is there already. */
  loadImage(): Promise<number | undefined> {
    return copyTestImage(this.connection, `Podman (${this.mode})`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      await this.clean().catch(() => undefined);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await this.exited;
      clearTimeout(timer);
    }
    process.removeListener('exit', this.onExit);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function startOwned(mode: PodmanMode): Promise<OwnedPodman> {
  if (process.getuid?.() !== 0) throw new Error('the Podman tests run as root (rootless as the user setup-podman.sh made)');
  const podman = findPodman();
  if (!podman) throw new Error('podman is not installed (scripts/setup-podman.sh installs it)');
  let engine: OwnedPodman;
  if (mode === 'rootful') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-podman-'));
    engine = new OwnedPodman(mode, podman, dir, path.join(dir, 'podman.sock'));
  } else {
    const ids = userIds(ROOTLESS_USER);
    if (!ids) throw new Error(`no user ${ROOTLESS_USER} for rootless Podman (scripts/setup-podman.sh creates it)`);
    const runtimeDir = `/run/user/${ids.uid}`;
    fs.mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    fs.chownSync(runtimeDir, ids.uid, ids.gid);
    // The socket must be the user's to create: in a folder of its own, which this process can still read.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-podman-rootless-'));
    fs.chownSync(dir, ids.uid, ids.gid);
    engine = new OwnedPodman(mode, podman, dir, path.join(dir, 'podman.sock'), { name: ROOTLESS_USER, uid: ids.uid, home: ids.home });
  }
  try {
    await engine.launch();
    await engine.clean();
    engine.timings.imageLoadMs = await engine.loadImage();
    return engine;
  } catch (error) {
    await engine.stop().catch(() => undefined);
    throw error;
  }
}

const owned = new Map<PodmanMode, Promise<OwnedPodman | Error>>();

/**
 * A Podman service in this mode, started once per test file; a skip where it cannot run (not
 * root, no podman, no rootless user), except in CI, where a test that cannot start it fails.
 */
export async function podmanEngine(t: TestContext, mode: PodmanMode): Promise<PodmanEngine | undefined> {
  let work = owned.get(mode);
  if (!work) {
    work = startOwned(mode).catch((error: Error) => error);
    owned.set(mode, work);
  }
  const result = await work;
  if (!(result instanceof Error)) return result;
  if (inCi) throw new Error(`CI=true but the ${mode} Podman service could not start: ${result.message}`);
  t.skip(`no ${mode} Podman: ${result.message}`);
  return undefined;
}

/** Stops every Podman service this file started. */
export async function stopPodmanEngines(): Promise<void> {
  for (const [mode, work] of owned) {
    owned.delete(mode);
    const result = await work;
    if (!(result instanceof Error)) await result.stop();
  }
}


/** Every volume name on that Podman (a task's workspace volume is anonymous there, and unlabelled). */
export async function podmanVolumeNames(engine: PodmanEngine): Promise<string[]> {
  return ((await engine.connection.docker.listVolumes()).Volumes ?? []).map((volume) => volume.Name);
}

/** Whether the host's cgroup hierarchy is v2 (rootless Podman can only limit a container there). */
export const cgroupV2 = (): boolean => {
  try {
    return execFileSync('stat', ['-fc', '%T', '/sys/fs/cgroup'], { encoding: 'utf8' }).trim() === 'cgroup2fs';
  } catch {
    return false;
  }
};
