import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { describeError, type TaskService } from '../../core/index.js';
import { cliWording } from '../errorHints.js';
import { alive, daemonFiles, readPid } from './daemonFiles.js';
import { DaemonMirrors } from './daemonMirrors.js';
import { serveRequest } from './daemonRequests.js';

export interface DaemonOptions {
  stateRoot: string;
  build: string;
  /** Ends itself after this long with nothing to do. */
  idleMs: number;
  service: TaskService;
}

function isFifo(file: string): boolean {
  try {
    return fs.lstatSync(file).isFIFO();
  } catch {
    return false;
  }
}

/**
 * The user's Airlock daemon: it keeps the engine connection, the command classifier and each
 * task's in-box runner warm, so that `airlock run` from a shell (the launcher's fast path) costs a
 * few processes and one request instead of starting node and a 3 MB bundle. It serves only this
 * user (the FIFOs live in the 0700 state folder), runs every request through the same gate and
 * audit as the CLI, and ends itself once idle.
 */
export async function serveDaemon(options: DaemonOptions, log: (line: string) => void): Promise<void> {
  const files = daemonFiles(options.stateRoot);
  fs.mkdirSync(files.spool, { recursive: true, mode: 0o700 });
  fs.chmodSync(files.dir, 0o700);
  const current = readPid(files.pidFile);
  if (current && current.pid !== process.pid && alive(current.pid)) {
    if (current.build === options.build) return; // one is serving already
    // Another build's daemon (an update): it finishes what it serves, then goes.
    process.kill(current.pid, 'SIGTERM');
  }
  if (!isFifo(files.requests)) {
    fs.rmSync(files.requests, { force: true });
    execFileSync('mkfifo', ['-m', '600', files.requests]);
  }
  sweepSpool(files.spool);
  const temp = `${files.pidFile}.${process.pid}`;
  fs.writeFileSync(temp, `${process.pid} ${options.build}\n`, { mode: 0o600 });
  fs.renameSync(temp, files.pidFile);
  log(`serving (build ${options.build}, pid ${process.pid})`);
  const mirrors = new DaemonMirrors(options.service, log);
  await mirrors.start().catch((error: unknown) => log(`host edits are not mirrored: ${describeError(error, cliWording)}`));

  // Read-write, so the FIFO never reports end-of-file between clients.
  const fd = fs.openSync(files.requests, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const socket = new net.Socket({ fd, readable: true, writable: false });
  const lines = readline.createInterface({ input: socket, crlfDelay: Infinity });
  let active = 0;
  let stopping = false;
  let idle: NodeJS.Timeout | undefined;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const stop = () => {
    // An idle timer left running would keep the process alive after a stop.
    clearTimeout(idle);
    if (!stopping) {
      stopping = true;
      // New clients take the full CLI from now on; requests already queued are still served.
      if (readPid(files.pidFile)?.pid === process.pid) fs.rmSync(files.pidFile, { force: true });
      log('stopping');
    }
    if (active === 0) {
      lines.close();
      socket.destroy();
      mirrors.dispose();
      finish();
    }
  };
  const armIdle = () => {
    clearTimeout(idle);
    // Mirrored tasks keep the daemon: their host edits have nobody else to carry them.
    idle = setTimeout(() => (mirrors.count > 0 ? armIdle() : stop()), options.idleMs);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  armIdle();
  lines.on('line', (line) => {
    const dir = requestFolder(files.spool, line.trim());
    if (!dir) return;
    active++;
    clearTimeout(idle);
    void serveRequest(dir, options.service, mirrors)
      .catch((error: unknown) => log(`request failed: ${describeError(error, cliWording)}`))
      .finally(() => {
        active--;
        if (stopping) stop();
        else if (active === 0) armIdle();
      });
  });
  await finished;
}

/** A request folder named on the FIFO: directly in the spool, a real folder of this user's. */
function requestFolder(spool: string, name: string): string | undefined {
  if (!name || !path.isAbsolute(name) || path.dirname(path.resolve(name)) !== path.resolve(spool)) return undefined;
  name = path.resolve(name);
  try {
    const stat = fs.lstatSync(name);
    if (!stat.isDirectory() || stat.uid !== process.getuid?.()) return undefined;
  } catch {
    return undefined;
  }
  return name;
}

/** Folders a client left behind (killed before anyone served it) are older than a minute. */
function sweepSpool(spool: string): void {
  const cutoff = Date.now() - 60_000;
  for (const entry of fs.readdirSync(spool)) {
    const dir = path.join(spool, entry);
    try {
      if (fs.lstatSync(dir).mtimeMs < cutoff) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // gone already
    }
  }
}
