/**
 * The in-container command runner, started once per host session with `node -e` (see
 * src/core/exec/sandboxPrograms.ts). Keeping one process alive inside the task turns each command
 * into one spawn() instead of a full engine exec round trip (create, attach, start, inspect), which
 * is what keeps Airlock's per-command overhead in the low milliseconds.
 *
 * The protocol and its flow control are in src/core/exec/supervisorProtocol.ts.
 * `env` in run is the command's whole environment: the runner itself starts with a clean one
 * (inBoxProgram), so nothing the task sets can reach the loader or node in this process.
 * Every command runs in its own session (setsid) with AIRLOCK_CMD=<id> in its environment; a kill
 * ends everything in that session or carrying that marker, so grandchildren die with their parent.
 * When the host side goes away (bye, stdin closes, or no ping for 30 s: gVisor does not always pass
 * the half-close on), every running command is killed and the runner exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { COMMAND_MARKER, OUTPUT_WINDOW, SUPERVISOR_SILENCE_LIMIT_MS, type HostMessage, type RunnerMessage } from '../core/exec/supervisorProtocol.js';
import { WORKSPACE_PATH } from '../core/ground/sandboxPaths.js';
import { killSessionAndMarked } from './processTree.js';

type RunMessage = Extract<HostMessage, { t: 'run' }>;
type EndMessage = Extract<RunnerMessage, { t: 'exit' | 'fail' }>;

interface Job {
  id: string;
  child: ChildProcess;
  /** The command's stdout and stderr. */
  output: Readable[];
  pid: number | undefined;
  /** Output bytes sent that the host has not acknowledged. */
  unacked: number;
  flowing: boolean;
  killed: boolean;
  /** How the command ended, once it has; reported after its output. */
  exit: EndMessage | null;
  reported: boolean;
  drainTimer: NodeJS.Timeout | undefined;
}

const running = new Map<string, Job>();
const send = (message: RunnerMessage) => process.stdout.write(JSON.stringify(message) + '\n');

function killTree(job: Job): void {
  // Dead processes print nothing more: what is left in the pipes is bounded, so stop holding it back.
  job.killed = true;
  flow(job);
  killSessionAndMarked(job.pid, COMMAND_MARKER + '=' + job.id);
}

// Reads a command's output only while the host has room for it (or once it is killed).
function flow(job: Job): void {
  const open = job.killed || job.unacked < OUTPUT_WINDOW;
  if (open === job.flowing) return;
  job.flowing = open;
  for (const stream of job.output) {
    if (open) stream.resume();
    else stream.pause();
  }
  armDrain(job);
}

// Background processes may hold stdout open; like a shell, stop waiting for them shortly after the
// command exits, but only while its output is flowing: unread output is not dropped.
function armDrain(job: Job): void {
  clearTimeout(job.drainTimer);
  if (job.exit && !job.reported && job.flowing) job.drainTimer = setTimeout(() => report(job), 150);
}

function report(job: Job): void {
  if (job.reported || !job.exit) return;
  job.reported = true;
  clearTimeout(job.drainTimer);
  running.delete(job.id);
  send(job.exit);
}

function run(message: RunMessage): void {
  let child: ChildProcess;
  const env = Object.assign({}, message.env || {}, { [COMMAND_MARKER]: message.id });
  try {
    child = spawn(message.argv[0], message.argv.slice(1), {
      cwd: message.cwd || WORKSPACE_PATH,
      env,
      detached: true,
      stdio: [message.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    send({ t: 'fail', id: message.id, code: 127, message: String((error as Error | undefined)?.message) });
    return;
  }
  const stdout = child.stdout as Readable;
  const stderr = child.stderr as Readable;
  const job: Job = { id: message.id, child, output: [stdout, stderr], pid: child.pid, unacked: 0, flowing: true, killed: false, exit: null, reported: false, drainTimer: undefined };
  running.set(message.id, job);
  const forward = (fd: 1 | 2) => (chunk: Buffer) => {
    if (job.reported) return;
    send({ t: 'out', id: message.id, fd, d: chunk.toString('base64') });
    job.unacked += chunk.length;
    flow(job);
  };
  stdout.on('data', forward(1));
  stderr.on('data', forward(2));
  if (child.stdin) child.stdin.on('error', () => {});
  let open = 2;
  const closed = () => {
    if (--open === 0) report(job);
  };
  stdout.on('close', closed);
  stderr.on('close', closed);
  child.on('error', (error: NodeJS.ErrnoException) => {
    const code = error.code === 'ENOENT' ? 127 : 126;
    job.exit = { t: 'fail', id: message.id, code, message: error.code === 'ENOENT' ? message.argv[0] + ': command not found' : String(error.message) };
    report(job);
  });
  child.on('exit', (code, signal) => {
    job.exit = { t: 'exit', id: message.id, code, signal };
    if (open === 0) return report(job);
    armDrain(job);
  });
}

// Confirmed once the bytes are in the command's pipe (or the pipe is gone): the host sends stdin
// only against these confirmations, so a command that does not read holds up only its own input.
function input(job: Job, data: Buffer): void {
  job.child.stdin?.write(data, () => send({ t: 'inack', id: job.id, n: data.length }));
}

function shutdown(): never {
  for (const job of running.values()) killTree(job);
  process.exit(0);
}

let lastHeard = Date.now();
setInterval(() => {
  if (Date.now() - lastHeard > SUPERVISOR_SILENCE_LIMIT_MS) shutdown();
}, 5000);

function handle(message: HostMessage): void {
  const job = 'id' in message ? running.get(message.id) : undefined;
  switch (message.t) {
    case 'bye':
      return shutdown();
    case 'run':
      return run(message);
    case 'in':
      if (job && job.child.stdin) input(job, Buffer.from(message.d, 'base64'));
      return;
    case 'ack':
      if (job) {
        job.unacked = Math.max(0, job.unacked - (Number(message.n) || 0));
        flow(job);
      }
      return;
    case 'eof':
      if (job && job.child.stdin) job.child.stdin.end();
      return;
    case 'kill':
      if (job) killTree(job);
      return;
  }
}

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text: string) => {
  buffered += text;
  let newline: number;
  while ((newline = buffered.indexOf('\n')) !== -1) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (!line) continue;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      continue;
    }
    lastHeard = Date.now();
    // The host is the only writer; anything that is not an object is no message of its.
    if (typeof message === 'object' && message !== null) handle(message as HostMessage);
  }
});
process.stdin.on('end', shutdown);
process.on('SIGTERM', shutdown);
send({ t: 'ready', pid: process.pid });
