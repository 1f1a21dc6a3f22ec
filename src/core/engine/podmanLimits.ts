import * as fs from 'node:fs';
import { AirlockError } from '../ground/errors.js';

/** What Podman gives a container for open files and processes when a spec names neither. */
export const PODMAN_DEFAULT_RLIMIT = 1_048_576;
/**
 * The process limit Podman's own service runs under (it lowers itself to this at start; seen on
 * 4.3), so the most its containers can be given. The task's real bound is the pids cgroup.
 */
export const PODMAN_SERVICE_NPROC = 32_768;

export interface HostRlimits {
  nofile: number;
  nproc: number;
}

/**
 * The open-files and process limits a Podman container can be given from this host. Once a spec
 * names any ulimit (Airlock names core=0), Podman 4.3 sets nofile and nproc to 1048576 in rootful
 * mode without checking that it may: where its service lacks CAP_SYS_RESOURCE (Podman inside a
 * container, a restricted root) every start fails with "error setting rlimit type 6/7". Newer
 * Podman caps the default at its own hard limit; this does the same with this process's hard
 * limits, a fair stand-in for a service on the same host. Undefined off Linux or when unreadable.
 */
export function hostRlimits(limitsFile = '/proc/self/limits'): HostRlimits | undefined {
  let text: string;
  try {
    text = fs.readFileSync(limitsFile, 'utf8');
  } catch {
    return undefined;
  }
  const hard = (label: string, most: number): number | undefined => {
    const line = text.split('\n').find((row) => row.startsWith(label));
    const value = line?.slice(label.length).trim().split(/\s+/)[1];
    if (value === 'unlimited') return most;
    const parsed = Number(value);
    return Number.isSafeInteger(parsed) && parsed > 0 ? Math.min(parsed, most) : undefined;
  };
  const nofile = hard('Max open files', PODMAN_DEFAULT_RLIMIT);
  const nproc = hard('Max processes', PODMAN_SERVICE_NPROC);
  return nofile && nproc ? { nofile, nproc } : undefined;
}

/** The engine's "could not set a limit" failure, as runc reports it through Podman. */
export const isRlimitRefusal = (error: unknown): boolean => /error setting rlimit/i.test(error instanceof Error ? error.message : String(error));

/** A clear error for a start Podman refused over limits, instead of runc's words alone. */
export function podmanRlimitError(error: unknown): AirlockError {
  const detail = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  return new AirlockError(`Podman could not give the task container its open-files or process limits (${detail})`, {
    code: 'engine.podmanRlimits',
    hint: 'The Podman service may not raise limits (it lacks CAP_SYS_RESOURCE, as inside another container) and Airlock could not read this host\'s limits for it. Run the Podman service where it has CAP_SYS_RESOURCE, or on this host (a local socket).',
  });
}
