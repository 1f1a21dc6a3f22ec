import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { replaceFile } from '../ground/syncedWrite.js';
import { pipeline } from 'node:stream/promises';
import { readManifest, writeManifest, type ManifestEntry, type SnapshotManifest } from './snapshotManifest.js';
import type { WorkspaceListing } from './workspaceListing.js';

/**
 * A workspace's base: one copy of its snapshot kept in the engine (a volume), which later tasks of
 * the same workspace and sandbox user start from copy-on-write (an overlay whose upper layer is the
 * task's own). What the host keeps of it: the manifest and bytes it was filled with, and each
 * file's identity as it was read, so a later start copies only what changed since.
 */

/** What tells that a host file is the one the base was filled with: git's index compares the same. */
export interface FileIdentity {
  kind: 'file' | 'symlink' | 'dir';
  size: number;
  mode: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

const identitySchema = z.tuple([z.enum(['file', 'symlink', 'dir']), z.number(), z.number(), z.string(), z.string(), z.string()]);

export const baseIndexSchema = z.object({
  version: z.literal(1),
  /** The engine volume holding the base's tree. */
  volume: z.string().regex(/^airlock-base-[0-9a-f]{16}-[0-9a-f]{8}$/),
  workspace: z.string(),
  user: z.string(),
  /** When the base's files were read (ns since the epoch): a file changed within the clock's reach of it is never trusted. */
  readAtNs: z.string(),
  identities: z.record(z.string(), identitySchema),
});
export type BaseIndex = z.infer<typeof baseIndexSchema>;

export interface LoadedBase {
  key: string;
  index: BaseIndex;
  manifest: SnapshotManifest;
}

/**
 * Git's "racily clean" rule: a file whose timestamps are this close to when the base read it might
 * have been written again within the same clock tick. 100 ms is ten ticks of the coarsest kernel clock.
 */
const RACY_NS = 100_000_000n;

const toIdentity = (stat: fs.BigIntStats): FileIdentity => ({
  kind: stat.isSymbolicLink() ? 'symlink' : stat.isDirectory() ? 'dir' : 'file',
  size: Number(stat.size),
  mode: Number(stat.mode & 0o777n),
  mtimeNs: String(stat.mtimeNs),
  ctimeNs: String(stat.ctimeNs),
  ino: String(stat.ino),
});

/**
 * Every listed file's and folder's identity. Synchronous lstat in slices: a thread-pool round trip
 * per path cost more than the stat itself, and the slices keep the event loop answering.
 */
export async function identifyListing(listing: WorkspaceListing, signal?: AbortSignal): Promise<Map<string, FileIdentity>> {
  const paths = [...listing.dirs, ...listing.files];
  const identities = new Map<string, FileIdentity>();
  const slice = 2000;
  for (let start = 0; start < paths.length; start += slice) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
    for (const rel of paths.slice(start, start + slice)) {
      const stat = fs.lstatSync(path.join(listing.root, rel), { bigint: true, throwIfNoEntry: false });
      if (stat) identities.set(rel, toIdentity(stat));
    }
  }
  return identities;
}

export function listingBytesOf(identities: ReadonlyMap<string, FileIdentity>): number {
  let total = 0;
  for (const identity of identities.values()) if (identity.kind === 'file') total += identity.size;
  return total;
}

/** What a task adds on top of its base: the paths to copy into its upper layer, and the base paths it must hide. */
export interface DeltaPlan {
  /** A listing of only what goes into the upper layer (files, links, and every folder on their way). */
  listing: WorkspaceListing;
  /** Base entries the task keeps as they are (their bytes are at the same offsets in a copy of the base's content). */
  kept: ManifestEntry[];
  /** Top-most base paths the workspace no longer has. */
  whiteouts: string[];
  files: number;
  bytes: number;
}

const parentOf = (rel: string) => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');

function withAncestors(into: Set<string>, rel: string): void {
  for (let dir = rel; dir && !into.has(dir); dir = parentOf(dir)) into.add(dir);
}

const sameIdentity = (a: FileIdentity, b: z.infer<typeof identitySchema>) =>
  a.kind === b[0] && a.size === b[1] && a.mode === b[2] && a.mtimeNs === b[3] && a.ctimeNs === b[4] && a.ino === b[5];

/**
 * What a task on this base must add, judged by identity: a file whose size, mode, times and inode
 * match what was read into the base is the same file. Anything else, and anything changed close to
 * when the base was read (its timestamp could not tell a later write), is copied again.
 */
