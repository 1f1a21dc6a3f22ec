import * as fs from 'node:fs';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { z } from 'zod';
import { parseTaskOptions, type TaskOptionsInput } from '../config/taskOptions.js';
import { replaceFile } from '../ground/syncedWrite.js';
import type { TaskRecord } from '../state/taskRecord.js';
import type { TaskStore } from '../state/taskStore.js';
import type { EngineFlavor } from '../engine/engineFlavor.js';
import type { HostRlimits } from '../engine/podmanLimits.js';
import { buildContainerSpec } from './containerSpec.js';
import { basePath, layerVolumeName, type WorkspaceLayers } from './workspaceLayers.js';

/**
 * What a task keeps across a restart of its engine. With live-restore off (the engine's default)
 * a stopping engine kills every container, and AutoRemove deletes a task's container with its
 * anonymous volume (the overlay, or a whole copy). Named things survive: a layered task's base and
 * layer volumes, which hold every file of the box's workspace, and everything on the host.
 *
 * The engine does not say afterwards that it restarted, and a container removed by hand looks
 * the same as one lost to a restart. So whoever sees the engine go away while a task is live
 * writes that down in the task's folder; a task with that note whose container is gone is
 * re-attached (a new container, the same spec and deadline, on the same volumes) or, when its
 * workspace did not survive, recorded as lost with its review state kept.
 */

const ENGINE_LOST_FILE = 'engine-lost.json';
const REVIEW_KEPT_FILE = 'review-kept.json';

const engineLossSchema = z.object({ at: z.string(), engine: z.string(), error: z.string() });
export type EngineLossNote = z.infer<typeof engineLossSchema>;

/** Why a command ended, in its audit record, when the engine went away under it. */
export const ENGINE_WENT_AWAY = 'engine went away';

/** The start of every reason a task lost to an engine restart is recorded with. */
export const LOST_WITH_ENGINE = 'lost when the engine went away';
export const WHOLE_COPY_LOST = `${LOST_WITH_ENGINE}: its workspace was a whole copy inside the container, which did not survive`;

const noteFile = (store: TaskStore, id: string, name: string) => path.join(store.taskDir(id), name);

/** Writes down that the engine went away while the task was live; the first note stands. */
export function noteEngineLoss(store: TaskStore, id: string, note: Omit<EngineLossNote, 'at'>): void {
  const file = noteFile(store, id, ENGINE_LOST_FILE);
  if (fs.existsSync(file) || !fs.existsSync(path.dirname(file))) return;
  replaceFile(file, JSON.stringify({ at: new Date().toISOString(), ...note }));
}

export function engineLoss(store: TaskStore, id: string): EngineLossNote | undefined {
  try {
    return engineLossSchema.parse(JSON.parse(fs.readFileSync(noteFile(store, id, ENGINE_LOST_FILE), 'utf8')));
  } catch (error) {
    // A note that cannot be read still says the engine went away: its details are what is lost.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { at: '', engine: 'the engine', error: 'unreadable note' };
  }
}

export const hasEngineLoss = (store: TaskStore, id: string): boolean => fs.existsSync(noteFile(store, id, ENGINE_LOST_FILE));

export function clearEngineLoss(store: TaskStore, id: string): void {
  fs.rmSync(noteFile(store, id, ENGINE_LOST_FILE), { force: true });
}

/**
 * Marks an ended task whose change sets, blobs and base snapshot stay on the host (an end nobody
 * chose: the box may have had work nobody applied yet), so later sweeps leave them until the
 * record itself is pruned.
 */
export function keepReviewState(store: TaskStore, id: string, reason: string): void {
  replaceFile(noteFile(store, id, REVIEW_KEPT_FILE), JSON.stringify({ at: new Date().toISOString(), reason }));
}

export const reviewStateKept = (store: TaskStore, id: string): boolean => fs.existsSync(noteFile(store, id, REVIEW_KEPT_FILE));

export function forgetKeptReviewState(store: TaskStore, id: string): void {
  fs.rmSync(noteFile(store, id, REVIEW_KEPT_FILE), { force: true });
}

/** Whether the task's workspace can have outlived its container: only a layered one lives in named volumes. */
export const workspaceCanSurvive = (record: TaskRecord): boolean => Boolean(record.snapshot.baseVolume) && !record.options.workspaceTmpfs;

/** Where a volume the task needs is, when the engine still has it under the name it was given. */
async function volumeFolder(docker: Docker, name: string): Promise<string | undefined> {
  const folder = await basePath(docker, name);
  return folder?.endsWith(`/${name}/_data`) ? folder : undefined;
}

/**
 * The container a task had, built again from its record: the same options, environment, labels,
 * limits and deadline (`sleep` runs for what is left of the TTL), over the same base and layer
 * volumes. `buildContainerSpec` re-checks it with `assertHardened` as at start. Or, when the
 * workspace (or the image) is gone from the engine, why the task cannot come back.
 */
export async function reattachSpec(docker: Docker, record: TaskRecord, engine: { flavor: EngineFlavor; rlimits?: HostRlimits } = { flavor: 'docker' }): Promise<{ spec: Docker.ContainerCreateOptions } | { lost: string }> {
  const baseVolume = record.snapshot.baseVolume;
  if (!baseVolume || !workspaceCanSurvive(record)) return { lost: WHOLE_COPY_LOST };
  const layerVolume = layerVolumeName(record.id);
  const [baseFolder, layerFolder] = await Promise.all([volumeFolder(docker, baseVolume), volumeFolder(docker, layerVolume)]);
  if (!baseFolder) return { lost: `${LOST_WITH_ENGINE}: the engine no longer has its base volume ${baseVolume}` };
  if (!layerFolder) return { lost: `${LOST_WITH_ENGINE}: the engine no longer has its layer volume ${layerVolume}` };
  // Never pulled again: a name pulled now may hold other content than the image the task ran.
  const image = await docker.getImage(record.image).inspect().then(() => true, (error: { statusCode?: number }) => {
    if (error.statusCode === 404) return false;
    throw error;
  });
  if (!image) return { lost: `${LOST_WITH_ENGINE}: its image ${record.image} is no longer on the engine` };
  let options;
  try {
    // The record keeps the option variables' names only; their values are in `record.env`.
    options = parseTaskOptions({ ...(record.options as TaskOptionsInput), env: {} });
  } catch (error) {
    return { lost: `${LOST_WITH_ENGINE}: its recorded options no longer read (${(error as Error).message.split('\n')[0]})` };
  }
  const layers: WorkspaceLayers = { baseVolume, basePath: baseFolder, layerVolume, layerPath: layerFolder };
  return { spec: buildContainerSpec({ id: record.id, options, env: record.env, expiresAt: new Date(record.expiresAt), layers, ...engine }) };
}
