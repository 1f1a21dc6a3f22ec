import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { freeLoopbackPort } from './engineCertificates.js';

/**
 * The main engine reached as a remote one, the way teams reach a build box: DOCKER_HOST=ssh://…
 * to Debian's sshd, which the test starts on 127.0.0.1 with host and client keys of its own, the
 * client key held by an ssh-agent of its own. On the far side `docker system dial-stdio` speaks to
 * that machine's default socket. The CLI runs with a HOME of the test's, whose known_hosts lists
 * the sshd's host key, so the user's own ~/.ssh is never read or written.
 */

export interface SshEngine {
  /** ssh://root@127.0.0.1:PORT */
  readonly host: string;
  readonly port: number;
  /** What a CLI process needs: DOCKER_HOST, SSH_AUTH_SOCK and the test's HOME. */
  readonly env: NodeJS.ProcessEnv;
  readonly home: string;
  /** The sshd's host key line, as known_hosts holds it. */
  readonly knownHostsLine: string;
  /** Connections sshd accepted, from its log: proof that a command went over ssh. */
  acceptedLogins(): number;
  stop(): Promise<void>;
}

const inCi = process.env.CI === 'true';
const SSHD = '/usr/sbin/sshd';

function keygen(file: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { stdio: 'ignore' });
  return fs.readFileSync(`${file}.pub`, 'utf8').trim();
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port}: ${log()}`);
}

class OwnedSshEngine implements SshEngine {
  host = '';
  port = 0;
  env: NodeJS.ProcessEnv = {};
  home = '';
  knownHostsLine = '';
  private sshd: ChildProcess | undefined;
  private agentPid = 0;
  private logFile = '';

  constructor(private readonly dir: string) {}

  async start(): Promise<void> {
    if (process.getuid?.() !== 0) throw new Error('the ssh engine test logs in as root, so it runs as root');
    if (!fs.existsSync(SSHD)) throw new Error(`${SSHD} is not installed (scripts/setup-engine.sh installs openssh-server)`);
    this.port = await freeLoopbackPort();
    const hostKeyPub = keygen(path.join(this.dir, 'host_ed25519'));
    const clientPub = keygen(path.join(this.dir, 'client_ed25519'));
    fs.writeFileSync(path.join(this.dir, 'authorized_keys'), `${clientPub}\n`, { mode: 0o600 });
    this.logFile = path.join(this.dir, 'sshd.log');
    const config = [
      `Port ${this.port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(this.dir, 'host_ed25519')}`,
      `AuthorizedKeysFile ${path.join(this.dir, 'authorized_keys')}`,
      `PidFile ${path.join(this.dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The key files live under /tmp (mode 1777), which StrictModes would refuse.
      'StrictModes no',
      'AllowAgentForwarding no',
      'LogLevel VERBOSE',
    ].join('\n');
    fs.writeFileSync(path.join(this.dir, 'sshd_config'), `${config}\n`);
    // Privilege separation wants its empty folder; Debian's service creates it at boot.
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    this.sshd = spawn(SSHD, ['-D', '-e', '-f', path.join(this.dir, 'sshd_config'), '-E', this.logFile], { stdio: 'ignore' });
    process.once('exit', () => this.sshd?.kill());
    await waitForPort(this.port, this.sshd, () => this.log());

    const agentSocket = path.join(this.dir, 'agent.sock');
    const agentOut = execFileSync('ssh-agent', ['-s', '-a', agentSocket], { encoding: 'utf8' });
    this.agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agentOut)?.[1]);
    execFileSync('ssh-add', [path.join(this.dir, 'client_ed25519')], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket }, stdio: 'ignore' });
    // The agent holds the key now; the file is not what logs in.
    fs.rmSync(path.join(this.dir, 'client_ed25519'));

    this.home = path.join(this.dir, 'home');
    fs.mkdirSync(path.join(this.home, '.ssh'), { recursive: true, mode: 0o700 });
    const [keyType, key] = hostKeyPub.split(/\s+/);
    this.knownHostsLine = `[127.0.0.1]:${this.port} ${keyType} ${key}`;
    fs.writeFileSync(path.join(this.home, '.ssh', 'known_hosts'), `${this.knownHostsLine}\n`);
    this.host = `ssh://root@127.0.0.1:${this.port}`;
    this.env = { DOCKER_HOST: this.host, SSH_AUTH_SOCK: agentSocket, HOME: this.home };
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '(no sshd log)';
    }
  }

  acceptedLogins(): number {
    return (this.log().match(/Accepted publickey for root/g) ?? []).length;
  }

  async stop(): Promise<void> {
    const sshd = this.sshd;
    if (sshd && sshd.exitCode === null) {
      const exited = new Promise((resolve) => sshd.once('exit', resolve));
      sshd.kill();
      await exited;
    }
    if (this.agentPid) {
      try {
        process.kill(this.agentPid);
      } catch {
        // already gone
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let owned: Promise<OwnedSshEngine | Error> | undefined;

/** The ssh engine, once per test file; fails in CI when it cannot start, skips elsewhere. */
export async function sshEngine(t: TestContext): Promise<SshEngine | undefined> {
  owned ??= (async () => {
    const engine = new OwnedSshEngine(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-ssh-engine-')));
    try {
      await engine.start();
      return engine;
    } catch (error) {
      await engine.stop().catch(() => undefined);
      return error as Error;
    }
  })();
  const result = await owned;
  if (!(result instanceof Error)) return result;
  if (inCi) throw new Error(`CI=true but the ssh engine could not start: ${result.message}`);
  t.skip(`no ssh engine: ${result.message}`);
  return undefined;
}

export async function stopSshEngine(): Promise<void> {
  const result = await owned;
  owned = undefined;
  if (result && !(result instanceof Error)) await result.stop();
}
