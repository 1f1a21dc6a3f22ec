import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { z } from 'zod';
import type { Disposable } from '../ground/events.js';

/** One message of the engine's `/events` stream, as far as Airlock reads it. */
export const engineEventSchema = z.object({
  Type: z.string(),
  /** "create", "start", "kill", "die", "destroy", …; exec events read "exec_start: CMD". */
  Action: z.string(),
  Actor: z.object({
    ID: z.string(),
    /** The container's labels plus per-action facts: `exitCode` on die, `signal` on kill. */
    Attributes: z.record(z.string(), z.string()).nullish().transform((attributes) => attributes ?? {}),
  }).passthrough(),
  time: z.number().optional(),
  timeNano: z.number().optional(),
}).passthrough();
export type EngineEvent = z.infer<typeof engineEventSchema>;

export interface EngineEventFilters {
  type?: string[];
  label?: string[];
  event?: string[];
}

export interface EngineEventStream extends Disposable {
  /** Resolves when the engine ends the stream or it is disposed; rejects when the connection fails. */
  readonly ended: Promise<void>;
}

/** Longer than any event the engine sends (its labels included); past it the stream is not one. */
const MAX_LINE = 1024 * 1024;

/**
 * Opens the engine's event stream with server-side filters. Resolves once the engine has answered,
 * so everything that happens from then on is delivered: a caller that lists state after this
 * resolves misses nothing in between. Each event is one JSON line.
 */
export async function openEngineEvents(docker: Pick<Docker, 'getEvents'>, filters: EngineEventFilters, onEvent: (event: EngineEvent) => void): Promise<EngineEventStream> {
  const stream = (await docker.getEvents({ filters: filters as never })) as Readable;
  let disposed = false;
  let pending = '';
  const ended = new Promise<void>((resolve, reject) => {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (pending.length > MAX_LINE) stream.destroy(new Error('the engine sent an event line over 1 MiB'));
      for (const line of lines) {
        if (!line.trim()) continue;
        let parsed: z.ZodSafeParseResult<EngineEvent>;
        try {
          parsed = engineEventSchema.safeParse(JSON.parse(line));
        } catch {
          continue;
        }
        // An event of a shape this version does not know is not one it acts on.
        if (parsed.success && !disposed) onEvent(parsed.data);
      }
    });
    stream.on('error', (error) => (disposed ? resolve() : reject(error)));
    stream.on('close', () => resolve());
    stream.on('end', () => resolve());
  });
  // A failure before the caller awaits `ended` (say, while it lists) is still the caller's to see.
  ended.catch(() => undefined);
  return {
    ended,
    dispose() {
      disposed = true;
      stream.destroy();
    },
  };
}
