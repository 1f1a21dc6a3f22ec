import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { alive, daemonFiles, readPid } from './daemonFiles.js';

declare const AIRLOCK_BUILD: string | undefined;

/**
 * This build's id: esbuild.mjs defines it in cli.js and writes the same into the launcher, so a
 * launcher only ever talks to a daemon of its own build. Source runs (tests through tsx) are "dev".
 */
export const BUILD = typeof AIRLOCK_BUILD === 'string' ? AIRLOCK_BUILD : 'dev';

/** Whether this user's daemon of this build is serving. */
export function daemonServing(stateRoot: string): boolean {
  const current = readPid(daemonFiles(stateRoot).pidFile);
  return Boolean(current && current.build === BUILD && alive(current.pid));
}

/**
 * Starts the daemon in the background when none of this build is serving, so the next `airlock
 * run` takes the fast path. AIRLOCK_DAEMON=0 turns it off (then every run is the full CLI).
 */
export function ensureDaemon(stateRoot: string): void {
  if (process.env.AIRLOCK_DAEMON === '0' || daemonServing(stateRoot)) return;
  const files = daemonFiles(stateRoot);
  fs.mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  // A log that only grows would outlive every problem it records.
  if ((fs.statSync(files.log, { throwIfNoEntry: false })?.size ?? 0) > 1024 * 1024) fs.rmSync(files.log, { force: true });
  const log = fs.openSync(files.log, 'a', 0o600);
  try {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'daemon'], { detached: true, stdio: ['ignore', log, log], env: { ...process.env, AIRLOCK_STATE_DIR: stateRoot } });
    child.unref();
  } finally {
    fs.closeSync(log);
  }
}