export function planDelta(base: LoadedBase, listing: WorkspaceListing, identities: ReadonlyMap<string, FileIdentity>): DeltaPlan {
  const baseEntries = new Map(base.manifest.entries.map((entry) => [entry.path, entry]));
  const racyFrom = BigInt(base.index.readAtNs) - RACY_NS;
  const files = new Set<string>();
  const dirs = new Set<string>();
  const kept: ManifestEntry[] = [];
  let bytes = 0;
  for (const rel of listing.files) {
    const identity = identities.get(rel);
    const entry = baseEntries.get(rel);
    const was = base.index.identities[rel];
    const trusted = identity && entry && was && entry.type !== 'dir' && sameIdentity(identity, was) && BigInt(identity.ctimeNs) < racyFrom && BigInt(identity.mtimeNs) < racyFrom;
    if (trusted) {
      kept.push(entry);
      continue;
    }
    files.add(rel);
    withAncestors(dirs, parentOf(rel));
    bytes += identity?.kind === 'file' ? identity.size : 0;
  }
  for (const rel of listing.dirs) {
    const entry = baseEntries.get(rel);
    const identity = identities.get(rel);
    if (entry?.type === 'dir' && identity && entry.mode === identity.mode) kept.push(entry);
    else withAncestors(dirs, rel);
  }
  const whiteouts: string[] = [];
  for (const entry of base.manifest.entries) {
    if (listing.files.has(entry.path) || listing.dirs.has(entry.path)) continue;
    const parent = parentOf(entry.path);
    // Below a path that is gone or is no longer a folder, the upper entry for that path hides it already.
    if (parent && !listing.dirs.has(parent)) continue;
    whiteouts.push(entry.path);
    withAncestors(dirs, parent);
  }
  return { listing: { ...listing, files, dirs }, kept: kept.filter((entry) => !dirs.has(entry.path)), whiteouts, files: files.size, bytes };
}

/** A delta this large costs more to carry in every task's upper layer than one fresh base. */
export function deltaTooLarge(plan: DeltaPlan, listing: WorkspaceListing, totalBytes: number): boolean {
  return plan.files + plan.whiteouts.length > Math.max(256, listing.files.size / 4) || plan.bytes > Math.max(16 * 1024 * 1024, totalBytes / 4);
}

/** The bases of one state folder, one per workspace and sandbox user. */
export class WorkspaceBases {
  constructor(readonly root: string) {}

  key(workspace: string, user: string): string {
    return createHash('sha256').update(`${workspace}\0${user}`).digest('hex').slice(0, 16);
  }

  newVolumeName(key: string): string {
    return `airlock-base-${key}-${randomBytes(4).toString('hex')}`;
  }

  files(key: string, volume: string): { dir: string; indexFile: string; manifestFile: string; contentFile: string } {
    const dir = path.join(this.root, key, volume);
    return { dir, indexFile: path.join(dir, 'index.json'), manifestFile: path.join(dir, 'manifest.bin'), contentFile: path.join(dir, 'content.bin') };
  }

  private currentFile(key: string): string {
    return path.join(this.root, key, 'current');
  }

  /** The base a new task of this workspace starts from, when there is one and it is whole. */
  load(key: string): LoadedBase | undefined {
    try {
      const volume = fs.readFileSync(this.currentFile(key), 'utf8').trim();
      const files = this.files(key, volume);
      const index = baseIndexSchema.parse(JSON.parse(fs.readFileSync(files.indexFile, 'utf8')));
      const manifest = readManifest(files.manifestFile);
      if (index.volume !== volume || manifest.contentFile !== files.contentFile || fs.statSync(files.contentFile).size < manifestBytes(manifest)) return undefined;
      return { key, index, manifest };
    } catch {
      return undefined;
    }
  }

  /** Where a new base's host files go; it becomes current only with `publish`. */
  prepare(key: string, volume: string): ReturnType<WorkspaceBases['files']> {
    const files = this.files(key, volume);
    fs.mkdirSync(files.dir, { recursive: true, mode: 0o700 });
    return files;
  }

  publish(key: string, index: BaseIndex, manifest: SnapshotManifest): void {
    const files = this.files(key, index.volume);
    replaceFile(files.indexFile, JSON.stringify(index));
    writeManifest(files.manifestFile, manifest);
    replaceFile(this.currentFile(key), index.volume);
  }

