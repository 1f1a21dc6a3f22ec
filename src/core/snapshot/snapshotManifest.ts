import * as fs from 'node:fs';
import { z } from 'zod';

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

export function readManifest(file: string): SnapshotManifest {
  return snapshotManifestSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
}

/** The base bytes of one file, as the container first received them. */
export function readBaseContent(manifest: SnapshotManifest, entry: ManifestEntry, limit = entry.size): Buffer {
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

/** Path-indexed access to a base snapshot: what each path was, and its bytes. */
export class BaseSnapshot {
  readonly entries: ReadonlyMap<string, ManifestEntry>;

  constructor(readonly manifest: SnapshotManifest) {
    this.entries = new Map(manifest.entries.map((entry) => [entry.path, entry]));
  }

  static load(manifestFile: string): BaseSnapshot {
    return new BaseSnapshot(readManifest(manifestFile));
  }

  /** The file's base bytes, or only the first `limit` of them. */
  bytes(rel: string, limit?: number): Buffer {
    const entry = this.entries.get(rel);
    if (!entry) throw new Error(`${rel} is not in the base snapshot`);
    return readBaseContent(this.manifest, entry, limit);
  }
}
