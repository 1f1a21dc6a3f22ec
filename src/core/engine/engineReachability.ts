import type Docker from 'dockerode';
import { AirlockError } from '../ground/errors.js';
import { describeEndpoint, type EngineEndpoint } from './engineEndpoint.js';
import { containerInspectSchema } from './engineSchemas.js';

/**
 * Errors of the connection to the engine rather than answers from it: the socket is gone or
 * refuses (the engine stopped or is restarting), or the connection broke mid-request. An answer
 * the engine gave (a 404, a 409) carries a status code and is never one of these.
 */
const CONNECTION_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EAI_AGAIN']);

export function isEngineUnreachable(error: unknown): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 3; current = (current as { cause?: unknown }).cause, depth++) {
    const { code, statusCode } = current as { code?: unknown; statusCode?: unknown };
    if (typeof statusCode === 'number') return false;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  }
  return false;
}

/**
 * Whether the engine answers a ping within `timeoutMs`; a connection that fails or hangs is no.
 * `unref`: the wait never keeps the process alive (a check nobody waits for).
 */
export async function engineAnswers(docker: Pick<Docker, 'ping'>, timeoutMs = 3000, unref = false): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      docker.ping().then(() => true, () => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
        if (unref) timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether the engine stops answering within `windowMs`. A stopping engine first stops its
 * containers (each within its stop timeout: AutoRemove has deleted an Airlock task's after a
 * tenth of a second) and only then closes its socket, so a container just found gone may be an
 * engine on its way down that still answers: this is the wait that tells the two apart.
 */
export async function engineGoesAway(docker: Pick<Docker, 'ping'>, windowMs: number, { unref = false, intervalMs = 100 }: { unref?: boolean; intervalMs?: number } = {}): Promise<boolean> {
  for (const deadline = Date.now() + windowMs; Date.now() < deadline; ) {
    if (!(await engineAnswers(docker, 1000, unref))) return true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalMs);
      if (unref) timer.unref();
    });
  }
  return false;
}

/** How long a stopping engine may still answer after a container is gone: dockerd's default shutdown timeout. */
export const ENGINE_SHUTDOWN_WINDOW_MS = 15_000;

/**
 * Whether the engine is on its way down under a container whose exec just ended: it stops
 * answering, or it stops the container (within its stop timeout, `graceMs`) and then stops
 * answering within `windowMs`. A container still running after the grace, or an engine that
 * keeps answering after the container went, is not a stopping engine.
 */
export async function engineStopsUnder(docker: Pick<Docker, 'ping' | 'getContainer'>, containerId: string, { windowMs = ENGINE_SHUTDOWN_WINDOW_MS, graceMs = 4000, unref = false }: { windowMs?: number; graceMs?: number; unref?: boolean } = {}): Promise<boolean> {
  const started = Date.now();
  for (;;) {
    if (!(await engineAnswers(docker, 1000, unref))) return true;
    const running = await docker.getContainer(containerId).inspect().then(
      (info) => containerInspectSchema.parse(info).State.Running,
      (error: unknown) => (isEngineUnreachable(error) ? undefined : false),
    );
    if (running === undefined) return true;
    if (!running) break;
    if (Date.now() - started > graceMs) return false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 100);
      if (unref) timer.unref();
    });
  }
  return engineGoesAway(docker, windowMs - (Date.now() - started), { unref });
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/** The engine a service was connected to no longer answers: one sentence naming it, and what to do. */
export function engineUnreachableError(endpoint: EngineEndpoint, cause: unknown, what = 'Nothing was changed'): AirlockError {
  return new AirlockError(`The container engine at ${describeEndpoint(endpoint)} is not answering (${firstLine(cause)}). ${what}.`, {
    code: 'engine.unreachable',
    hint: 'Start the engine again (or wait for its restart to finish), then try again.',
    actions: [{ kind: 'startEngine' }],
  });
}
