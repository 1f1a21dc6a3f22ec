import { commandEndLines } from '../commandEnd.js';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CommandRefused, describeError, type ApprovalRequest, type TaskService } from '../../core/index.js';
import { waitingLine } from '../approvalCommands.js';
import { cliWording } from '../errorHints.js';
import { EXIT_AIRLOCK_ERROR, parseRunArgs, runRequest } from '../runCommand.js';
import { FALLBACK_STATUS, REQUEST_FILES } from './daemonFiles.js';
import { parseExecArgs } from './execArgs.js';
import type { DaemonMirrors } from './daemonMirrors.js';

/** How long a client has to open its ends of the FIFOs; it opens them right after asking. */
const OPEN_TIMEOUT_MS = 10_000;

/** Opens a FIFO for writing once its reader is there, without tying up a thread while waiting. */
async function openWriter(file: string, signal: AbortSignal): Promise<net.Socket> {
  const deadline = Date.now() + OPEN_TIMEOUT_MS;
  for (;;) {
    try {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      return new net.Socket({ fd, readable: false, writable: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline || signal.aborted) throw error;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
}

function openReader(file: string): net.Socket {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  return new net.Socket({ fd, readable: true, writable: false });
}

/** Writes with backpressure: the box is paused while the client's terminal or pipe is behind. */
function writer(socket: net.Socket, lost: () => void) {
  socket.on('error', lost);
  return (chunk: Buffer | string): Promise<void> | undefined => {
    if (socket.destroyed) return undefined;
    if (socket.write(chunk)) return undefined;
    return new Promise<void>((resolve) => {
      socket.once('drain', resolve);
      socket.once('close', resolve);
    });
  };
}

function endSocket(socket: net.Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('close', () => resolve());
    socket.end();
  });
}

/**
 * Serves one request folder: claims it (a client that gave up on the daemon claims it first and
 * runs the full CLI instead, so nothing runs twice), streams the command's output into the
 * client's FIFOs and ends with its exit status. The client going away cancels the command.
 */
export async function serveRequest(dir: string, service: TaskService, mirrors: DaemonMirrors): Promise<void> {
  const file = (name: string) => path.join(dir, name);
  try {
    fs.mkdirSync(file(REQUEST_FILES.taken));
  } catch {
    return; // the client claimed it itself
  }
  const controller = new AbortController();
  // The client holds the liveness FIFO open while it waits; end-of-file means it is gone.
  const alive = openReader(file(REQUEST_FILES.alive));
  alive.on('end', () => controller.abort()).on('error', () => controller.abort()).resume();
  try {
    const kind = fs.readFileSync(file(REQUEST_FILES.kind), 'utf8').trim();
    const args = fs.readFileSync(file(REQUEST_FILES.args), 'utf8').split('\0').slice(0, -1);
    const cwd = fs.readFileSync(file(REQUEST_FILES.cwd), 'utf8');
    const stdout = await openWriter(file(REQUEST_FILES.stdout), controller.signal);
    const stderr = await openWriter(file(REQUEST_FILES.stderr), controller.signal);
    const stdin = fs.existsSync(file(REQUEST_FILES.stdin)) ? openReader(file(REQUEST_FILES.stdin)) : undefined;
    const out = writer(stdout, () => controller.abort());
    const err = writer(stderr, () => controller.abort());
    const onWaiting = (request: ApprovalRequest) => void err(`${waitingLine(request)}\n`);
    let status: string;
    try {
      status = String(await dispatch(service, kind, args, { cwd, stdin, signal: controller.signal, out, err, onWaiting, beforeRun: (taskId) => mirrors.idle(taskId) }));
    } catch (error) {
      if (error instanceof CommandRefused) {
        await err(`airlock: ${error.message}\n`);
        status = String(error.exitCode);
      } else if (error instanceof FallBack) {
        status = FALLBACK_STATUS;
      } else {
        await err(`airlock: ${describeError(error, cliWording)}\n`);
        status = String(EXIT_AIRLOCK_ERROR);
      }
    }
    stdin?.destroy();
    await Promise.all([endSocket(stdout), endSocket(stderr)]);
    const statusFifo = await openWriter(file(REQUEST_FILES.status), controller.signal);
    statusFifo.end(`${status}\n`);
  } finally {
    alive.destroy();
    // The client removes its folder once it has the status; one that went away cannot.
    if (controller.signal.aborted) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The request needs something only the full CLI does (a terminal, standard input for exec, …). */
class FallBack extends Error {}

interface RequestIo {
  cwd: string;
  stdin?: net.Socket;
  signal: AbortSignal;
  out: (chunk: Buffer) => unknown;
  err: (chunk: Buffer | string) => unknown;
  onWaiting: (request: ApprovalRequest) => void;
  beforeRun: (taskId: string) => Promise<void>;
}

async function dispatch(service: TaskService, kind: string, args: string[], io: RequestIo): Promise<number> {
  if (kind === 'run') {
    let parsed;
    try {
      parsed = parseRunArgs(args);
    } catch {
      throw new FallBack(); // a usage error: the full CLI says it in its own words
    }
    return runRequest(service, parsed, { cwd: io.cwd, stdin: io.stdin, signal: io.signal, onStdout: io.out, onStderr: io.err, onWaiting: io.onWaiting, beforeRun: io.beforeRun, say: (line) => io.err(`${line}\n`) });
  }
  if (kind === 'exec') {
    const parsed = parseExecArgs(args);
    if (!parsed) throw new FallBack();
    await io.beforeRun(service.store.resolve(parsed.task).id);
    const result = await service.exec(parsed.task, { argv: parsed.argv, cwd: parsed.cwd, env: parsed.env, timeoutMs: parsed.timeoutMs, signal: io.signal, onStdout: io.out, onStderr: io.err, gate: { onWaiting: io.onWaiting } });
    for (const line of commandEndLines(result, (parsed.timeoutMs ?? 0) / 1000, service.store.resolve(parsed.task).id)) await io.err(`${line}\n`);
    return result.exitCode;
  }
  throw new FallBack();
}
