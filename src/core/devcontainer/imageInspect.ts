import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { z } from 'zod';
import { imageInspectSchema } from '../engine/engineSchemas.js';
import { AirlockError, CancelledError, throwIfAborted } from '../ground/errors.js';

const imageLabelsSchema = imageInspectSchema.extend({
  Config: z.object({ Labels: z.record(z.string(), z.string()).nullish() }).passthrough().nullish(),
});

const statusOf = (error: unknown) => (error as { statusCode?: number }).statusCode;

const notPresent = (image: string) =>
  new AirlockError(
    `image: ${image} is not present locally (this step does not pull from a registry)`,
    { code: 'image.notPresent', hint: 'Build or pull the image first, or choose an image this engine already has.', field: 'image', actions: [{ kind: 'changeSetting', setting: 'image' }] },
  );

/** One label of a local image, or undefined when the image does not carry it. */
export async function imageLabel(docker: Docker, image: string, name: string): Promise<string | undefined> {
  let inspected: unknown;
  try {
    inspected = await docker.getImage(image).inspect();
  } catch (error) {
    if (statusOf(error) === 404) throw notPresent(image);
    throw error;
  }
  return imageLabelsSchema.parse(inspected).Config?.Labels?.[name] ?? undefined;
}

/** The highest uid or gid a Linux kernel accepts ((uid_t)-1 is "no change"). */
const MAX_ID = 2 ** 32 - 2;
const numericId = (text: string): number | undefined => {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= MAX_ID ? value : undefined;
};

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/**
 * `user` as a devcontainer.json's remoteUser/containerUser gives it: "uid", "uid:gid", a name, or
 * "name:group" (either side may be a name or a number). Numbers are taken as they are (a bare uid
 * gets the same gid, as Airlock's --user does). Names are looked up in the image's own
 * /etc/passwd and /etc/group, read from a container that is created for the purpose and never
 * started (no entrypoint, no network, label `airlock.probe=1`) and always removed.
 */
export async function resolveImageUser(docker: Docker, image: string, user: string, signal?: AbortSignal): Promise<{ uid: number; gid: number }> {
  throwIfAborted(signal);
  const parts = user.trim().split(':');
  const [userPart = '', groupPart] = parts;
  if (parts.length > 2 || userPart === '' || groupPart === '' || /\s/.test(user.trim())) {
    throw new AirlockError(`remoteUser: "${user}" is not a user; expected a name, "uid", "uid:gid" or "name:group"`, { code: 'image.invalidUser', hint: 'Use e.g. "node", "1000" or "1000:1000".', field: 'remoteUser' });
  }
  let uid = numericId(userPart);
  let gid = groupPart === undefined ? undefined : numericId(groupPart);
  if (uid !== undefined && (groupPart === undefined || gid !== undefined)) return { uid, gid: gid ?? uid };

  const { passwd, group } = await readAccountFiles(docker, image, signal);
  if (uid === undefined) {
    const users = parsePasswd(passwd);
    const entry = users.find((candidate) => candidate.name === userPart);
    if (!entry) {
      const known = users.filter((candidate) => candidate.uid === 0 || (candidate.uid >= 1000 && candidate.uid < 65534)).slice(0, 10);
      const listing = known.length > 0 ? known.map((candidate) => `${candidate.name} (${candidate.uid})`).join(', ') : 'none with uid 0 or ≥ 1000';
      throw new AirlockError(`remoteUser: image ${image} has no user "${userPart}"; users it has: ${listing}`, { code: 'image.unknownUser', hint: 'Set remoteUser to one of those, or to a numeric uid[:gid].', field: 'remoteUser' });
    }
    uid = entry.uid;
    gid ??= groupPart === undefined ? entry.gid : undefined;
  }
  if (gid === undefined && groupPart !== undefined) {
    const entry = parseGroup(group).find((candidate) => candidate.name === groupPart);
    if (!entry) throw new AirlockError(`remoteUser: image ${image} has no group "${groupPart}"`, { code: 'image.unknownGroup', hint: 'Use a group from the image\'s /etc/group, or a numeric gid.', field: 'remoteUser' });
    gid = entry.gid;
  }
  return { uid, gid: gid ?? uid };
}

