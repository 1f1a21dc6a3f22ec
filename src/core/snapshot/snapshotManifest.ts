import * as fs from 'node:fs';
import { z } from 'zod';
import { AirlockError } from '../ground/errors.js';
import { printableLine } from '../ground/printable.js';
import { replaceFile } from '../ground/syncedWrite.js';
import { EncodedManifest, encodeManifest, isEncodedManifest } from './manifestCodec.js';

/** One entry of the base snapshot; `offset`/`size` locate a file's bytes in the base content file. */
export const manifestEntrySchema = z.object({
  path: z.string(),
  type: z.enum(['file', 'symlink', 'dir']),
  mode: z.number(),
  size: z.number(),
  sha256: z.string().optional(),
  offset: z.number().optional(),
  target: z.string().optional(),
});
export type ManifestEntry = z.infer<typeof manifestEntrySchema>;

export const snapshotManifestSchema = z.object({
  version: z.literal(1),
  root: z.string(),
  createdAt: z.string(),
  /** File holding every copied file's bytes back to back, located by each entry's offset. */
  contentFile: z.string(),
  entries: z.array(manifestEntrySchema),
});
export type SnapshotManifest = z.infer<typeof snapshotManifestSchema>;

/** The manifest as written by `writeManifest`, or as JSON (tasks started before the encoded form, and tests). */
function openManifest(file: string): EncodedManifest {
  const data = fs.readFileSync(file);
  if (isEncodedManifest(data)) return new EncodedManifest(data);
  return new EncodedManifest(encodeManifest(snapshotManifestSchema.parse(JSON.parse(data.toString('utf8')))));
}

export function readManifest(file: string): SnapshotManifest {
  return openManifest(file).decode();
}

/**
 * Replaces the manifest in one rename, so readers see the old one or the new; `fresh` writes a
 * file nobody reads yet (a task being started), which needs neither.
 */
export function writeManifest(file: string, manifest: SnapshotManifest, { fresh = false } = {}): void {
  if (fresh) fs.writeFileSync(file, encodeManifest(manifest), { mode: 0o600 });
  else replaceFile(file, encodeManifest(manifest));
}

/** The base bytes of one file, as the container first received them. */
export function readBaseContent(manifest: Pick<SnapshotManifest, 'contentFile'>, entry: ManifestEntry, limit = entry.size): Buffer {
  if (entry.type !== 'file' || entry.offset === undefined) throw new Error(`${entry.path} has no base content`);
  const fd = fs.openSync(manifest.contentFile, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(limit, entry.size));
    let read = 0;
    while (read < buffer.length) {
      const count = fs.readSync(fd, buffer, read, buffer.length - read, entry.offset + read);
      if (count === 0) throw new Error(`the base content of ${entry.path} is truncated`);
      read += count;
    }
    return buffer;
  } finally {
    fs.closeSync(fd);
  }
}

/** Manifests kept open in this process, by file: about five 100,000-file tasks. */
const KEPT_MANIFEST_BYTES = 48 * 1024 * 1024;
const opened = new Map<string, { version: string; bytes: number; snapshot: BaseSnapshot }>();

/** Lookups into a base snapshot, without materializing every entry. */
export interface ManifestLookup {
  get(rel: string): ManifestEntry | undefined;
  has(rel: string): boolean;
  readonly size: number;
  keys(): Iterable<string>;
  values(): Iterable<ManifestEntry>;
}

/**
 * Path-indexed access to a base snapshot: what each path was, what a folder held, and the bytes.
 * Opening it reads the file and decodes nothing; a diff then pays only for the paths it asks about.
 */
export class BaseSnapshot {
  readonly entries: ManifestLookup;
  private decoded?: SnapshotManifest;
  private readonly encoded: EncodedManifest;

  constructor(source: SnapshotManifest | EncodedManifest) {
    this.encoded = source instanceof EncodedManifest ? source : new EncodedManifest(encodeManifest(source));
    const encoded = this.encoded;
    this.entries = {
      get: (rel) => {
        const index = encoded.find(rel);
        return index < 0 ? undefined : encoded.entryAt(index);
      },
      has: (rel) => encoded.find(rel) >= 0,
      get size() {
        return encoded.indexedCount;
      },
      keys: function* () {
        for (const entry of encoded.indexedEntries()) yield entry.path;
      },
      values: () => encoded.indexedEntries(),
    };
  }

  /**
   * Opened once per file version and kept while this process looks often: the file is replaced by
   * rename on every change, so its inode, size and mtime say whether the kept copy is current.
   */
  static load(manifestFile: string): BaseSnapshot {
    const stat = fs.statSync(manifestFile);
    const version = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    const kept = opened.get(manifestFile);
    if (kept?.version === version) {
      opened.delete(manifestFile);
      opened.set(manifestFile, kept);
      return kept.snapshot;
    }
    const snapshot = new BaseSnapshot(openManifest(manifestFile));
    opened.set(manifestFile, { version, bytes: stat.size, snapshot });
    let total = 0;
    for (const entry of opened.values()) total += entry.bytes;
    // Oldest first: a Map iterates in insertion order, and a hit is moved to the end.
    for (const [file, entry] of opened) {
      if (total <= KEPT_MANIFEST_BYTES || file === manifestFile) break;
      opened.delete(file);
      total -= entry.bytes;
    }
    return snapshot;
  }

  get contentFile(): string {
    return this.encoded.contentFile;
  }

  /** Every entry in the manifest's own order (decoded once, on first use). */
  get manifest(): SnapshotManifest {
    this.decoded ??= this.encoded.decode();
    return this.decoded;
  }

  /** What a folder ('' for the root) held: its direct children. */
  children(folder: string): ManifestEntry[] {
    return this.encoded.children(folder);
  }

  /** A file entry holding each of these contents, where the base has one. */
  entriesBySha(shas: ReadonlySet<string>): Map<string, ManifestEntry> {
    return this.encoded.entriesBySha(shas);
  }

  /** The file's base bytes, or only the first `limit` of them. */
  bytes(rel: string, limit?: number): Buffer {
    const entry = this.entries.get(rel);
    // A stored change set is read back from the host's files: one naming a path the base never had is damaged or forged.
    if (!entry) throw new AirlockError(`${printableLine(rel)} is not in the task's base snapshot; the change set naming it is not one this task produced`, { code: 'changes.notInBase', hint: "Look at the task's changes again and review those.", field: 'changeSet' });
    return this.entryBytes(entry, limit);
  }

  entryBytes(entry: ManifestEntry, limit?: number): Buffer {
    return readBaseContent({ contentFile: this.encoded.contentFile }, entry, limit);
  }
}
