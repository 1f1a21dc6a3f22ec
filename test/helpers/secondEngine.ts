import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { EngineConnection } from '../../src/core/engine/locateEngine.js';
import { type EngineCertificates, freeLoopbackPort, makeEngineCertificates } from './engineCertificates.js';
import { copyTestImage, waitForEngine, watchChild } from './ownedEngineProcess.js';

/**
 * A Docker engine of the test's own, to stop and restart under a task while other tests keep
 * using the main engine: its own data root, exec root (and so its own managed containerd), pid
 * file, socket, containerd namespaces and cgroup parent; no bridge, no iptables or IP forwarding
 * changes, and a config file of its own so it registers runc only. The main engine is only read
 * from, once, to copy the test image across.
 *
 * The data root is fixed and kept between runs, so the image is loaded once per machine (a load is
 * ~10 s here); everything else in it (containers, volumes) is removed at start and at stop. Its
 * pid file lives there too, so two runs at once cannot share it: the second engine refuses to start.
 */

const DATA_ROOT = process.env.AIRLOCK_TEST_ENGINE2_ROOT || '/var/lib/airlock-test-engine2';
const inCi = process.env.CI === 'true';
/** The second engine's default bridge: an interface the test makes, with no address, so nothing is routed. */
const OWN_BRIDGE = 'airlock-e2br';

function ensureOwnBridge(): void {
  if (fs.existsSync(`/sys/class/net/${OWN_BRIDGE}`)) return;
  execFileSync('ip', ['link', 'add', OWN_BRIDGE, 'type', 'bridge'], { stdio: 'ignore' });
}

export interface SecondEngine {
  /** unix:///…/docker.sock, as DOCKER_HOST takes it. */
  readonly host: string;
  /** The environment a CLI process needs to use this engine. */
  readonly env: NodeJS.ProcessEnv;
  /** The same engine as a remote one: tcp://127.0.0.1:PORT with TLS both ways, certificates made for the run. */
  readonly tls: EngineCertificates & { host: string; env: NodeJS.ProcessEnv };
  /** Airlock's connection to it (its client reconnects by itself after a restart). */
  readonly connection: EngineConnection;
  readonly timings: { startMs: number; imageLoadMs?: number; restarts: Array<{ stopMs: number; startMs: number }> };
  /** SIGTERM, wait for the engine to exit, start it again on the same roots; resolves once it answers. */
  restart(): Promise<{ stopMs: number; startMs: number }>;
  /** Removes what tests left in it and stops it. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function findDockerd(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/sbin', '/usr/bin'])) {
    const candidate = path.join(dir, 'dockerd');
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Processes still running from this engine's exec root (its managed containerd, shims), by pid. */
function leftoverProcesses(execRoot: string): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(execRoot)) pids.push(Number(name));
    } catch {
      // gone while listing
    }
  }
  return pids;
}

class OwnedEngine implements SecondEngine {
  readonly host: string;
  readonly env: NodeJS.ProcessEnv;
  readonly timings: SecondEngine['timings'] = { startMs: 0, restarts: [] };
  connection!: EngineConnection;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly socket: string;
  private readonly execRoot: string;
  private readonly logFile: string;
  private readonly args: string[];
  private readonly onExit = () => this.child?.kill('SIGTERM');

  readonly tls: SecondEngine['tls'];

  constructor(private readonly dockerd: string, private readonly dir: string, tcpPort: number) {
    this.socket = path.join(dir, 'docker.sock');
    this.execRoot = path.join(dir, 'exec');
    this.logFile = path.join(dir, 'dockerd.log');
    this.host = `unix://${this.socket}`;
    this.env = { DOCKER_HOST: this.host };
    const certificates = makeEngineCertificates(path.join(dir, 'tls'));
    const tcpHost = `tcp://127.0.0.1:${tcpPort}`;
    this.tls = { ...certificates, host: tcpHost, env: { DOCKER_HOST: tcpHost, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certificates.clientDir } };
    const config = path.join(dir, 'daemon.json');
    fs.writeFileSync(config, '{}\n');
    this.args = [
      '--config-file', config,
      '--data-root', DATA_ROOT,
      '--exec-root', this.execRoot,
      '--pidfile', path.join(DATA_ROOT, 'docker.pid'),
      '-H', this.host,
      '--containerd-namespace', 'airlock-engine2',
      '--containerd-plugins-namespace', 'airlock-engine2-plugins',
      '--cgroup-parent', '/airlock-engine2',
      '--iptables=false',
      '--ip-masq=false',
      '--ip-forward=false',
      // A bridge of its own, never `--bridge=none`: with none, dockerd deletes the host's docker0
      // at start (moby's removeDefaultBridgeInterface), breaking the main engine's bridge network.
      '--bridge', OWN_BRIDGE,
      '-H', tcpHost,
      '--tlsverify',
      '--tlscacert', certificates.caFile,
      '--tlscert', certificates.serverCertFile,
      '--tlskey', certificates.serverKeyFile,
    ];
  }

