import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { AirlockError, throwIfAborted } from '../ground/errors.js';
import type { TaskRecord } from '../state/taskRecord.js';
import type { TaskStore } from '../state/taskStore.js';
import type { NetworkPhase } from './egressRules.js';
import { controlRequest } from './gatewayControl.js';

/** Brings up a task's egress gateway and resolves once its control socket answers. */
export type GatewayLauncher = (record: TaskRecord, phase: NetworkPhase, signal?: AbortSignal) => Promise<void>;

const READY_TIMEOUT_MS = 30_000;

function logTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '';
  }
}

/**
 * Starts the gateway as a detached process (`<command…> gateway ID --phase P`) that outlives the
 * front end which started the task; it exits when the task's container goes away.
 */
export function detachedGatewayLauncher(store: TaskStore, command: string[], env: NodeJS.ProcessEnv = process.env): GatewayLauncher {
  return async (record, phase, signal) => {
    const { socket, logFile } = store.gatewayFiles(record.id);
    const log = fs.openSync(logFile, 'a', 0o600);
    const child = spawn(command[0], [...command.slice(1), 'gateway', record.id, '--phase', phase], { detached: true, stdio: ['ignore', log, log], env: { ...env, AIRLOCK_STATE_DIR: store.root } });
    fs.closeSync(log);
    let exit: string | undefined;
    child.once('exit', (code, signalName) => (exit = signalName ?? `code ${code}`));
    child.once('error', (error) => (exit = error.message));
    child.unref();
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exit !== undefined) throw new AirlockError(`network: the egress gateway stopped before it was ready (${exit}): ${logTail(logFile)}`, { code: 'gateway.stopped', hint: `See ${logFile}.`, field: 'network', actions: [{ kind: 'openFile', file: logFile }] });
      try {
        if ((await controlRequest(socket, { op: 'status' }, 1000)).ok) return;
      } catch {
        // not listening yet
      }
      if (signal?.aborted) child.kill();
      throwIfAborted(signal);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill();
    throw new AirlockError(`network: the egress gateway did not become ready within ${READY_TIMEOUT_MS / 1000} s: ${logTail(logFile)}`, { code: 'gateway.notReady', hint: `See ${logFile}.`, field: 'network', actions: [{ kind: 'openFile', file: logFile }] });
  };
}
