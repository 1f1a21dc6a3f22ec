import * as os from 'node:os';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { z } from 'zod';
import { AirlockError } from '../ground/errors.js';
import { LAYER_PATH } from '../ground/sandboxPaths.js';
import { TASK_LABEL } from '../state/taskRecord.js';

/**
 * The engine side of a layered workspace. A task's /workspace is an overlay: the workspace's base
 * volume below (shared, never written after it was filled), the task's own layer volume above
 * (its upper and work folders). Both volumes are also mounted read-only into the task, which is
 * what makes the engine count them as in use: no `docker volume prune` or `rm` can take them away
 * from under a running overlay.
 */

export const BASE_LABEL = 'airlock.base';
/** Where the layers show read-only inside the box (so the engine sees them in use). */
export const BASE_MOUNT = '/.airlock/base';
export const LAYER_MOUNT = LAYER_PATH;

/** Engine-reported volume folders go into mount options, where a comma or colon would add options. */
const volumePathSchema = z.string().regex(/^\/[A-Za-z0-9._/-]+$/).refine((value) => !value.split('/').includes('..'));
const volumeInspectSchema = z.object({ Name: z.string(), Mountpoint: z.string() });

export interface WorkspaceLayers {
  baseVolume: string;
  basePath: string;
  layerVolume: string;
  layerPath: string;
}

export const layerVolumeName = (taskId: string) => `airlock-layer-${taskId}`;

async function createVolume(docker: Docker, name: string, labels: Record<string, string>): Promise<string> {
  await docker.createVolume({ Name: name, Driver: 'local', Labels: labels });
  const inspected = volumeInspectSchema.parse(await docker.getVolume(name).inspect());
  const parsed = volumePathSchema.safeParse(inspected.Mountpoint);
  if (!parsed.success || !parsed.data.endsWith(`/${name}/_data`)) {
    throw new AirlockError(`the engine put volume ${name} at ${JSON.stringify(inspected.Mountpoint)}, which Airlock cannot layer a workspace on`, { code: 'layers.unusableVolumePath', hint: 'Airlock gives the task a whole private copy instead; report the engine and its volume driver.' });
  }
  return parsed.data;
}

/** Labelled with the state folder that knows it, so a base whose state folder is gone can be found and removed. */
export const STATE_LABEL = 'airlock.state';
export const HOST_LABEL = 'airlock.host';
export const createBaseVolume = (docker: Docker, name: string, key: string, stateRoot: string) => createVolume(docker, name, { [BASE_LABEL]: key, [STATE_LABEL]: stateRoot, [HOST_LABEL]: os.hostname() });
export const createLayerVolume = (docker: Docker, taskId: string) => createVolume(docker, layerVolumeName(taskId), { [TASK_LABEL]: taskId });

/** Where an existing base volume is, or undefined when the engine no longer has it. */
export async function basePath(docker: Docker, name: string): Promise<string | undefined> {
  try {
    const inspected = volumeInspectSchema.parse(await docker.getVolume(name).inspect());
    const parsed = volumePathSchema.safeParse(inspected.Mountpoint);
    return parsed.success ? parsed.data : undefined;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/**
 * Unpacks a tar into a volume through a container that is created and never started: the engine
 * mounts the volume for the copy alone, and nothing from the image runs.
 */
export async function fillVolume(docker: Docker, { image, volume, taskId, archive, signal }: { image: string; volume: string; taskId: string; archive: Readable; signal?: AbortSignal }): Promise<void> {
  const filler = await docker.createContainer({
    Image: image,
    Cmd: ['true'],
    Entrypoint: [],
    Labels: { [TASK_LABEL]: taskId, 'airlock.filler': 'true' },
    NetworkDisabled: true,
    HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: volume, Target: '/fill' }], LogConfig: { Type: 'none', Config: {} } },
  });
  try {
    await filler.putArchive(archive, { path: '/fill', abortSignal: signal });
  } finally {
    // v: an image's own VOLUME folders get anonymous volumes even here; named ones are never removed by it.
    await filler.remove({ force: true, v: true }).catch(() => undefined);
  }
}

/** The overlay that is the task's /workspace. nosuid and nodev as for every other writable mount. */
export function overlayDriver(layers: WorkspaceLayers): { Name: string; Options: Record<string, string> } {
  return { Name: 'local', Options: { type: 'overlay', device: 'overlay', o: `lowerdir=${layers.basePath},upperdir=${layers.layerPath}/upper,workdir=${layers.layerPath}/work,nosuid,nodev` } };
}

const OVERLAY_OPTIONS = /^lowerdir=(\/[A-Za-z0-9._/-]+),upperdir=(\/[A-Za-z0-9._/-]+)\/upper,workdir=(\/[A-Za-z0-9._/-]+)\/work,nosuid,nodev$/;

/**
 * Whether a volume driver config is exactly a layered workspace over this spec's own read-only
 * base and layer volumes: nothing else on the engine's disk can be reached through it.
 */
export function isLayeredDriver(config: { Name?: string; Options?: Record<string, string> } | undefined, readOnlyVolumes: ReadonlyMap<string, string>): boolean {
  if (config?.Name !== 'local' || config.Options?.type !== 'overlay' || config.Options.device !== 'overlay') return false;
  if (!Object.keys(config.Options).every((key) => ['type', 'device', 'o'].includes(key))) return false;
  const match = OVERLAY_OPTIONS.exec(config.Options.o ?? '');
  if (!match) return false;
  const [, lower, upper, work] = match;
  if (upper !== work || [lower, upper].some((dir) => dir.split('/').includes('..'))) return false;
  const volumeOf = (dir: string) => /\/volumes\/([^/]+)\/_data$/.exec(dir)?.[1];
  return readOnlyVolumes.get(volumeOf(lower) ?? '') === BASE_MOUNT && readOnlyVolumes.get(volumeOf(upper) ?? '') === LAYER_MOUNT && /^airlock-base-/.test(volumeOf(lower) ?? '') && /^airlock-layer-/.test(volumeOf(upper) ?? '');
}
