import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineConnection } from '../../../src/core/engine/locateEngine.js';
import type { ExecBackendName } from '../../../src/core/exec/execTypes.js';
import type { TaskRecord } from '../../../src/core/state/taskRecord.js';
import type { TaskService } from '../../../src/core/task/taskService.js';
import { hostTree, q } from '../../helpers/changeFixtures.js';
import { defineCases } from '../securityCase.js';

/**
 * Issue 19, the box itself: code in the task attacks the kernel interfaces it can reach, looks for
 * the host's secrets, exhausts what it is given, and goes after another task running beside it.
 * Every case is an attempt from inside the box (or against the task from the host where that is
 * the attack) and asserts the outcome: an exit code, an errno, bytes the box could or could not
 * read, what the host still holds.
 */

// ---------------------------------------------------------------------------------------------
// What box.test.ts puts on the host before the tasks start. Every secret holds `box-canary-`, so
// one search of the box's file system for that string finds any of them that got in.

export const CANARY = 'box-canary-';

/** Set in the test process's environment before the task starts. */
export const HOST_ENV_SECRETS: Readonly<Record<string, string>> = {
  AWS_SECRET_ACCESS_KEY: `${CANARY}env-aws-secret-1f7c`,
  GITHUB_TOKEN: `${CANARY}env-github-token-8a2d`,
  ANTHROPIC_API_KEY: `${CANARY}env-anthropic-key-3b9e`,
  NPM_TOKEN: `${CANARY}env-npm-token-6c04`,
  // Not secret-looking: it stays out only because nothing lists it.
  AIRLOCK_BOX_HOST_ONLY: `${CANARY}env-plain-host-var-d51a`,
};

/** What a front end's environment carries that leads straight to the host's engine or ssh agent. */
export const HOST_ENV_HANDLES: Readonly<Record<string, string>> = {
  DOCKER_HOST: `unix:///run/${CANARY}docker.sock`,
  SSH_AUTH_SOCK: `/tmp/${CANARY}ssh-agent.sock`,
};

/** The one host variable the task is told to pass through: proof that the environment checks see what does get in. */
export const PASSED_THROUGH = { name: 'AIRLOCK_BOX_SHARED', value: 'passed-through-on-purpose' } as const;

/** Ordinary files of the attacked task's workspace (a git repository), committed. */
export const WORKSPACE_FILES: Readonly<Record<string, string>> = {
  'README.md': '# box\n',
  'src/app.js': 'module.exports = 1;\n',
  'docs/guide.md': '# guide\n',
  // A registry config without a credential is an ordinary file and is copied.
  'sub/.npmrc': 'registry=https://registry.npmjs.org/\n',
};

/** Files the secret rules leave out by name; those in TRACKED_SECRETS are committed too. */
export const SECRET_FILES: Readonly<Record<string, string>> = {
  '.env': `DB_PASSWORD=${CANARY}dotenv-4e1b\n`,
  '.env.local': `STRIPE_KEY=${CANARY}dotenv-local-77a0\n`,
  id_rsa: `-----BEGIN OPENSSH PRIVATE KEY-----\n${CANARY}id-rsa-0d3f\n-----END OPENSSH PRIVATE KEY-----\n`,
  'config/server.pem': `-----BEGIN PRIVATE KEY-----\n${CANARY}server-pem-a5c2\n-----END PRIVATE KEY-----\n`,
  '.aws/credentials': `[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = ${CANARY}aws-file-e9b4\n`,
  '.netrc': `machine example.invalid login me password ${CANARY}netrc-52d6\n`,
  '.git-credentials': `https://me:${CANARY}git-credentials-1c8e@example.invalid\n`,
  '.docker/config.json': `{"auths":{"registry.example.invalid":{"auth":"${CANARY}docker-auth-6f21"}}}\n`,
  '.kube/config': `users:\n- name: me\n  user:\n    token: ${CANARY}kube-token-3a97\n`,
  '.ssh/id_ed25519': `-----BEGIN OPENSSH PRIVATE KEY-----\n${CANARY}ssh-ed25519-8b50\n-----END OPENSSH PRIVATE KEY-----\n`,
  'terraform.tfvars': `db_password = "${CANARY}tfvars-c3e8"\n`,
  'secrets.yaml': `api_key: ${CANARY}secrets-yaml-90fd\n`,
};
export const TRACKED_SECRETS: readonly string[] = ['.env', 'id_rsa', 'config/server.pem'];

/** A credential-prone config that holds a credential: left out by its content, untracked. */
export const TOKEN_NPMRC = { path: '.npmrc', content: `//registry.npmjs.org/:_authToken=${CANARY}npmrc-token-2b6c\n` } as const;

/** Committed in the first commit and deleted in the second: only history still has it. */
export const HISTORY_SECRET = { path: 'old/credentials.json', content: `{"client_secret":"${CANARY}history-5a4d"}\n` } as const;

/** What the host repository's .git/config carries: a token in the remote, a header, a helper, an include. */
export const GIT_CONFIG_SECRETS = {
  remoteToken: `${CANARY}remote-url-token-d0e7`,
  header: `${CANARY}extraheader-41f9`,
} as const;

/** Beside the workspace (never copied): A's symlinks lead here, and its .git/config includes a file here. */
export const OUTSIDE_FILES: Readonly<Record<string, string>> = {
  id_rsa: `-----BEGIN OPENSSH PRIVATE KEY-----\n${CANARY}outside-key-7e35\n-----END OPENSSH PRIVATE KEY-----\n`,
  'gitconfig-secret': `[user]\n\tsigningkey = ${CANARY}outside-gitconfig-19ac\n`,
};

/** The HOME the front end runs with: the usual places a developer's credentials live. */
export const HOME_FILES: Readonly<Record<string, string>> = {
  '.ssh/id_rsa': `-----BEGIN OPENSSH PRIVATE KEY-----\n${CANARY}home-ssh-key-2d71\n-----END OPENSSH PRIVATE KEY-----\n`,
  '.docker/config.json': `{"auths":{"https://index.docker.io/v1/":{"auth":"${CANARY}home-docker-0b8a"}}}\n`,
  '.config/gh/hosts.yml': `github.com:\n    oauth_token: ${CANARY}home-gh-6e13\n`,
  '.gitconfig': `[credential]\n\thelper = store\n[url "https://x:${CANARY}home-gitconfig-a8f2@example.invalid/"]\n\tinsteadOf = https://example.invalid/\n`,
  '.aws/credentials': `[default]\naws_secret_access_key = ${CANARY}home-aws-4c60\n`,
  '.npmrc': `//registry.npmjs.org/:_authToken=${CANARY}home-npmrc-97d5\n`,
};

/** What the second task (B) holds and runs; A must find none of it. */
export const OTHER_TASK = {
  file: 'b-marker.txt',
  fileMarker: 'other-task-workspace-file-5d81',
  runtimeMarker: 'other-task-runtime-file-c27a',
  processMarker: 'other-task-process-91f3',
  port: 45819,
  abstractName: 'airlock-other-task-abstract-91f3',
  shmKey: 0x41424f58,
  shmFile: 'airlock-other-task-shm-91f3',
  banner: 'other-task-answers',
} as const;

/** B's TCP listener on its own loopback (node -e, with the marker on its argv). */
export const OTHER_TASK_SERVER = `require('net').createServer((c)=>c.end(${JSON.stringify(OTHER_TASK.banner)})).listen(${OTHER_TASK.port},'127.0.0.1');`;

/**
 * B's abstract unix socket (perl -MSocket -e, with the marker on its argv). Perl, because node 18's
 * libuv binds a name that starts with NUL as an empty one.
 */
export const OTHER_TASK_ABSTRACT_SERVER = `socket(S, AF_UNIX, SOCK_STREAM, 0) or die; bind(S, pack_sockaddr_un("\\0${OTHER_TASK.abstractName}")) or die "bind: $!"; listen(S, 5) or die; while (accept(C, S)) { syswrite(C, "${OTHER_TASK.banner}"); close C }`;

// ---------------------------------------------------------------------------------------------
// The context box.test.ts builds.

export interface BoxRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  bytesOut: number;
  backend: ExecBackendName;
}

export interface BoxRunOptions {
  timeoutMs?: number;
  backend?: ExecBackendName;
  /** Takes stdout instead of collecting it (for floods); `stdout` is then empty. */
  onStdout?: (chunk: Buffer) => unknown;
}

export interface BoxTask {
  record: TaskRecord;
  /** The host folder the task was started on. */
  workspace: string;
  /**
   * Runs argv in the box as uid 1000 from /workspace, as code the agent wrote would run: the
   * command rules are not asked (they are an early warning, not the boundary; SECURITY.md).
   */
  exec(argv: string[], options?: BoxRunOptions): Promise<BoxRun>;
  sh(script: string, options?: BoxRunOptions): Promise<BoxRun>;
}

export interface BoxLimits {
  memoryBytes: number;
  pids: number;
  tmpBytes: number;
  cpus: number;
}

export interface BoxContext {
  engine: EngineConnection;
  service: TaskService;
  /** The host state folder: records, audit logs and snapshots of every task here. */
  stateRoot: string;
  /** The attacked task (A), on a git repository holding every secret above, under runc. */
  task: BoxTask;
  /** Another task (B) of the same user at the same time, running OTHER_TASK_SERVER. */
  other: BoxTask;
  /** What every task here is started with. */
  limits: BoxLimits;
  /** The folder beside A's workspace holding OUTSIDE_FILES. */
  outside: string;
  /** The HOME the front end had when it started A (a throwaway folder holding HOME_FILES). */
  hostHome: string;
  /** A's symlinks to host files outside its workspace and to left-out secrets inside it: path → target. */
  links: Readonly<Record<string, string>>;
  /** The blob id of HISTORY_SECRET in the host repository. */
  historyBlob: string;
  /** Commits in the host repository's history. */
  commits: number;
  /** Starts one more task with the same limits (on `workspace`, or a fresh folder); the file's `after` stops it. */
  startTask(workspace?: string): Promise<BoxTask>;
}

// ---------------------------------------------------------------------------------------------
// Probes.

const MiB = 1024 * 1024;
const EPERM = 1;
const ENOENT = 2;
const ESRCH = 3;
const PTRACE_SEIZE = 0x4206;

/** Numbers for x86-64 and arm64; -1 where the call does not exist on that architecture. */
const SYSCALLS = {
  kill: [62, 129],
  ptrace: [101, 117],
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
  chroot: [161, 51],
  unshare: [272, 97],
  setns: [308, 268],
  mknodat: [259, 33],
  keyctl: [250, 219],
  add_key: [248, 217],
  bpf: [321, 280],
  perf_event_open: [298, 241],
  userfaultfd: [323, 282],
  kexec_load: [246, 104],
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  name_to_handle_at: [303, 264],
  open_by_handle_at: [304, 265],
  sethostname: [170, 161],
  settimeofday: [164, 170],
  clock_settime: [227, 112],
  reboot: [169, 142],
  swapon: [167, 224],
  acct: [163, 89],
  iopl: [172, -1],
  ioperm: [173, -1],
} as const;
type Syscall = keyof typeof SYSCALLS;