  /** Every base volume this state folder knows of, and whether new tasks start from it. */
  known(): Array<{ key: string; volume: string; current: boolean; ageMs: number }> {
    const found: Array<{ key: string; volume: string; current: boolean; ageMs: number }> = [];
    let keys: string[];
    try {
      keys = fs.readdirSync(this.root);
    } catch {
      return found;
    }
    for (const key of keys) {
      let current = '';
      try {
        current = fs.readFileSync(this.currentFile(key), 'utf8').trim();
      } catch {
        // a base still being filled, or one whose publish never came
      }
      for (const volume of fs.readdirSync(path.join(this.root, key))) {
        if (!volume.startsWith('airlock-base-')) continue;
        const ageMs = Date.now() - fs.statSync(path.join(this.root, key, volume)).mtimeMs;
        found.push({ key, volume, current: volume === current, ageMs });
      }
    }
    return found;
  }

  /** Forgets one base's host files (its volume is the caller's to remove first). */
  forget(key: string, volume: string): void {
    const files = this.files(key, volume);
    if (path.dirname(path.dirname(files.dir)) !== this.root) return;
    try {
      if (fs.readFileSync(this.currentFile(key), 'utf8').trim() === volume) fs.rmSync(this.currentFile(key), { force: true });
    } catch {
      // no current base for this key
    }
    fs.rmSync(files.dir, { recursive: true, force: true });
  }
}

function manifestBytes(manifest: SnapshotManifest): number {
  let end = 0;
  for (const entry of manifest.entries) if (entry.type === 'file' && entry.offset !== undefined) end = Math.max(end, entry.offset + entry.size);
  return end;
}

export function identitiesRecord(identities: ReadonlyMap<string, FileIdentity>): BaseIndex['identities'] {
  const record: BaseIndex['identities'] = {};
  for (const [rel, id] of identities) record[rel] = [id.kind, id.size, id.mode, id.mtimeNs, id.ctimeNs, id.ino];
  return record;
}

/** Archives unpacked side by side when a base is filled: the engine's unpacking is one process per archive. */
export const FILL_STREAMS = 3;

/**
 * The listing in up to `count` parts of whole top-level folders (files at the top go with the
 * first), balanced by file count, so their archives never write the same folder.
 */
export function splitListing(listing: WorkspaceListing, count: number): WorkspaceListing[] {
  const groups = new Map<string, string[]>();
  for (const rel of listing.files) {
    const top = rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '';
    let group = groups.get(top);
    if (!group) groups.set(top, (group = []));
    group.push(rel);
  }
  const parts = Array.from({ length: Math.max(1, Math.min(count, groups.size)) }, () => ({ files: new Set<string>(), dirs: new Set<string>() }));
  const bySize = [...groups.entries()].sort((a, b) => (a[0] === '' ? -1 : b[0] === '' ? 1 : b[1].length - a[1].length));
  for (const [, group] of bySize) {
    const part = parts.reduce((smallest, candidate) => (candidate.files.size < smallest.files.size ? candidate : smallest));
    for (const rel of group) {
      part.files.add(rel);
      withAncestors(part.dirs, parentOf(rel));
    }
  }
  return parts.filter((part, index) => index === 0 || part.files.size > 0).map((part) => ({ ...listing, files: part.files, dirs: part.dirs }));
}

/**
 * One manifest and one content file from the parts' own: bytes back to back in part order, each
 * part's offsets moved by what came before it. The parts' files are removed.
 */
export async function joinParts(parts: ReadonlyArray<{ manifest: SnapshotManifest; contentFile: string; manifestFile: string }>, contentFile: string): Promise<SnapshotManifest> {
  const entries: ManifestEntry[] = [];
  const dirs = new Set<string>();
  let offset = 0;
  const out = fs.createWriteStream(contentFile, { mode: 0o600 });
  try {
    for (const part of parts) {
      for (const entry of part.manifest.entries) {
        if (entry.type === 'dir') {
          if (dirs.has(entry.path)) continue;
          dirs.add(entry.path);
        }
        entries.push(entry.type === 'file' && entry.offset !== undefined ? { ...entry, offset: entry.offset + offset } : entry);
      }
      offset += fs.statSync(part.contentFile).size;
      await pipeline(fs.createReadStream(part.contentFile), out, { end: false });
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    for (const part of parts) {
      fs.rmSync(part.contentFile, { force: true });
      fs.rmSync(part.manifestFile, { force: true });
    }
  }
  return { ...parts[0].manifest, contentFile, entries };
}