/** passwd lines `name:password:uid:gid:…`; malformed lines are skipped, the first entry for a name wins. */
function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(':');
    if (fields.length < 4 || !fields[0] || fields[0].startsWith('#') || fields[0].startsWith('+') || fields[0].startsWith('-')) continue;
    const uid = numericId(fields[2]);
    const gid = numericId(fields[3]);
    if (uid === undefined || gid === undefined || entries.some((entry) => entry.name === fields[0])) continue;
    entries.push({ name: fields[0], uid, gid });
  }
  return entries;
}

/** group lines `name:password:gid:members`. */
function parseGroup(text: string): { name: string; gid: number }[] {
  const entries: { name: string; gid: number }[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(':');
    if (fields.length < 3 || !fields[0] || fields[0].startsWith('#') || fields[0].startsWith('+') || fields[0].startsWith('-')) continue;
    const gid = numericId(fields[2]);
    if (gid === undefined || entries.some((entry) => entry.name === fields[0])) continue;
    entries.push({ name: fields[0], gid });
  }
  return entries;
}

async function readAccountFiles(docker: Docker, image: string, signal?: AbortSignal): Promise<{ passwd: string; group: string }> {
  let container: Docker.Container;
  try {
    // No abort signal on create: an aborted request could leave a container whose id we never learn.
    container = await docker.createContainer({
      Image: image,
      Entrypoint: [],
      Cmd: ['true'],
      NetworkDisabled: true,
      Labels: { 'airlock.probe': '1' },
      HostConfig: { NetworkMode: 'none' },
    });
  } catch (error) {
    if (statusOf(error) === 404) throw notPresent(image);
    throw error;
  }
  try {
    throwIfAborted(signal);
    const passwd = await readContainerFile(container, '/etc/passwd', signal);
    const group = await readContainerFile(container, '/etc/group', signal);
    return { passwd: passwd ?? '', group: group ?? '' };
  } finally {
    // Always removed (with any volumes the image declares); a leftover carries airlock.probe=1.
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

const MAX_ACCOUNT_FILE = 4 * 1024 * 1024;

/** A text file from a container's filesystem; symbolic links are followed inside it, a few hops. */
async function readContainerFile(container: Docker.Container, file: string, signal?: AbortSignal): Promise<string | undefined> {
  let current = file;
  for (let hop = 0; hop < 5; hop++) {
    let archive: Readable;
    try {
      archive = (await container.getArchive({ path: current, abortSignal: signal })) as unknown as Readable;
    } catch (error) {
      if (signal?.aborted) throw new CancelledError();
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
    const entry = await firstEntry(archive, signal);
    if (!entry) return undefined;
    if (entry.type === 'symlink') {
      current = path.posix.resolve(path.posix.dirname(current), entry.linkname);
      continue;
    }
    return entry.type === 'file' ? entry.content.toString('utf8') : undefined;
  }
  return undefined;
}

type ArchiveEntry = { type: 'file'; content: Buffer } | { type: 'symlink'; linkname: string } | { type: 'other' };

/** The first entry of a tar stream (what the engine's archive endpoint returns for one file). */
async function firstEntry(archive: Readable, signal?: AbortSignal): Promise<ArchiveEntry | undefined> {
  const extract = (await import('tar-stream')).extract();
  return new Promise<ArchiveEntry | undefined>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, value?: ArchiveEntry) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      archive.destroy();
      extract.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    const onAbort = () => settle(new CancelledError());
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    extract.on('entry', (header, body) => {
      if (header.type === 'symlink') return settle(undefined, { type: 'symlink', linkname: header.linkname ?? '' });
      if (header.type !== 'file' && header.type !== 'contiguous-file') return settle(undefined, { type: 'other' });
      if ((header.size ?? 0) > MAX_ACCOUNT_FILE) return settle(new AirlockError(`image: its ${header.name} is larger than ${MAX_ACCOUNT_FILE} bytes`, { code: 'image.accountFileTooLarge', hint: 'Use a numeric uid:gid for remoteUser.', field: 'remoteUser' }));
      const chunks: Buffer[] = [];
      body.on('data', (chunk: unknown) => {
        chunks.push(chunk as Buffer);
      });
      body.on('end', () => settle(undefined, { type: 'file', content: Buffer.concat(chunks) }));
      body.on('error', (error: Error) => settle(error));
    });
    extract.on('finish', () => settle(undefined, undefined));
    extract.on('error', (error: Error) => settle(error));
    archive.on('error', (error: Error) => settle(error));
    archive.pipe(extract);
  });
}