function syscallNumber(name: Syscall): number {
  const [x64, arm64] = SYSCALLS[name];
  // The box runs on the engine's architecture, which is this host's for a local engine.
  if (process.arch === 'x64') return x64;
  if (process.arch === 'arm64') return arm64;
  throw new Error(`no system call numbers for ${process.arch}`);
}

/** One raw system call from perl (in the test image and node's Debian images); `args` are perl expressions. */
interface Call {
  label: string;
  call: Syscall;
  args: string[];
}

/**
 * Makes each call from one perl process and returns label → [return value, errno]. Raw calls, not
 * the tools: a tool's "not permitted" can be its own check, only the kernel's answer counts.
 */
async function syscalls(task: BoxTask, calls: Call[], prelude = ''): Promise<Map<string, [number, number]>> {
  const present = calls.filter((call) => syscallNumber(call.call) >= 0);
  // perl's syscall may write into a string argument, so no argument may be a literal.
  let strings = '';
  const lines = present.map((call, index) => {
    const args = call.args.map((arg, position) => {
      if (!/^["']/.test(arg)) return arg;
      strings += `my $s${index}_${position} = ${arg};\n`;
      return `$s${index}_${position}`;
    });
    return `$!=0; $r=syscall(${[syscallNumber(call.call), ...args].join(', ')}); print "${call.label} $r ", $!+0, "\\n";`;
  });
  const script = prelude + strings + lines.join('\n');
  const result = await task.exec(['perl', '-e', script]);
  assert.equal(result.exitCode, 0, `the perl probe failed: ${result.stderr}`);
  const answers = new Map(result.stdout.trim().split('\n').map((line) => {
    const [label, rc, errno] = line.split(' ');
    return [label, [Number(rc), Number(errno)] as [number, number]];
  }));
  assert.deepEqual([...answers.keys()], present.map((call) => call.label), 'every call was made');
  return answers;
}

function assertRefused(answers: Map<string, [number, number]>, errno: number, what: string): void {
  const wrong = [...answers].filter(([, [rc, got]]) => rc !== -1 || got !== errno).map(([label, [rc, got]]) => `${label} returned ${rc} (errno ${got})`);
  assert.deepEqual(wrong, [], `${what}: every call must fail with errno ${errno}`);
}

/** pid → command line of every process the box can see. */
async function processes(task: BoxTask): Promise<Array<{ pid: number; cmdline: string }>> {
  // Newlines too: the runner is `node -e` with a whole program on its command line.
  const listing = await task.sh(`for p in /proc/[0-9]*; do printf '%s\\t' "\${p#/proc/}"; tr '\\0\\n' '  ' < "$p/cmdline" 2>/dev/null; echo; done`);
  return listing.stdout.split('\n').filter(Boolean).map((line) => {
    const [pid, ...rest] = line.split('\t');
    return { pid: Number(pid), cmdline: rest.join('\t').trim() };
  });
}

/** Files the box can read anywhere (not /proc, /sys or device nodes) that hold any of `needles`. */
async function sweep(task: BoxTask, needles: string[]): Promise<string[]> {
  // /dev is pruned for its device nodes; its two tmpfs folders are searched as roots of their own.
  const script = `find / /dev/shm /dev/mqueue \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -type f -print0 2>/dev/null | xargs -0 -r grep -laF ${needles.map((needle) => `-e ${q(needle)}`).join(' ')} 2>/dev/null; true`;
  const result = await task.sh(script, { timeoutMs: 60_000 });
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout.split('\n').filter(Boolean);
}

interface Mount {
  root: string;
  point: string;
  options: string;
  type: string;
  source: string;
  superOptions: string;
}

async function mounts(task: BoxTask): Promise<Mount[]> {
  const text = (await task.exec(['cat', '/proc/self/mountinfo'])).stdout;
  return text.split('\n').filter(Boolean).map((line) => {
    const [left, right] = line.split(' - ');
    const fields = left.split(' ');
    const [type, source, superOptions] = right.split(' ');
    return { root: fields[3], point: fields[4], options: fields[5], type, source, superOptions: superOptions ?? '' };
  });
}

/** The connection outcome of each target from inside a box: the peer's first bytes, or the error code. */
async function dial(task: BoxTask, targets: Array<{ label: string; port?: number; host?: string; path?: string }>): Promise<Record<string, string>> {
  const script = `const net=require('net');const targets=${JSON.stringify(targets)};(async()=>{for(const t of targets){const r=await new Promise((done)=>{const s=net.connect(t.path!==undefined?{path:t.path.replace(/^@/,'\\0')}:{port:t.port,host:t.host});let d='';s.on('data',(x)=>(d+=x));s.on('end',()=>done(d||'EMPTY'));s.on('error',(e)=>done(e.code));setTimeout(()=>{s.destroy();done('TIMEOUT')},5000)});console.log(t.label+' '+r)}process.exit(0)})()`;
  const result = await task.exec(['node', '-e', script], { timeoutMs: 60_000 });
  assert.equal(result.exitCode, 0, result.stderr);
  return Object.fromEntries(result.stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));
}

/** For each abstract unix socket name: the peer's first bytes, or the errno name of the failed connect. */
async function dialAbstract(task: BoxTask, names: string[]): Promise<Record<string, string>> {
  const script = `for my $n (@ARGV) { socket(S, AF_UNIX, SOCK_STREAM, 0) or die; if (connect(S, pack_sockaddr_un("\\0$n"))) { sysread(S, my $b, 100); print "$n $b\\n" } else { my ($e) = grep { $!{$_} } keys %!; print "$n $e\\n" } close S }`;
  const result = await task.exec(['perl', '-MSocket', '-e', script, ...names]);
  assert.equal(result.exitCode, 0, result.stderr);
  return Object.fromEntries(result.stdout.trim().split('\n').map((line) => line.split(' ') as [string, string]));
}

/** Command lines with their counts, most common first: what a process listing is made of. */
function summary(list: Array<{ cmdline: string }>): string {
  const counts = new Map<string, number>();
  for (const { cmdline } of list) counts.set(cmdline.slice(0, 60), (counts.get(cmdline.slice(0, 60)) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([line, count]) => `${count}× ${line || '(none)'}`).join('; ');
}

const sleepers = (list: Array<{ cmdline: string }>, pattern: RegExp) => list.filter((entry) => pattern.test(entry.cmdline)).map((entry) => entry.cmdline);

/** Kills, inside the box, the processes a case left behind on purpose (matched by exact command line). */
async function killLeftovers(task: BoxTask, cmdlines: string[]): Promise<void> {
  if (cmdlines.length === 0) return;
  const cases = cmdlines.map((line) => q(`${line} `)).join('|');
  await task.sh(`for p in /proc/[0-9]*; do case "$(tr '\\0' ' ' < "$p/cmdline" 2>/dev/null)" in ${cases}) kill -9 "\${p#/proc/}";; esac; done; true`);
}

/** This process's resident memory, and what its heap and buffers hold. */
const hostBytes = () => {
  const usage = process.memoryUsage();
  return { rss: usage.rss, held: usage.heapUsed + usage.external + usage.arrayBuffers };
};

/** Host PIDs of a container's processes whose command line matches, as the engine reports them. */
async function hostPids(ctx: BoxContext, task: BoxTask, pattern: RegExp): Promise<number[]> {
  const top = (await ctx.engine.docker.getContainer(task.record.containerId).top()) as { Titles: string[]; Processes: string[][] };
  const pidColumn = top.Titles.indexOf('PID');
  const cmdColumn = top.Titles.indexOf('CMD');
  return top.Processes.filter((row) => pattern.test(row[cmdColumn] ?? '')).map((row) => Number(row[pidColumn]));
}

const hostCmdline = (pid: number): string | undefined => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
};

/** Sockets a front end or engine commonly listens on; none may exist in the box. */
function engineSocketPaths(ctx: BoxContext): string[] {
  const known = ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock', '/var/run/docker/containerd/containerd.sock', '/run/podman/podman.sock', '/run/user/1000/podman/podman.sock', '/run/user/1000/docker.sock', '/var/run/crio/crio.sock', '/run/buildkit/buildkitd.sock'];
  if (ctx.engine.endpoint.kind === 'unix') known.push(ctx.engine.endpoint.socketPath);
  return [...new Set(known)];
}

const readHost = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * Shell functions for write attempts, printing "wrote|refused LABEL" (LABEL defaults to the file):
 * `w FILE TEXT` truncates and writes, `a FILE` opens for appending and writes nothing. A failed
 * redirection is then an answer, not the end of the script (as on dash's `:`), whatever the
 * shell's exit status for it.
 */
const WRITES = `w() { if printf '%s\\n' "$2" 2>/dev/null > "$1"; then echo "wrote \${3:-$1}"; else echo "refused \${3:-$1}"; fi; }
a() { if true 2>/dev/null >> "$1"; then echo "wrote \${2:-$1}"; else echo "refused \${2:-$1}"; fi; }
`;

const CAP_LINES = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'];
const NAMESPACES = ['net', 'pid', 'mnt', 'ipc', 'uts'];
/** The device nodes the engine gives every container; anything else would be a way to the host's hardware. */
const STANDARD_DEV = ['core', 'fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'];
/** File systems that are the kernel's own or the engine's per-container ones, not a host folder. */
const VIRTUAL_FS = new Set(['overlay', 'proc', 'tmpfs', 'devpts', 'sysfs', 'cgroup', 'cgroup2', 'mqueue']);

// ---------------------------------------------------------------------------------------------

export const BOX_CASES = defineCases<BoxContext>([
  // ----- kernel: sockets and kernel interfaces -----
  {
    id: 'kernel.no-engine-socket',
    category: 'kernel',
    title: 'no engine socket is anywhere in the box: no socket file, no well-known engine path, no named unix socket to dial',
    attack: "A reachable Docker, containerd or Podman socket would let the box start a privileged container with the host's root file system mounted.",
    async run(ctx) {
      const paths = engineSocketPaths(ctx);
      const found = await ctx.task.sh(`find / \\( -path /proc -o -path /sys \\) -prune -o -type s -print 2>/dev/null; for p in ${paths.map(q).join(' ')}; do [ -e "$p" ] && echo "present $p"; done; true`);
      assert.equal(found.stdout.trim(), '', 'no socket file and no engine path may exist');
      // A socket shared into the box's network namespace would be listed here with its path or abstract name.
      const unix = (await ctx.task.exec(['cat', '/proc/net/unix'])).stdout.split('\n').slice(1).filter(Boolean);
      assert.deepEqual(unix.map((line) => line.trim().split(/\s+/)[7]).filter(Boolean), [], 'no named unix socket is visible');
      const dialled = await dial(ctx.task, paths.map((socketPath, index) => ({ label: `socket${index}`, path: socketPath })));
      assert.deepEqual(Object.values(dialled), paths.map(() => 'ENOENT'), 'dialling each engine path finds nothing');
    },
  },
  {
    id: 'kernel.no-engine-tcp',
    category: 'kernel',
    title: "the engine's TCP ports (2375, 2376) answer nowhere on the box's loopback, even with an engine-like listener on the host's",
    attack: 'An engine API on a TCP port the box can reach would give it the same control of the host as the socket.',
    async run(ctx, t) {
      // A stand-in for an engine exposed on the host's loopback: if the box reached the host's
      // loopback at all, these would count the visit.
      let reached = 0;
      const servers: net.Server[] = [];
      for (const port of [2375, 2376]) {
        const server = net.createServer((socket) => {
          reached++;
          socket.end('HTTP/1.1 200 OK\r\n\r\n');
        });
        const listening = await new Promise<boolean>((resolve) => server.once('error', () => resolve(false)).listen(port, '127.0.0.1', () => resolve(true)));
        if (listening) servers.push(server);
        else t.diagnostic(`127.0.0.1:${port} is taken on the host; the box is probed against whatever holds it`);
      }
      try {
        const ports = [2375, 2376];
        if (ctx.engine.endpoint.kind === 'tcp') ports.push(ctx.engine.endpoint.port);
        const targets = [...new Set(ports)].flatMap((port) => [{ label: `v4-${port}`, host: '127.0.0.1', port }, { label: `v6-${port}`, host: '::1', port }]);
        const answers = await dial(ctx.task, targets);
        for (const target of targets) assert.match(answers[target.label] ?? '', /^(ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH)$/, `${target.label} must not connect (got ${answers[target.label]})`);
        assert.equal(reached, 0, "nothing reached the host's loopback");
        const listeners = ['tcp', 'tcp6'].map(async (table) => (await ctx.task.exec(['cat', `/proc/net/${table}`])).stdout.split('\n').slice(1).filter((line) => line.trim().split(/\s+/)[3] === '0A'));
        assert.deepEqual((await Promise.all(listeners)).flat(), [], 'nothing listens on the box loopback');
      } finally {
        for (const server of servers) server.close();
      }
    },
  },
  {
    id: 'kernel.no-capabilities',
    category: 'kernel',
    title: 'every process in the box, init and the runner included, has empty inheritable, permitted, effective, bounding and ambient capability sets',
    attack: 'Any capability (SYS_ADMIN, NET_ADMIN, DAC_READ_SEARCH, SYS_PTRACE…) is a known step out of a container.',
    async run(ctx) {
      const status = await ctx.task.sh(`for p in /proc/[0-9]*; do [ -r "$p/status" ] || continue; grep -H -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' "$p/status"; done`);
      const lines = status.stdout.split('\n').filter(Boolean);
      const pids = new Set(lines.map((line) => line.split(':')[0]));
      assert.ok(pids.size >= 3, `init, the main process and this probe at least (saw ${[...pids].join(' ')})`);
      assert.equal(lines.length, pids.size * CAP_LINES.length, 'every process shows all five sets');
      assert.deepEqual(lines.filter((line) => !/:\s*0000000000000000$/.test(line)), [], 'every set is empty');
      const dump = await ctx.task.exec(['setpriv', '--dump']);
      assert.match(dump.stdout, /^Capability bounding set: \[none\]$/m);
      assert.match(dump.stdout, /^Ambient capabilities: \[none\]$/m);
    },
  },
  {
    id: 'kernel.setuid-ignored',
    category: 'kernel',
    title: 'no-new-privileges holds: a setuid-root binary (su) runs with the sandbox uid and cannot run anything as root',
    attack: 'A setuid-root binary that still raised its euid would give the box root, and with it whatever root can do in the container.',
    async run(ctx) {
      const setuid = await ctx.task.sh('find / -xdev -perm -4000 -type f 2>/dev/null; true');
      assert.match(setuid.stdout, /\/su$/m, 'the image ships setuid-root su, so the attempt is real');
      // su waits for a password on a pipe that stays open for a second: long enough to read its ids.
      const probe = await ctx.task.sh(`sleep 1 | su root -c 'id -u > /tmp/su-ran' 2>/dev/null & pid=$!
for i in $(seq 1 100); do [ "$(cat /proc/$pid/comm 2>/dev/null)" = su ] && break; sleep 0.02; done
echo "comm $(cat /proc/$pid/comm)"; grep -E '^(Uid|Gid|NoNewPrivs):' /proc/$pid/status; wait $pid; echo "exit $?"; [ -e /tmp/su-ran ] && echo ran; true`);
      assert.match(probe.stdout, /^comm su$/m, probe.stderr);
      assert.match(probe.stdout, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m, 'real, effective, saved and fs uid stay 1000');
      assert.match(probe.stdout, /^Gid:\s+1000\s+1000\s+1000\s+1000$/m);
      assert.match(probe.stdout, /^NoNewPrivs:\s+1$/m);
      assert.doesNotMatch(probe.stdout, /^exit 0$/m, 'su must fail');
      assert.doesNotMatch(probe.stdout, /^ran$/m, 'nothing ran as root');
    },
  },
  {
    id: 'kernel.no-root',
    category: 'kernel',
    title: "no process in the box runs as root or in root's group, and root's files stay closed",
    attack: 'A command entering the box as uid 0 would own every root-owned file in the container and every host file a mount exposes.',
    async run(ctx) {
      const ids = await ctx.task.sh(`for p in /proc/[0-9]*; do [ -r "$p/status" ] && grep -H -E '^(Uid|Gid):' "$p/status"; done; grep -H '^Groups:' /proc/self/status`);
      const lines = ids.stdout.split('\n').filter(Boolean);
      assert.ok(lines.length >= 7, ids.stdout);
      const rooted = lines.filter((line) => (/:(Uid|Gid):/.test(line) ? !/:\s+1000\s+1000\s+1000\s+1000$/.test(line) : /\b0\b/.test(line.split('Groups:')[1] ?? '')));
      assert.deepEqual(rooted, [], 'every id of every process is 1000, no supplementary group 0');
      const closed = await ctx.task.sh(`${WRITES}cat /etc/shadow >/dev/null 2>&1 || echo "refused /etc/shadow"; a /etc/passwd; ls /root >/dev/null 2>&1 || echo "refused /root"`);
      assert.deepEqual(closed.stdout.trim().split('\n'), ['refused /etc/shadow', 'refused /etc/passwd', 'refused /root']);
    },
  },
  {
    id: 'kernel.mount-refused',
    category: 'kernel',
    title: 'mount(2) of tmpfs, proc and a bind, umount of /tmp, chroot and pivot_root are refused (EPERM), and the setuid mount tool gets no further',
    attack: "Mounting would let the box lay its own files over the container's, unmount what hides the host's, or mount a fresh proc without the masks.",
    async run(ctx) {
      const before = (await mounts(ctx.task)).length;
      const answers = await syscalls(ctx.task, [
        { label: 'tmpfs', call: 'mount', args: ['"none"', '"/tmp"', '"tmpfs"', '0', '0'] },
        { label: 'proc', call: 'mount', args: ['"proc"', '"/tmp"', '"proc"', '0', '0'] },
        { label: 'bind', call: 'mount', args: ['"/workspace"', '"/tmp"', '0', '4096', '0'] },
        { label: 'umount', call: 'umount2', args: ['"/tmp"', '2'] },
        { label: 'chroot', call: 'chroot', args: ['"/tmp"'] },
        { label: 'pivot', call: 'pivot_root', args: ['"/tmp"', '"/tmp"'] },
      ]);
      assertRefused(answers, EPERM, 'mount calls');
      const tool = await ctx.task.sh('mkdir -p /tmp/m && mount -t tmpfs none /tmp/m 2>&1; echo "exit $?"');
      assert.match(tool.stdout, /^exit 32$/m, tool.stdout);
      assert.equal((await mounts(ctx.task)).length, before, 'the mount table is unchanged');
    },
  },
  {
    id: 'kernel.namespaces-refused',
    category: 'kernel',
    title: 'unshare(2) of user, mount, network, pid and cgroup namespaces and setns(2) into init\'s are refused, and unshare -r fails',
    attack: 'A new user namespace gives a full capability set inside it, the first step of most container breakouts (CVE-2022-0492 mounted cgroupfs from one).',
    source: 'CVE-2022-0492',
    async run(ctx) {
      const answers = await syscalls(ctx.task, [
        { label: 'user', call: 'unshare', args: ['0x10000000'] },
        { label: 'mnt', call: 'unshare', args: ['0x00020000'] },
        { label: 'net', call: 'unshare', args: ['0x40000000'] },
        { label: 'pid', call: 'unshare', args: ['0x20000000'] },
        { label: 'cgroup', call: 'unshare', args: ['0x02000000'] },
        { label: 'setns-net', call: 'setns', args: ['fileno($net)', '0'] },
        { label: 'setns-mnt', call: 'setns', args: ['fileno($mnt)', '0'] },
      ], `open(my $net, '<', '/proc/1/ns/net') or die "ns: $!"; open(my $mnt, '<', '/proc/1/ns/mnt') or die "ns: $!";\n`);
      assertRefused(answers, EPERM, 'namespace calls');
      const tool = await ctx.task.sh('unshare -r id -u 2>&1; echo "exit $?"; unshare -U -m -C true 2>&1; echo "exit $?"');
      assert.deepEqual(tool.stdout.trim().split('\n').filter((line) => line.startsWith('exit')), ['exit 1', 'exit 1'], tool.stdout);
    },
  },
  {
    id: 'kernel.seccomp-filters',
    category: 'kernel',
    title: 'the engine seccomp filter is on and keyctl, add_key, bpf, perf_event_open, userfaultfd, kexec_load and module loading are refused (EPERM)',
    attack: 'These calls are the usual entry points for kernel exploits (keyrings, eBPF, perf, userfaultfd races) or load code straight into the host kernel.',
    async run(ctx) {
      const status = (await ctx.task.exec(['cat', '/proc/self/status'])).stdout;
      assert.match(status, /^Seccomp:\s+2$/m, 'a seccomp filter is installed');
      const answers = await syscalls(ctx.task, [
        { label: 'keyctl', call: 'keyctl', args: ['0', '0', '0', '0', '0'] },
        { label: 'add_key', call: 'add_key', args: ['"user"', '"airlock"', '"x"', '1', '-2'] },
        { label: 'bpf', call: 'bpf', args: ['0', '$attr', '128'] },
        { label: 'perf', call: 'perf_event_open', args: ['$attr', '0', '-1', '-1', '0'] },
        { label: 'userfaultfd', call: 'userfaultfd', args: ['0'] },
        { label: 'kexec', call: 'kexec_load', args: ['0', '0', '0', '0'] },
        { label: 'init_module', call: 'init_module', args: ['$attr', '128', '""'] },
        { label: 'finit_module', call: 'finit_module', args: ['0', '""', '0'] },
        // A module that does not exist: even a wrongly allowed call could then unload nothing.
        { label: 'delete_module', call: 'delete_module', args: ['"airlock_no_such_module"', '0'] },
      ], 'my $attr = "\\0" x 128;\n');
      assertRefused(answers, EPERM, 'filtered calls');
    },
  },
  {
    id: 'kernel.open-by-handle-refused',
    category: 'kernel',
    title: "open_by_handle_at(2) with a handle to the host file system's root inode, through the host-backed /etc/hosts mount, is refused (EPERM)",
    attack: "Opening a file by handle on a host-backed mount walks the host's whole file system from its root inode, as the 2014 Shocker exploit did.",
    source: 'Shocker (2014): open_by_handle_at container breakout',
    async run(ctx) {
      const answers = await syscalls(ctx.task, [
        { label: 'name_to_handle', call: 'name_to_handle_at', args: ['-100', '"/etc/hosts"', '$buffer', '$mountId', '0'] },
        // struct file_handle { handle_bytes = 8, handle_type = 1 (ext4 ino32), inode 2 = the root }.
        { label: 'open_by_handle', call: 'open_by_handle_at', args: ['fileno($hosts)', '$root', '0'] },
      ], `open(my $hosts, '<', '/etc/hosts') or die "hosts: $!"; my $root = pack('LlLL', 8, 1, 2, 0); my $buffer = pack('Ll', 120, 0) . ("\\0" x 120); my $mountId = "\\0" x 8;\n`);
      // name_to_handle_at is allowed on some engines (it only names a file): the open is what must fail.
      assert.deepEqual(answers.get('open_by_handle'), [-1, EPERM]);
      const hosts = (await mounts(ctx.task)).find((mount) => mount.point === '/etc/hosts');
      assert.ok(hosts && !VIRTUAL_FS.has(hosts.type), 'the probe went through a mount backed by a host file system');
    },
  },
  {
    id: 'kernel.host-state-calls-refused',
    category: 'kernel',
    title: 'sethostname, settimeofday, clock_settime, reboot, swapon, acct, iopl and ioperm are refused (EPERM) and the box is still "airlock" on the host\'s clock',
    attack: "Changing the clock, rebooting, swapping to a box file or reaching I/O ports would act on the host's kernel, not the container.",
    async run(ctx) {
      // Each call is one that would do no harm were it wrongly allowed: the clock is set to what it
      // already is (or not at all), reboot asks only to turn Ctrl-Alt-Del off, the files do not exist.
      const answers = await syscalls(ctx.task, [
        { label: 'sethostname', call: 'sethostname', args: ['"evil"', '4'] },
        { label: 'settimeofday', call: 'settimeofday', args: ['0', '0'] },
        { label: 'clock_settime', call: 'clock_settime', args: ['0', '$now'] },
        { label: 'reboot', call: 'reboot', args: ['0xfee1dead', '672274793', '0', '0'] },
        { label: 'swapon', call: 'swapon', args: ['"/tmp/no-such-swap"', '0'] },
        { label: 'acct', call: 'acct', args: ['"/tmp/no-such-acct"'] },
        { label: 'iopl', call: 'iopl', args: ['3'] },
        { label: 'ioperm', call: 'ioperm', args: ['0x80', '1', '1'] },
      ], 'my $now = pack("qq", time(), 0);\n');
      assertRefused(answers, EPERM, 'host-wide calls');
      const after = await ctx.task.sh('hostname; date +%s');
      const [hostname, seconds] = after.stdout.trim().split('\n');
      assert.equal(hostname, 'airlock');
      assert.ok(Math.abs(Number(seconds) - Date.now() / 1000) < 60, 'the clock was not set to 0');
    },
  },
  {
    id: 'kernel.core-pattern-readonly',
    category: 'kernel',
    title: 'core_pattern, modprobe, binfmt_misc and drop_caches cannot be written, the host keeps its values, and core dumps stay off',
    attack: "A core_pattern or modprobe path of the box's choosing, or a binfmt_misc handler, makes the host kernel run a box program as host root.",
    async run(ctx) {
      const hostPattern = readHost('/proc/sys/kernel/core_pattern');
      const hostModprobe = readHost('/proc/sys/kernel/modprobe');
      // The box writes back the values it reads: a write that got through would show in the exit
      // code and change nothing on the host. The binfmt rule matches only files ending in .airlock-box.
      const writes = await ctx.task.sh(`${WRITES}w /proc/sys/kernel/core_pattern "$(cat /proc/sys/kernel/core_pattern)" core_pattern
w /proc/sys/kernel/modprobe "$(cat /proc/sys/kernel/modprobe)" modprobe
w /proc/sys/fs/binfmt_misc/register ':airlock-box:E::airlock-box::/workspace/evil:' binfmt_misc
w /proc/sys/vm/drop_caches 1 drop_caches
if ulimit -c unlimited 2>/dev/null; then echo "wrote core-limit"; else echo "refused core-limit"; fi; echo "core-hard $(ulimit -Hc)"`);
      assert.deepEqual(writes.stdout.trim().split('\n'), ['refused core_pattern', 'refused modprobe', 'refused binfmt_misc', 'refused drop_caches', 'refused core-limit', 'core-hard 0']);
      const sys = (await mounts(ctx.task)).find((mount) => mount.point === '/proc/sys');
      assert.match(sys?.options ?? '', /^ro,/, '/proc/sys is mounted read-only');
      if (hostPattern !== undefined) assert.equal(readHost('/proc/sys/kernel/core_pattern'), hostPattern, "the host's core_pattern is unchanged");
      if (hostModprobe !== undefined) assert.equal(readHost('/proc/sys/kernel/modprobe'), hostModprobe, "the host's modprobe path is unchanged");
      assert.equal(fs.existsSync('/proc/sys/fs/binfmt_misc/airlock-box'), false, 'no binfmt handler was registered on the host');
    },
  },
  {
    id: 'kernel.proc-masked',
    category: 'kernel',
    title: '/proc/kcore, keys, timer_list, sched_debug and sysrq-trigger are masked, and kallsyms shows no kernel address',
    attack: "Kernel memory and symbol addresses defeat KASLR for a kernel exploit, and sysrq-trigger would crash or reboot the host.",
    async run(ctx) {
      // sysrq "h" only prints help to the kernel log: the attempt is real, a wrong success harmless.
      const probe = await ctx.task.sh(`${WRITES}for f in kcore keys timer_list sched_debug; do n=$(head -c 4096 /proc/$f 2>/dev/null | wc -c); echo "$f $n"; done
w /proc/sysrq-trigger h sysrq
echo "kallsyms-lines $(wc -l < /proc/kallsyms)"; echo "kallsyms-addressed $(grep -vc '^0000000000000000 ' /proc/kallsyms)"
echo "acpi $(ls -A /proc/acpi 2>/dev/null | wc -l)"`);
      assert.deepEqual(probe.stdout.trim().split('\n').filter((line) => !line.startsWith('kallsyms-lines')), ['kcore 0', 'keys 0', 'timer_list 0', 'sched_debug 0', 'refused sysrq', 'kallsyms-addressed 0', 'acpi 0']);
      assert.ok(Number(/kallsyms-lines (\d+)/.exec(probe.stdout)?.[1]) > 1000, 'kallsyms was read, and every address in it is zero');
    },
  },
  {
    id: 'kernel.sys-and-cgroups-readonly',
    category: 'kernel',
    title: '/sys and the cgroup tree are read-only: uevent_helper, release_agent, notify_on_release and new cgroups cannot be written, and cgroupfs cannot be mounted',
    attack: "A writable release_agent or uevent_helper names a program the host kernel runs as root when the cgroup empties or a device appears.",
    source: 'CVE-2022-0492',
    async run(ctx) {
      const all = await mounts(ctx.task);
      const sys = all.find((mount) => mount.point === '/sys');
      assert.match(sys?.options ?? '', /^ro,/, '/sys is read-only');
      const cgroups = all.filter((mount) => mount.point.startsWith('/sys/fs/cgroup') && (mount.type === 'cgroup' || mount.type === 'cgroup2'));
      assert.ok(cgroups.length > 0, 'the cgroup tree is there to attack');
      assert.deepEqual(cgroups.filter((mount) => !/^ro,/.test(mount.options)).map((mount) => mount.point), [], 'every cgroup mount is read-only');
      // Each write puts back the value already there, so one that got through changes nothing on the host.
      const writes = await ctx.task.sh(`${WRITES}w /sys/kernel/uevent_helper "$(cat /sys/kernel/uevent_helper 2>/dev/null)" uevent_helper
for f in $(find /sys/fs/cgroup -maxdepth 2 \\( -name release_agent -o -name notify_on_release -o -name cgroup.subtree_control -o -name cgroup.procs \\) 2>/dev/null); do w "$f" "$(head -n 1 "$f")"; done
for d in $(find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d) /sys/fs/cgroup; do mkdir "$d/airlock-evil" 2>/dev/null && { echo "made $d/airlock-evil"; rmdir "$d/airlock-evil"; }; done; true`);
      assert.doesNotMatch(writes.stdout, /^(wrote|made) /m, writes.stdout);
      assert.match(writes.stdout, /^refused uevent_helper$/m);
      assert.ok(writes.stdout.split('\n').filter((line) => /^refused \/sys\/fs\/cgroup\//.test(line)).length >= 2, `the cgroup control files were tried: ${writes.stdout}`);
      const mount = await syscalls(ctx.task, [
        { label: 'cgroup1', call: 'mount', args: ['"cgroup"', '"/tmp"', '"cgroup"', '0', '"memory"'] },
        { label: 'cgroup2', call: 'mount', args: ['"cgroup2"', '"/tmp"', '"cgroup2"', '0', '0'] },
      ]);
      assertRefused(mount, EPERM, 'cgroupfs mounts');
    },
  },
  {
    id: 'kernel.no-host-devices',
    category: 'kernel',
    title: "/dev holds only the engine's standard nodes: no block device anywhere, no /dev/mem, kmem, port or kmsg, and mknod is refused",
    attack: "A block device node is the host's disk, readable and writable around every file permission; /dev/mem is its memory.",
    async run(ctx) {
      const dev = await ctx.task.sh('ls -A /dev; echo ---; find / \\( -path /proc -o -path /sys \\) -prune -o -type b -print 2>/dev/null; echo ---; for f in mem kmem port kmsg sda vda nvme0n1 dm-0 loop0 fuse net/tun kvm; do [ -e /dev/$f ] && echo "present $f"; done; echo x > /dev/kmsg 2>/dev/null && echo "kmsg written"; true');
      const [names, blocks, present] = dev.stdout.split('---\n');
      assert.deepEqual(names.trim().split('\n').filter((name) => !STANDARD_DEV.includes(name)), [], 'no device beyond the standard set');
      assert.equal(blocks.trim(), '', 'no block device node anywhere');
      assert.equal(present.trim(), '', 'no host device, and /dev/kmsg is not writable');
      const answers = await syscalls(ctx.task, [
        { label: 'block', call: 'mknodat', args: ['-100', '"/tmp/sda"', '24960', '2048'] },
        { label: 'char', call: 'mknodat', args: ['-100', '"/tmp/mem"', '8576', '257'] },
      ]);
      assertRefused(answers, EPERM, 'mknod');
    },
  },
  {
    id: 'kernel.init-binary-readonly',
    category: 'kernel',
    title: "the engine's init binary, bind-mounted from the host, cannot be opened for writing through /proc/1/exe or its path",
    attack: 'Overwriting a host binary that the engine runs into every container, through /proc/PID/exe, is how CVE-2019-5736 replaced runc on the host.',
    source: 'CVE-2019-5736',
    async run(ctx) {
      const init = (await mounts(ctx.task)).find((mount) => /\/docker-init$/.test(mount.point));
      assert.ok(init, 'the engine bind-mounts its init into the box');
      assert.match(init.options, /^ro,/, 'read-only mount');
      const hostCopy = init.root !== '/' && fs.existsSync(init.root) ? fs.readFileSync(init.root) : undefined;
      const writes = await ctx.task.sh(`${WRITES}perl -e 'for my $f ("/proc/1/exe", "${init.point}") { if (open(my $h, "+<", $f)) { print "opened $f\\n" } else { print "refused $f\\n" } }'; a ${q(init.point)} append`);
      assert.deepEqual(writes.stdout.trim().split('\n'), ['refused /proc/1/exe', `refused ${init.point}`, 'refused append']);
      if (hostCopy) assert.ok(fs.readFileSync(init.root).equals(hostCopy), "the host's init binary is byte for byte unchanged");
    },
  },
  {
    id: 'kernel.host-processes-unreachable',
    category: 'kernel',
    title: "the host's processes (this test runner, the engine daemon) cannot be signalled or traced by their PIDs (ESRCH)",
    attack: "Signalling or ptrace-attaching to a host process would stop the engine or take over a host program running as the developer or root.",
    async run(ctx) {
      const targets = [process.pid];
      const daemon = Number(readHost('/var/run/docker.pid') ?? readHost('/run/docker.pid') ?? NaN);
      if (Number.isInteger(daemon) && daemon > 0) targets.push(daemon);
      const inBox = new Set((await processes(ctx.task)).map((entry) => entry.pid));
      assert.deepEqual(targets.filter((pid) => inBox.has(pid)), [], 'the host PIDs are not also box PIDs, so the probe is about the host');
      // Signal 0 and PTRACE_SEIZE: they tell whether the process is reachable without stopping it,
      // so a wrong success could not take down the engine or this test.
      const answers = await syscalls(ctx.task, targets.flatMap((pid) => [
        { label: `kill-${pid}`, call: 'kill' as const, args: [String(pid), '0'] },
        { label: `ptrace-${pid}`, call: 'ptrace' as const, args: [String(PTRACE_SEIZE), String(pid), '0', '0'] },
      ]));
      assertRefused(answers, ESRCH, 'host PIDs');
      assert.ok(fs.existsSync(`/proc/${process.pid}`), 'this process still runs');
      if (targets[1]) assert.ok(fs.existsSync(`/proc/${targets[1]}`), 'the engine daemon still runs');
    },
  },
  {
    id: 'kernel.private-pid-namespace',
    category: 'kernel',
    title: "the box sees only its own processes: PID 1 is the engine's init running the task's sleep, and nothing of the host is listed",
    attack: "Seeing host processes exposes their command lines and environments (tokens on argv) and makes them targets for signals.",
    async run(ctx) {
      const list = await processes(ctx.task);
      assert.match(list.find((entry) => entry.pid === 1)?.cmdline ?? '', /^\/sbin\/docker-init -- sleep \d+$/);
      const foreign = list.filter((entry) => !/^(\/sbin\/docker-init -- sleep \d+|sleep \d+|node -e |sh -c for p in|tr )/.test(entry.cmdline) && entry.cmdline !== '');
      assert.deepEqual(foreign, [], 'only init, the main sleep, the runner and this probe');
      assert.ok(list.length < 20, `${list.length} processes: ${summary(list)}`);
      const hostCount = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name)).length;
      assert.ok(hostCount > list.length, 'the host has more processes than the box sees');
      assert.deepEqual(list.filter((entry) => /dockerd|containerd|--test|airlock-state/.test(entry.cmdline)), []);
    },
  },
  {
    id: 'kernel.own-namespaces',
    category: 'kernel',
    title: "the box's network, PID, mount, IPC and UTS namespaces are not the host's",
    attack: "Sharing a host namespace (network, PID, IPC) would hand the box the host's interfaces, processes or shared memory directly.",
    async run(ctx) {
      const box = (await ctx.task.sh(`for n in ${NAMESPACES.join(' ')}; do echo "$n $(readlink /proc/self/ns/$n)"; done`)).stdout.trim().split('\n');
      const shared = box.filter((line) => {
        const [name, link] = line.split(' ');
        return fs.readlinkSync(`/proc/self/ns/${name}`) === link;
      });
      assert.equal(box.length, NAMESPACES.length, box.join('\n'));
      assert.deepEqual(shared, [], 'no namespace is shared with the host');
    },
  },
  {
    id: 'kernel.no-host-bind-mounts',
    category: 'kernel',
    title: "every mount from a host file system is the engine's per-container files, its init (read-only) or this task's own volumes; no host folder is mounted",
    attack: "A bind mount of a host folder (the workspace, HOME, the state folder, /var/run) would let the box read or plant host files directly.",
    async run(ctx) {
      const { containerId, id, snapshot } = ctx.task.record;
      const problems: string[] = [];
      const hostPaths = [ctx.task.workspace, ctx.stateRoot, os.homedir(), ctx.hostHome, ctx.outside, '/var/run', '/run/docker'].filter((hostPath) => hostPath.length > 1);
      for (const mount of await mounts(ctx.task)) {
        for (const hostPath of hostPaths) if (mount.root.startsWith(hostPath) || mount.superOptions.includes(hostPath)) problems.push(`${mount.point} comes from ${hostPath}`);
        if (mount.point === '/workspace') {
          const own = snapshot.baseVolume ? mount.type === 'overlay' && mount.superOptions.includes(`/volumes/${snapshot.baseVolume}/_data`) && mount.superOptions.includes(`/volumes/airlock-layer-${id}/_data/upper`) : mount.root.includes('/volumes/');
          if (!own) problems.push(`/workspace is not this task's own volume: ${mount.root} ${mount.superOptions}`);
          continue;
        }
        if (VIRTUAL_FS.has(mount.type)) continue;
        const engineFile = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'].includes(mount.point) && mount.root.includes(`/containers/${containerId}/`);
        const init = /\/docker-init$/.test(mount.point) && /^ro,/.test(mount.options);
        const layer = (mount.point === '/.airlock/base' && mount.root.includes(`/volumes/${snapshot.baseVolume}/`)) || (mount.point === '/.airlock/layer' && mount.root.includes(`/volumes/airlock-layer-${id}/`));
        if (layer && !/^ro,/.test(mount.options)) problems.push(`${mount.point} is writable`);
        if (!engineFile && !init && !layer) problems.push(`${mount.point} is a ${mount.type} mount of ${mount.root}`);
      }
      assert.deepEqual(problems, []);
      const engineFiles = await ctx.task.sh(`${WRITES}for f in /etc/hosts /etc/hostname /etc/resolv.conf; do a "$f"; done`);
      assert.deepEqual(engineFiles.stdout.trim().split('\n'), ['refused /etc/hosts', 'refused /etc/hostname', 'refused /etc/resolv.conf'], "the engine's per-container files on the host disk are not writable");
    },
  },
  {
    id: 'kernel.workspace-is-a-copy',
    category: 'kernel',
    title: "writing, deleting and chmodding in /workspace changes nothing in the host's workspace",
    attack: 'A workspace shared with the host would let the box change host files (hooks, scripts) without any review.',
    async run(ctx) {
      const before = hostTree(ctx.task.workspace);
      const write = await ctx.task.sh('echo box-wrote > planted.sh && chmod +x planted.sh && echo "// box" >> src/app.js && rm docs/guide.md && chmod 777 README.md && mkdir -p .vscode && echo "{}" > .vscode/tasks.json && cat src/app.js');
      assert.equal(write.exitCode, 0, write.stderr);
      assert.equal(write.stdout, 'module.exports = 1;\n// box\n', 'the box did change its own copy');
      assert.deepEqual(hostTree(ctx.task.workspace), before, 'the host workspace is byte for byte and mode for mode as it was');
      assert.equal(fs.readFileSync(`${ctx.task.workspace}/src/app.js`, 'utf8'), WORKSPACE_FILES['src/app.js']);
    },
  },

  // ----- secrets -----
  {
    id: 'secrets.host-environment',
    category: 'secrets',
    title: "host variables (cloud keys, tokens, DOCKER_HOST, SSH_AUTH_SOCK) are in no process's environment in the box, init's included",
    attack: "A token inherited from the developer's shell would let box code act as the developer on GitHub, npm, a cloud account or the engine.",
    async run(ctx) {
      const names = [...Object.keys(HOST_ENV_SECRETS), ...Object.keys(HOST_ENV_HANDLES)];
      const values = [...Object.values(HOST_ENV_SECRETS), ...Object.values(HOST_ENV_HANDLES)];
      const env = await ctx.task.exec(['env']);
      const environs = await ctx.task.sh('for p in /proc/[0-9]*; do [ -r "$p/environ" ] && { tr "\\0" "\\n" < "$p/environ"; echo "== ${p#/proc/}"; }; done; true');
      assert.ok((environs.stdout.match(/^== /gm) ?? []).length >= 3, 'init, the main process and the runner were read');
      for (const text of [env.stdout, environs.stdout]) {
        assert.deepEqual(names.filter((name) => new RegExp(`^${name}=`, 'm').test(text)), [], 'no host variable name');
        assert.deepEqual(values.filter((value) => text.includes(value)), [], 'no host variable value');
      }
      assert.match(env.stdout, new RegExp(`^${PASSED_THROUGH.name}=${PASSED_THROUGH.value}$`, 'm'), 'the one listed variable did get in: the check reads the real environment');
    },
  },
  {
    id: 'secrets.environment-allowlist',
    category: 'secrets',
    title: "the box's environment is exactly the image's, Airlock's own and the listed variables: nothing else from the host",
    attack: 'Any unlisted host variable that slips in (a CI token, a proxy with credentials) is a secret the box can send on.',
    async run(ctx) {
      const image = (await ctx.engine.docker.getImage(ctx.task.record.image).inspect()) as { Config?: { Env?: string[] } };
      const allowed = new Set([...(image.Config?.Env ?? []).map((entry) => entry.split('=')[0]), 'HOSTNAME', 'HOME', 'LANG', 'AIRLOCK_TASK', 'AIRLOCK_CMD', PASSED_THROUGH.name]);
      const names = (text: string, separator: string) => text.split(separator).filter(Boolean).map((entry) => entry.split('=')[0]);
      const command = names((await ctx.task.exec(['env', '-0'])).stdout, '\0');
      const init = names((await ctx.task.exec(['cat', '/proc/1/environ'])).stdout, '\0');
      assert.deepEqual(command.filter((name) => !allowed.has(name)), [], `a command's environment: ${command.join(' ')}`);
      assert.deepEqual(init.filter((name) => !allowed.has(name)), [], `the container's environment: ${init.join(' ')}`);
      assert.equal(ctx.task.record.env.HOME, undefined, 'HOME is Airlock\'s, never the host\'s');
      assert.deepEqual(Object.keys(ctx.task.record.env), [PASSED_THROUGH.name]);
    },
  },
  {
    id: 'secrets.secret-passthrough-refused',
    category: 'secrets',
    title: 'a task asking to pass GITHUB_TOKEN through, or to set AWS_SECRET_ACCESS_KEY, is refused at start with no container made',
    attack: "A repository policy or agent that lists the developer's token for passthrough would carry it into the box by configuration alone.",
    async run(ctx) {
      const workspace = ctx.task.workspace;
      const refused = (name: string) => (error: Error & { code?: string }) => error.code === 'env.secretName' && error.message.includes(name);
      await assert.rejects(ctx.service.start({ workspace, envPassthrough: ['GITHUB_TOKEN'] }), refused('GITHUB_TOKEN'));
      await assert.rejects(ctx.service.start({ workspace, env: { AWS_SECRET_ACCESS_KEY: HOST_ENV_SECRETS.AWS_SECRET_ACCESS_KEY } }), refused('AWS_SECRET_ACCESS_KEY'));
      const containers = await ctx.engine.docker.listContainers({ all: true, filters: { label: [`airlock.workspace=${workspace}`] } });
      assert.deepEqual(containers.map((container) => container.Labels['airlock.task']), [ctx.task.record.id], "only the attacked task's container exists for this workspace");
    },
  },
  {
    id: 'secrets.secret-files-left-out',
    category: 'secrets',
    title: '.env, .env.local, id_rsa, *.pem, .aws/credentials, .netrc, .git-credentials, .docker/config.json, .kube/config, .ssh keys, tfvars and secrets.yaml are not in the box, tracked or not',
    attack: "Credential files in the workspace are the first thing a prompt-injected agent reads and sends out.",
    async run(ctx) {
      const rels = Object.keys(SECRET_FILES);
      const probe = await ctx.task.sh(`for f in ${rels.map(q).join(' ')}; do if [ -e "$f" ] || [ -L "$f" ]; then echo "present $f"; fi; done; for f in README.md src/app.js; do [ -f "$f" ] && echo "copied $f"; done; true`);
      assert.deepEqual(probe.stdout.trim().split('\n'), ['copied README.md', 'copied src/app.js'], 'every secret file is absent while ordinary files are there');
      const excluded = new Set(ctx.task.record.snapshot.excluded);
      assert.deepEqual(rels.filter((rel) => !excluded.has(rel)), [], 'the host recorded every one as left out');
      for (const rel of TRACKED_SECRETS) {
        const show = await ctx.task.exec(['git', 'show', `HEAD:${rel}`]);
        assert.notEqual(show.exitCode, 0, `${rel} is not in the box's HEAD either`);
      }
    },
  },
  {
    id: 'secrets.credential-config-by-content',
    category: 'secrets',
    title: 'an .npmrc holding an auth token is left out while a clean .npmrc in the same workspace is copied',
    attack: 'A registry token in .npmrc would let box code publish packages as the developer.',
    async run(ctx) {
      const probe = await ctx.task.sh(`[ -e ${q(TOKEN_NPMRC.path)} ] && echo present; cat sub/.npmrc`);
      assert.equal(probe.stdout, WORKSPACE_FILES['sub/.npmrc'], 'the token file is absent and the clean one is there, byte for byte');
      assert.ok(ctx.task.record.snapshot.excluded.includes(TOKEN_NPMRC.path));
    },
  },
  {
    id: 'secrets.git-history-secret',
    category: 'secrets',
    title: "a secret committed and then deleted is not in the box's git: not by log -p, not by its blob id, not among all objects",
    attack: '`git log -p` in the box would print a key the developer deleted but never rotated.',
    async run(ctx) {
      const log = await ctx.task.exec(['git', 'log', '--all', '-p', '--full-history']);
      assert.equal(log.exitCode, 0, log.stderr);
      assert.ok(!log.stdout.includes(CANARY), 'no canary anywhere in the history');
      assert.equal(Number((await ctx.task.exec(['git', 'rev-list', '--count', 'HEAD'])).stdout.trim()), ctx.commits, 'the history is there, only without the secret');
      const byId = await ctx.task.exec(['git', 'cat-file', '-e', ctx.historyBlob]);
      assert.notEqual(byId.exitCode, 0, 'the blob is not in the object store');
      const all = await ctx.task.exec(['git', 'cat-file', '--batch-all-objects', '--batch-check=%(objectname)']);
      assert.equal(all.exitCode, 0, all.stderr);
      assert.ok(!all.stdout.split('\n').includes(ctx.historyBlob));
      const older = await ctx.task.exec(['git', 'show', `HEAD~1:${HISTORY_SECRET.path}`]);
      assert.notEqual(older.exitCode, 0);
    },
  },
  {
    id: 'secrets.git-config-credentials',
    category: 'secrets',
    title: "the host repository's remote URL token, http.extraheader, credential helper and include path are not in the box's .git",
    attack: "A token in .git/config (or a file it includes) would let box code push to the developer's repositories.",
    async run(ctx) {
      const config = await ctx.task.sh('cat .git/config; echo ---; git config --list --show-origin; echo ---; git remote -v; echo ---; grep -rlaF box-canary- .git; true');
      assert.ok(!config.stdout.includes(CANARY), config.stdout);
      assert.doesNotMatch(config.stdout, /extraheader|credential|include|example\.invalid/i, config.stdout);
      assert.ok(!config.stdout.includes(ctx.outside), 'no path to the host folder beside the workspace');
    },
  },
  {
    id: 'secrets.symlinks-out-of-workspace',
    category: 'secrets',
    title: 'symlinks to a host key file and a host folder outside the workspace, and innocently named links to left-out secrets inside it, lead nowhere in the box',
    attack: 'A repository shipping `key -> ~/.ssh/id_rsa` or `notes.txt -> .env` would have the copy carry the file it points at into the box.',
    async run(ctx) {
      const rels = Object.keys(ctx.links);
      assert.ok(rels.length >= 4);
      const probe = await ctx.task.sh(`for l in ${rels.map(q).join(' ')}; do printf '%s ' "$l"; if [ -L "$l" ]; then printf 'link %s ' "$(readlink "$l")"; fi; cat "$l" >/dev/null 2>&1 && echo readable || echo unreadable; ls "$l/" >/dev/null 2>&1 && echo "listable $l"; done; [ -e ${q(ctx.outside)} ] && echo "outside present"; true`);
      const expected = rels.map((rel) => `${rel} link ${ctx.links[rel]} unreadable`);
      assert.deepEqual(probe.stdout.trim().split('\n'), expected, 'each link is kept as a link, and what it names does not exist in the box');
    },
  },
  {
    id: 'secrets.relative-symlink-out',
    category: 'secrets',
    title: 'a workspace with a relative symlink that climbs out of it (../outside/id_rsa) never gives the box the file: the start is refused whole, leaving nothing, or the link leads nowhere',
    attack: 'A link the copy followed, or unpacked so that it resolved outside /workspace, would carry a host file into the box or let an unpack write outside it.',
    timeoutMs: 90_000,
    async run(ctx, t) {
      const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-sec-box-climb-'));
      try {
        const workspace = path.join(parent, 'ws');
        fs.mkdirSync(path.join(parent, 'outside'));
        fs.writeFileSync(path.join(parent, 'outside', 'id_rsa'), OUTSIDE_FILES.id_rsa);
        fs.mkdirSync(workspace);
        fs.writeFileSync(path.join(workspace, 'a.txt'), 'a\n');
        fs.symlinkSync('../outside/id_rsa', path.join(workspace, 'climb'));
        const volumes = async () => ((await ctx.engine.docker.listVolumes({ filters: { label: [`airlock.state=${ctx.stateRoot}`] } })).Volumes ?? []).map((volume) => volume.Name).sort();
        const before = await volumes();
        const task = await ctx.startTask(workspace).catch((error: Error) => error);
        if (task instanceof Error) {
          t.diagnostic(`the start was refused: ${task.message.split('\n')[0]}`);
          const containers = await ctx.engine.docker.listContainers({ all: true, filters: { label: [`airlock.workspace=${workspace}`] } });
          assert.equal(containers.length, 0, 'a refused start leaves no container');
          assert.deepEqual(await volumes(), before, 'and no volume');
          return;
        }
        try {
          const probe = await task.sh('readlink climb; cat climb 2>/dev/null || echo unreadable');
          assert.equal(probe.stdout, '../outside/id_rsa\nunreadable\n');
          assert.deepEqual(await sweep(task, [CANARY]), []);
        } finally {
          await ctx.service.stop(task.record.id).catch(() => undefined);
        }
      } finally {
        fs.rmSync(parent, { recursive: true, force: true });
      }
    },
  },
  {
    id: 'secrets.no-host-home',
    category: 'secrets',
    title: "the host's HOME is not in the box: HOME is an empty box-owned tmpfs with no .ssh, .docker, .config/gh, .gitconfig, .aws or .npmrc, and git has no global config",
    attack: "The developer's ~/.ssh, ~/.docker/config.json and ~/.config/gh are keys to every server, registry and repository they use.",
    async run(ctx) {
      const home = await ctx.task.sh(`echo "home $HOME"; stat -c 'owner %u %a' "$HOME"; for f in ${Object.keys(HOME_FILES).map((rel) => q(rel.split('/')[0])).join(' ')}; do [ -e "$HOME/$f" ] && echo "present $f"; done; for d in ${q(ctx.hostHome)} ${q(os.homedir())}; do [ -r "$d" ] && ls -A "$d" | head -3 | sed "s|^|host-home $d: |"; done; git config --global --list 2>&1 | head -3; true`);
      const lines = home.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 2), ['home /home/airlock', 'owner 1000 700']);
      assert.deepEqual(lines.filter((line) => /^(present|host-home) /.test(line)), [], 'no host credential folder and no host HOME in the box');
      assert.ok(!home.stdout.includes(CANARY));
      assert.ok((await mounts(ctx.task)).some((mount) => mount.point === '/home/airlock' && mount.type === 'tmpfs'), "HOME is the box's own tmpfs");
    },
  },
  {
    id: 'secrets.no-canary-anywhere',
    category: 'secrets',
    title: "no file anywhere in the box's file system (workspace, .git, the read-only base, /tmp, HOME, /etc, /usr) holds any of the host's secrets",
    attack: 'A secret copied in by any route (snapshot, history, config, link, environment file) is one the box can send out.',
    async run(ctx) {
      const found = await sweep(ctx.task, [CANARY]);
      assert.deepEqual(found, []);
      // The sweep does find what is there: a file the box writes with the pattern in it.
      await ctx.task.sh(`printf '%s' ${q(`${CANARY}box-made`)} > /tmp/sweep-check`);
      assert.deepEqual(await sweep(ctx.task, [CANARY]), ['/tmp/sweep-check']);
      await ctx.task.exec(['rm', '/tmp/sweep-check']);
    },
  },

  // ----- resources -----
  {
    id: 'resources.fork-bomb',
    category: 'resources',
    title: 'a fork bomb stops at the pids limit: the host and the other task keep answering, and the task runs commands afterwards',
    attack: 'Unbounded forking would exhaust the host PID table and stop every process on the machine, other tasks included.',
    timeoutMs: 90_000,
    async run(ctx) {
      const bomb = ctx.task.sh('bomb() { bomb | bomb & }; bomb; sleep 60', { timeoutMs: 6000 });
      const hostLatencies: number[] = [];
      const otherLatencies: number[] = [];
      for (let round = 0; round < 6; round++) {
        let began = process.hrtime.bigint();
        assert.equal(spawnSync('true').status, 0);
        hostLatencies.push(Number(process.hrtime.bigint() - began) / 1e6);
        began = process.hrtime.bigint();
        assert.equal((await ctx.other.exec(['echo', 'pong'])).stdout, 'pong\n');
        otherLatencies.push(Number(process.hrtime.bigint() - began) / 1e6);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      const result = await bomb;
      assert.equal(result.exitCode, 124, 'the bomb ran until its timeout and was killed');
      assert.ok(Math.max(...hostLatencies) < 2000, `host spawn took ${Math.max(...hostLatencies).toFixed(0)} ms during the bomb`);
      assert.ok(Math.max(...otherLatencies) < 5000, `the other task took ${Math.max(...otherLatencies).toFixed(0)} ms to answer during the bomb`);
      const left = await processes(ctx.task);
      assert.ok(left.length < 20, `processes left: ${left.length}: ${summary(left)}`);
      assert.equal((await ctx.task.exec(['echo', 'still here'])).stdout, 'still here\n');
    },
  },
  {
    id: 'resources.memory-hog',
    category: 'resources',
    title: 'a memory hog is killed (137) at the memory limit while the task and the other task keep running',
    attack: 'Unbounded memory use would push the host into swap or its OOM killer, taking other tasks or the developer\'s editor with it.',
    timeoutMs: 90_000,
    async run(ctx) {
      // tail keeps every byte of a newline-free stream.
      const hog = await ctx.task.exec(['tail', '/dev/zero'], { timeoutMs: 45_000 });
      assert.equal(hog.exitCode, 137, `the hog ended with ${hog.exitCode}${hog.timedOut ? ' (timed out instead of being killed)' : ''}`);
      assert.equal((await ctx.task.exec(['echo', 'still here'])).stdout, 'still here\n');
      assert.equal((await ctx.other.exec(['echo', 'unaffected'])).stdout, 'unaffected\n');
      const limit = await ctx.task.sh('cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max');
      assert.equal(Number(limit.stdout.trim()), ctx.limits.memoryBytes, 'the limit that stopped it is the task\'s');
    },
  },
  {
    id: 'resources.scratch-space-full',
    category: 'resources',
    title: 'filling /tmp, HOME and /dev/shm ends in ENOSPC at their size limits, in memory-backed tmpfs rather than the host disk',
    attack: "Writing without bound into scratch space on the host's disk would fill it and stop the developer's machine.",
    async run(ctx) {
      const all = await mounts(ctx.task);
      for (const [point, limit] of [['/tmp', ctx.limits.tmpBytes], ['/home/airlock', ctx.limits.tmpBytes], ['/dev/shm', 64 * MiB]] as const) {
        const mount = all.find((entry) => entry.point === point);
        assert.equal(mount?.type, 'tmpfs', `${point} is a tmpfs`);
        // One at a time: together they would exceed the memory limit, which is a different case.
        const fill = await ctx.task.sh(`dd if=/dev/zero of=${point}/fill bs=1M count=${Math.ceil(limit / MiB) * 4} 2>&1; echo "exit $?"; stat -c 'size %s' ${point}/fill; rm -f ${point}/fill`, { timeoutMs: 60_000 });
        assert.match(fill.stdout, /No space left on device/, `${point}: ${fill.stdout}`);
        assert.match(fill.stdout, /^exit 1$/m);
        const size = Number(/^size (\d+)$/m.exec(fill.stdout)?.[1]);
        assert.ok(size > 0 && size <= limit, `${point} took ${size} bytes of at most ${limit}`);
      }
      assert.equal((await ctx.task.exec(['echo', 'still here'])).stdout, 'still here\n');
    },
  },
  {
    id: 'resources.output-flood',
    category: 'resources',
    title: 'a 200 MiB flood on stdout is delivered whole while the host process grows by less than 150 MiB',
    attack: 'Output the host buffered without bound would run the front end (VS Code, the CLI, the daemon) out of memory.',
    timeoutMs: 180_000,
    async run(ctx, t) {
      const total = 200 * MiB;
      (globalThis as { gc?: () => void }).gc?.();
      const base = hostBytes();
      const peak = { ...base };
      const sample = () => {
        const now = hostBytes();
        peak.rss = Math.max(peak.rss, now.rss);
        peak.held = Math.max(peak.held, now.held);
      };
      const sampler = setInterval(sample, 50);
      let received = 0;
      let result: BoxRun;
      try {
        result = await ctx.task.exec(['head', '-c', String(total), '/dev/zero'], { timeoutMs: 150_000, onStdout: (chunk) => (received += chunk.length) });
        sample();
      } finally {
        clearInterval(sampler);
      }
      t.diagnostic(`host growth: rss ${((peak.rss - base.rss) / MiB).toFixed(1)} MiB, held ${((peak.held - base.held) / MiB).toFixed(1)} MiB`);
      assert.equal(result.exitCode, 0);
      assert.equal(received, total, 'every byte arrived');
      assert.equal(result.bytesOut, total);
      assert.ok(peak.rss - base.rss < 150 * MiB, `rss grew by ${((peak.rss - base.rss) / MiB).toFixed(1)} MiB`);
      assert.ok(peak.held - base.held < 150 * MiB, `buffers grew by ${((peak.held - base.held) / MiB).toFixed(1)} MiB`);
    },
  },
  {
    id: 'resources.timeout-kills-tree',
    category: 'resources',
    title: "a command that never ends is killed at its timeout with its whole tree: nohup'd, disowned, double-forked and setsid'd children (both exec paths)",
    attack: 'Children that outlive a killed command would keep running unseen: burning CPU, holding memory, still changing files.',
    async run(ctx) {
      for (const [backend, base] of [['supervisor', 640], ['docker-exec', 650]] as const) {
        const started = Date.now();
        const script = `(nohup sleep ${base + 1} >/dev/null 2>&1 &); (sleep ${base + 2} >/dev/null 2>&1 & disown); setsid sleep ${base + 3} >/dev/null 2>&1 & sh -c 'sleep ${base + 4} & sleep ${base + 5}'`;
        const result = await ctx.task.sh(script, { timeoutMs: 1500, backend });
        assert.equal(result.backend, backend);
        assert.equal(result.exitCode, 124, `${backend}: exit ${result.exitCode}`);
        assert.ok(Date.now() - started < 15_000, `${backend}: the timeout ended the command promptly`);
        const left = sleepers(await processes(ctx.task), new RegExp(`^sleep ${Math.floor(base / 10)}\\d$`));
        await killLeftovers(ctx.task, left);
        assert.deepEqual(left, [], `${backend}: nothing of the tree survives`);
      }
    },
  },
  {
    id: 'resources.setsid-cleared-env-escape',
    category: 'resources',
    title: 'a child that calls setsid() and clears its environment, or takes another command\'s marker, is killed at the command\'s timeout too (both exec paths)',
    attack: 'A command whose child leaves the session and drops the AIRLOCK_CMD tag (or takes another command\'s) would outlive its timeout and keep working unseen until the task ends.',
    async run(ctx) {
      // A server an earlier command left running, itself out of its session and unmarked: it began
      // before the timed-out command, so that command's kill must leave it alone.
      const earlier = await ctx.task.sh('setsid env -i sleep 669 >/dev/null 2>&1 < /dev/null & echo planted');
      assert.equal(earlier.stdout, 'planted\n');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const survivors: string[] = [];
      for (const [backend, number] of [['supervisor', 661], ['docker-exec', 663]] as const) {
        // Two ways out: no marker at all, and a marker of a command that is not this one; the second
        // leaves a child of its own behind as well.
        const escape = `setsid env -i sleep ${number} >/dev/null 2>&1 & setsid env AIRLOCK_CMD=someone-else sh -c 'sleep ${number + 1} & sleep ${number + 1}' >/dev/null 2>&1 &`;
        const result = await ctx.task.sh(`${escape} sleep 300`, { timeoutMs: 1500, backend });
        assert.equal(result.exitCode, 124, `${backend}: exit ${result.exitCode}`);
        const left = sleepers(await processes(ctx.task), new RegExp(`^sleep (${number}|${number + 1})$`));
        await killLeftovers(ctx.task, left);
        survivors.push(...left.map((line) => `${backend}: ${line}`));
      }
      assert.deepEqual(survivors, [], 'no child survives the timeout');
      const kept = sleepers(await processes(ctx.task), /^sleep 669$/);
      await killLeftovers(ctx.task, kept);
      assert.deepEqual(kept, ['sleep 669'], 'what an earlier command left running is not this command\'s');
    },
  },
  {
    id: 'resources.escaped-process-dies-with-task',
    category: 'resources',
    title: 'a process that left its command (setsid, cleared environment) dies when the task stops: its host PID is gone and nothing of the task is left on the engine',
    attack: 'A process that survived its task would run on the host machine with nobody watching it and no TTL to end it.',
    timeoutMs: 90_000,
    async run(ctx, t) {
      const task = await ctx.startTask();
      const planted = await task.sh('setsid env -i sleep 671 >/dev/null 2>&1 < /dev/null & echo planted');
      assert.equal(planted.stdout, 'planted\n');
      assert.deepEqual(sleepers(await processes(task), /^sleep 671$/), ['sleep 671'], 'the escaped process runs after its command ended');
      const pids = await hostPids(ctx, task, /^sleep 671$/);
      assert.equal(pids.length, 1, 'the engine sees it');
      const visible = hostCmdline(pids[0]) === 'sleep 671';
      await ctx.service.stop(task.record.id);
      if (visible) assert.notEqual(hostCmdline(pids[0]), 'sleep 671', `host PID ${pids[0]} is still the escaped sleep`);
      else t.diagnostic('the engine runs elsewhere (its PIDs are not this host\'s): checked through the engine only');
      const filters = { label: [`airlock.task=${task.record.id}`] };
      assert.equal((await ctx.engine.docker.listContainers({ all: true, filters })).length, 0, 'no container left');
      assert.equal(((await ctx.engine.docker.listVolumes({ filters })).Volumes ?? []).length, 0, 'no volume left');
    },
  },
  {
    id: 'resources.cpu-quota',
    category: 'resources',
    title: 'three busy loops get no more CPU than the task\'s quota, measured by the task\'s own cgroup accounting',
    attack: "A box taking every core would starve the developer's editor, the engine and every other task.",
    async run(ctx) {
      const usage = 'if [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then cat /sys/fs/cgroup/cpuacct/cpuacct.usage; else echo $(( $(sed -n "s/^usage_usec //p" /sys/fs/cgroup/cpu.stat) * 1000 )); fi';
      const burn = await ctx.task.sh(`u0=$(${usage}); s=$(date +%s%N); for i in 1 2 3; do timeout 3 sh -c 'while :; do :; done' & done; wait; e=$(date +%s%N); u1=$(${usage}); echo "$((u1 - u0)) $((e - s))"`, { timeoutMs: 30_000 });
      const [cpu, wall] = burn.stdout.trim().split(' ').map(Number);
      const share = cpu / wall;
      assert.ok(share > 0.25, `the loops did run (${share.toFixed(2)} CPUs)`);
      assert.ok(share <= ctx.limits.cpus * 1.15, `${share.toFixed(2)} CPUs used with a quota of ${ctx.limits.cpus}`);
    },
  },
  {
    id: 'resources.limits-not-raisable',
    category: 'resources',
    title: "the box cannot raise its own limits: the pids and memory cgroup files refuse writes and keep the task's values; hard rlimits cannot be raised",
    attack: 'A box that could lift its own limits would make every other resource case moot.',
    async run(ctx) {
      const probe = await ctx.task.sh(`${WRITES}if [ -e /sys/fs/cgroup/pids/pids.max ]; then P=/sys/fs/cgroup/pids/pids.max; M=/sys/fs/cgroup/memory/memory.limit_in_bytes; else P=/sys/fs/cgroup/pids.max; M=/sys/fs/cgroup/memory.max; fi
w $P max pids.max; w $M 9223372036854771712 memory.max
echo "pids $(cat $P)"; echo "memory $(cat $M)"
prlimit --pid $$ --nofile=$(( $(ulimit -Hn) + 1 )) 2>/dev/null && echo "wrote nofile" || echo "refused nofile"
prlimit --pid $$ --core=unlimited 2>/dev/null && echo "wrote core" || echo "refused core"`);
      assert.deepEqual(probe.stdout.trim().split('\n'), ['refused pids.max', 'refused memory.max', `pids ${ctx.limits.pids}`, `memory ${ctx.limits.memoryBytes}`, 'refused nofile', 'refused core']);
    },
  },

  // ----- tasks: other tasks -----
  {
    id: 'tasks.no-other-task-files',
    category: 'tasks',
    title: "nothing of task B's workspace or of what B wrote at run time is anywhere in task A's file system, and none of B's volumes is mounted in A",
    attack: "A volume or folder shared between tasks would let one task's agent read (or poison) another project's code and secrets.",
    async run(ctx) {
      const needles = [OTHER_TASK.fileMarker, OTHER_TASK.runtimeMarker];
      // Control: B itself finds both, so the search would see them were they in A.
      const inOther = await ctx.other.sh(`grep -rlaF ${needles.map((needle) => `-e ${q(needle)}`).join(' ')} /workspace /tmp /dev/shm 2>/dev/null | sort; true`);
      assert.deepEqual(inOther.stdout.trim().split('\n'), [`/dev/shm/${OTHER_TASK.shmFile}`, `/tmp/b-tmp.txt`, `/workspace/${OTHER_TASK.file}`, '/workspace/b-runtime.txt']);
      assert.deepEqual(await sweep(ctx.task, needles), [], 'task A holds nothing of B');
      const other = ctx.other.record;
      const leads = (await mounts(ctx.task)).filter((mount) => [other.id, other.containerId, other.workspace, other.snapshot.baseVolume ?? '\0'].some((mark) => `${mount.root} ${mount.superOptions}`.includes(mark)));
      assert.deepEqual(leads, [], "no mount in A comes from B's container or volumes");
    },
  },
  {
    id: 'tasks.no-other-task-network',
    category: 'tasks',
    title: "task B's loopback listener and abstract unix socket cannot be reached from task A, which has no interface but its own loopback",
    attack: "A network path between tasks would let a hostile task attack another task's dev servers, databases or relay.",
    async run(ctx) {
      const targets = [{ label: 'tcp', host: '127.0.0.1', port: OTHER_TASK.port }, { label: 'v6', host: '::1', port: OTHER_TASK.port }];
      const name = OTHER_TASK.abstractName;
      assert.deepEqual(await dial(ctx.other, targets.slice(0, 1)), { tcp: OTHER_TASK.banner }, 'B answers on TCP inside B');
      assert.deepEqual(await dialAbstract(ctx.other, [name]), { [name]: OTHER_TASK.banner }, 'and on its abstract socket');
      const fromA = await dial(ctx.task, targets);
      for (const target of targets) assert.match(fromA[target.label] ?? '', /^(ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH)$/, `A reaches no TCP listener of B (${target.label}: ${fromA[target.label]})`);
      assert.deepEqual(await dialAbstract(ctx.task, [name]), { [name]: 'ECONNREFUSED' }, 'nor its abstract socket');
      const unix = (await ctx.task.exec(['cat', '/proc/net/unix'])).stdout;
      assert.ok(!unix.includes(OTHER_TASK.abstractName), "B's abstract socket is not listed in A");
      const devices = (await ctx.task.exec(['cat', '/proc/net/dev'])).stdout.split('\n').slice(2).filter((line) => line.includes(':')).map((line) => line.split(':')[0].trim());
      assert.deepEqual(devices, ['lo'], 'A has only its loopback');
      assert.deepEqual((await ctx.task.exec(['cat', '/proc/net/route'])).stdout.trim().split('\n').slice(1).filter(Boolean), [], 'and no IPv4 route');
    },
  },
  {
    id: 'tasks.no-other-task-processes',
    category: 'tasks',
    title: "task A cannot see task B's processes, and cannot kill or trace B's listener even by its host PID",
    attack: "Seeing another task's processes exposes their arguments and environment; signalling them stops another agent's work.",
    async run(ctx) {
      const mark = (entries: Array<{ cmdline: string }>) => entries.filter((entry) => entry.cmdline.includes(OTHER_TASK.processMarker));
      assert.equal(mark(await processes(ctx.other)).length, 2, 'B sees its own two listeners');
      assert.deepEqual(mark(await processes(ctx.task)), [], 'A does not');
      const environs = await ctx.task.sh(`grep -laF ${q(`AIRLOCK_TASK=${ctx.other.record.id}`)} /proc/[0-9]*/environ 2>/dev/null; true`);
      assert.equal(environs.stdout, '', "no process in A carries B's task id");
      const [hostPid] = await hostPids(ctx, ctx.other, new RegExp(`^node .*${OTHER_TASK.processMarker}`));
      assert.ok(hostPid > 0, "the engine reports B's listener's host PID");
      assert.ok(!(await processes(ctx.task)).some((entry) => entry.pid === hostPid), 'that PID is not also one of A\'s');
      const answers = await syscalls(ctx.task, [
        { label: 'kill', call: 'kill', args: [String(hostPid), '9'] },
        { label: 'ptrace', call: 'ptrace', args: [String(PTRACE_SEIZE), String(hostPid), '0', '0'] },
      ]);
      assertRefused(answers, ESRCH, "B's listener by host PID");
      assert.deepEqual(await dial(ctx.other, [{ label: 'tcp', host: '127.0.0.1', port: OTHER_TASK.port }]), { tcp: OTHER_TASK.banner }, 'B still answers');
    },
  },
  {
    id: 'tasks.no-other-task-ipc',
    category: 'tasks',
    title: "task B's System V shared memory segment and /dev/shm file do not exist in task A",
    attack: 'Shared memory across tasks would be a channel to read or corrupt another task\'s processes.',
    async run(ctx) {
      const lookup = `perl -e '$id = shmget(${OTHER_TASK.shmKey}, 0, 0); print defined $id ? "found\\n" : "missing " . ($!+0) . "\\n"'; [ -e /dev/shm/${OTHER_TASK.shmFile} ] && echo "shm file"; true`;
      assert.equal((await ctx.other.sh(lookup)).stdout, 'found\nshm file\n', 'B has both');
      assert.equal((await ctx.task.sh(lookup)).stdout, `missing ${ENOENT}\n`, 'A has neither');
    },
  },
  {
    id: 'tasks.state-folder-not-in-box',
    category: 'tasks',
    title: "the host state folder (records, audit logs, snapshots of every task) is in no box: not by path, not by mount, not by its content",
    attack: "A box that could read the state folder would see other tasks' snapshots; one that could write it could forge its audit log or approvals.",
    async run(ctx) {
      const marker = `audit-only-${ctx.task.record.id}-${Date.now()}`;
      assert.equal((await ctx.task.exec(['true', marker])).exitCode, 0);
      const audited = ctx.service.store.audit(ctx.task.record.id).records().some((record) => record.type === 'command' && JSON.stringify(record).includes(marker));
      assert.ok(audited, 'the host audit log holds the marker');
      for (const task of [ctx.task, ctx.other]) {
        const probe = await task.sh(`[ -e ${q(ctx.stateRoot)} ] && echo present; find / \\( -path /proc -o -path /sys \\) -prune -o \\( -name audit.jsonl -o -name task.json -o -name base.bin -o -name gateway.sock \\) -print 2>/dev/null; true`);
        assert.equal(probe.stdout, '', 'no state path and no state file');
        assert.deepEqual((await mounts(task)).filter((mount) => `${mount.root} ${mount.superOptions}`.includes(ctx.stateRoot)), []);
        assert.deepEqual(await sweep(task, [marker]), [], 'the audit log\'s content is nowhere in the box');
      }
    },
  },
  {
    id: 'tasks.shared-base-not-poisonable',
    category: 'tasks',
    title: "task A cannot write the workspace base it shares with later tasks: /.airlock is read-only and a new task on the same workspace sees the host's files, not A's",
    attack: 'Poisoning the base a workspace\'s next tasks start from would plant code in every later task without a review.',
    timeoutMs: 90_000,
    async run(ctx) {
      const writes = await ctx.task.sh(`${WRITES}for f in /.airlock/base/README.md /.airlock/base/poison.txt /.airlock/layer/upper/poison.txt; do w "$f" poisoned; done
echo poisoned > README.md && echo poisoned > poison.txt && cat README.md`);
      assert.equal(writes.stdout, 'refused /.airlock/base/README.md\nrefused /.airlock/base/poison.txt\nrefused /.airlock/layer/upper/poison.txt\npoisoned\n', 'A can write only its own /workspace');
      const later = await ctx.startTask(ctx.task.workspace);
      try {
        assert.ok(ctx.task.record.snapshot.baseVolume && later.record.snapshot.baseVolume === ctx.task.record.snapshot.baseVolume, 'the new task stands on the same base');
        const seen = await later.sh('cat README.md; [ -e poison.txt ] && echo poison; grep -rl poisoned /workspace /.airlock 2>/dev/null; true');
        assert.equal(seen.stdout, WORKSPACE_FILES['README.md'], "the new task sees the host's README and nothing A wrote");
      } finally {
        await ctx.service.stop(later.record.id).catch(() => undefined);
      }
    },
  },
]);