  tail(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').filter((line) => !line.includes('module=grpc')).slice(-15).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Starts dockerd and resolves once Airlock's own connection code reaches it. */
  async launch(): Promise<number> {
    const started = Date.now();
    const log = fs.openSync(this.logFile, 'a');
    const child = spawn(this.dockerd, this.args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.child = child;
    const watched = watchChild(child, 'dockerd');
    this.exited = watched.exited;
    process.once('exit', this.onExit);
    this.connection = await waitForEngine(this.env, watched, 'the second engine', () => this.tail());
    return Date.now() - started;
  }

  /** SIGTERM to our own dockerd, then waits for it and the containerd it manages to be gone. */
  async halt(): Promise<number> {
    const started = Date.now();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return 0;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await this.exited;
    clearTimeout(timer);
    process.removeListener('exit', this.onExit);
    for (let waited = 0; waited < 20_000 && leftoverProcesses(this.execRoot).length > 0; waited += 50) await sleep(50);
    return Date.now() - started;
  }

  async restart(): Promise<{ stopMs: number; startMs: number }> {
    const stopMs = await this.halt();
    const startMs = await this.launch();
    const timing = { stopMs, startMs };
    this.timings.restarts.push(timing);
    return timing;
  }

  /** Containers and volumes tests left (a crashed run included); the image stays for the next run. */
  async clean(): Promise<void> {
    const { docker } = this.connection;
    for (const item of await docker.listContainers({ all: true })) await docker.getContainer(item.Id).remove({ force: true, v: true }).catch(() => undefined);
    for (const volume of (await docker.listVolumes()).Volumes ?? []) await docker.getVolume(volume.Name).remove({ force: true }).catch(() => undefined);
  }

  /** The test image, copied from the main engine unless the same image is there from an earlier run. */
  loadImage(): Promise<number | undefined> {
    return copyTestImage(this.connection, 'the second engine');
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) await this.clean().catch(() => undefined);
    await this.halt();
    fs.rmSync(this.dir, { recursive: true, force: true });
    try {
      execFileSync('ip', ['link', 'del', OWN_BRIDGE], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

let owned: Promise<OwnedEngine | Error> | undefined;

async function startOwned(): Promise<OwnedEngine> {
  if (process.getuid?.() !== 0) throw new Error('a second engine needs root');
  const dockerd = findDockerd();
  if (!dockerd) throw new Error('dockerd is not installed (scripts/setup-engine.sh installs it)');
  fs.mkdirSync(DATA_ROOT, { recursive: true, mode: 0o711 });
  ensureOwnBridge();
  // Short: the managed containerd's socket goes under the exec root, and a Unix socket path has 108 bytes.
  const engine = new OwnedEngine(dockerd, fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-engine2-')), await freeLoopbackPort());
  try {
    engine.timings.startMs = await engine.launch();
    await engine.clean();
    engine.timings.imageLoadMs = await engine.loadImage();
    return engine;
  } catch (error) {
    await engine.stop().catch(() => undefined);
    throw error;
  }
}

/**
 * The second engine, started once per test file; a skip where it cannot run (not root, no
 * dockerd), except in CI, where a test that cannot start it fails: these tests are the proof of
 * what a user keeps when the engine restarts, and must never silently not run.
 */
export async function secondEngine(t: TestContext): Promise<SecondEngine | undefined> {
  owned ??= startOwned().catch((error: Error) => error);
  const result = await owned;
  if (!(result instanceof Error)) return result;
  if (inCi) throw new Error(`CI=true but the second engine could not start: ${result.message}`);
  t.skip(`no second engine: ${result.message}`);
  return undefined;
}

/** Stops the second engine if this file started one. */
export async function stopSecondEngine(): Promise<void> {
  const result = await owned;
  owned = undefined;
  if (result && !(result instanceof Error)) await result.stop();
}

