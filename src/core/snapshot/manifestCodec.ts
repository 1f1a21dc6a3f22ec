import { z } from 'zod';
import type { ManifestEntry, SnapshotManifest } from './snapshotManifest.js';

/**
 * The base manifest on disk: fixed-size records, one string table, and an index by folder, so a
 * diff of a 100,000-file task opens it in a few milliseconds and looks up only the paths it needs.
 * JSON cost ~0.5 s to parse and validate at that size on every look, which made the change set
 * grow with the workspace instead of with what changed.
 *
 * Layout (little-endian): MAGIC, u32 header length, header JSON, `count` records of RECORD bytes
 * in the manifest's own order, `count` u32 record numbers sorted by (folder, name), `folders`
 * folder rows (path offset, path length, first and end position in that sorted list), then the
 * string table as UTF-8. String offsets count UTF-16 units of the decoded table, so a lookup
 * slices a JS string and never decodes bytes.
 */
const MAGIC = Buffer.from('AIRLMAN2');
const RECORD = 72;
const FOLDER = 16;
const TYPES = ['file', 'symlink', 'dir'] as const;
const HAS_SHA = 1;
const HAS_OFFSET = 2;
const HAS_TARGET = 4;

const headerSchema = z.object({
  version: z.literal(1),
  root: z.string(),
  createdAt: z.string(),
  contentFile: z.string(),
  count: z.number().int().min(0),
  folders: z.number().int().min(0),
  stringBytes: z.number().int().min(0),
});

export class ManifestFormatError extends Error {}

export function isEncodedManifest(data: Buffer): boolean {
  return data.length >= MAGIC.length && data.subarray(0, MAGIC.length).equals(MAGIC);
}

const parentOf = (rel: string) => rel.slice(0, Math.max(0, rel.lastIndexOf('/')));
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function encodeManifest(manifest: SnapshotManifest): Buffer {
  const { entries } = manifest;
  const strings: string[] = [];
  let chars = 0;
  const put = (text: string) => {
    const at = chars;
    strings.push(text);
    chars += text.length;
    return at;
  };
  const records = Buffer.alloc(entries.length * RECORD);
  entries.forEach((entry, index) => {
    const at = index * RECORD;
    records.writeUInt32LE(put(entry.path), at);
    records.writeUInt32LE(entry.path.length, at + 4);
    records[at + 8] = TYPES.indexOf(entry.type);
    let flags = 0;
    if (entry.sha256 !== undefined) {
      flags |= HAS_SHA;
      // Hex writing stops at the first character that is not a digit pair.
      if (entry.sha256.length !== 64 || records.write(entry.sha256, at + 40, 32, 'hex') !== 32) throw new ManifestFormatError(`${entry.path}: sha256 is not 64 hex digits`);
    }
    if (entry.offset !== undefined) {
      flags |= HAS_OFFSET;
      records.writeDoubleLE(entry.offset, at + 24);
    }
    if (entry.target !== undefined) {
      flags |= HAS_TARGET;
      records.writeUInt32LE(put(entry.target), at + 32);
      records.writeUInt32LE(entry.target.length, at + 36);
    }
    records[at + 9] = flags;
    records.writeUInt32LE(entry.mode, at + 12);
    records.writeDoubleLE(entry.size, at + 16);
  });
  // A path listed twice means its last entry, as a Map built from the list would have it.
  const last = new Map<string, number>();
  entries.forEach((entry, index) => last.set(entry.path, index));
  // Sorted folder by folder: many small sorts cost far fewer comparisons than one of every path.
  const byFolder = new Map<string, number[]>();
  for (const index of last.values()) {
    const parent = parentOf(entries[index].path);
    const group = byFolder.get(parent);
    if (group) group.push(index);
    else byFolder.set(parent, [index]);
  }
  const orderBytes = Buffer.alloc(last.size * 4);
  const folderRows: number[][] = [];
  let position = 0;
  for (const parent of [...byFolder.keys()].sort(compare)) {
    const group = byFolder.get(parent)!.sort((a, b) => compare(entries[a].path, entries[b].path));
    folderRows.push([put(parent), parent.length, position, position + group.length]);
    for (const index of group) orderBytes.writeUInt32LE(index, 4 * position++);
  }
  const folders = Buffer.alloc(folderRows.length * FOLDER);
  folderRows.forEach((row, index) => row.forEach((value, field) => folders.writeUInt32LE(value, index * FOLDER + field * 4)));
  const table = Buffer.from(strings.join(''), 'utf8');
  const header = Buffer.from(
    JSON.stringify({ version: 1, root: manifest.root, createdAt: manifest.createdAt, contentFile: manifest.contentFile, count: entries.length, folders: folderRows.length, stringBytes: table.length } satisfies z.infer<typeof headerSchema>),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  const indexed = Buffer.alloc(4);
  indexed.writeUInt32LE(last.size);
  return Buffer.concat([MAGIC, length, header, indexed, records, orderBytes, folders, table]);
}

/** A manifest opened in place: entries are decoded when asked for, by path or by folder. */
export class EncodedManifest {
  readonly root: string;
  readonly createdAt: string;
  readonly contentFile: string;
  /** Records in the manifest's own order. */
  readonly count: number;
  private readonly indexed: number;
  /** Distinct paths (a path listed twice counts once). */
  get indexedCount(): number {
    return this.indexed;
  }
  private readonly records: Buffer;
  private readonly order: Buffer;
  private readonly folders: Buffer;
  private readonly strings: string;

  constructor(data: Buffer) {
    if (!isEncodedManifest(data)) throw new ManifestFormatError('not an encoded manifest');
    let at = MAGIC.length;
    const need = (bytes: number) => {
      if (at + bytes > data.length) throw new ManifestFormatError('the manifest is truncated');
      const start = at;
      at += bytes;
      return start;
    };
    const headerLength = data.readUInt32LE(need(4));
    let header: z.infer<typeof headerSchema>;
    try {
      header = headerSchema.parse(JSON.parse(data.toString('utf8', need(headerLength), at)));
    } catch (error) {
      throw new ManifestFormatError(`the manifest's header is unreadable: ${(error as Error).message}`);
    }
    this.root = header.root;
    this.createdAt = header.createdAt;
    this.contentFile = header.contentFile;
    this.count = header.count;
    this.indexed = data.readUInt32LE(need(4));
    if (this.indexed > this.count) throw new ManifestFormatError('the manifest indexes more entries than it has');
    this.records = data.subarray(need(this.count * RECORD), at);
    this.order = data.subarray(need(this.indexed * 4), at);
    this.folders = data.subarray(need(header.folders * FOLDER), at);
    this.strings = data.toString('utf8', need(header.stringBytes), at);
    if (at !== data.length) throw new ManifestFormatError('the manifest has bytes past its end');
  }

  private text(offset: number, length: number): string {
    if (offset + length > this.strings.length) throw new ManifestFormatError('a manifest string is out of bounds');
    return this.strings.slice(offset, offset + length);
  }

  private recordAt(position: number): number {
    const index = this.order.readUInt32LE(position * 4);
    if (index >= this.count) throw new ManifestFormatError('a manifest index row is out of bounds');
    return index;
  }

  private pathOf(index: number): string {
    return this.text(this.records.readUInt32LE(index * RECORD), this.records.readUInt32LE(index * RECORD + 4));
  }

  /** The entry at a record number. */
  entryAt(index: number): ManifestEntry {
    const at = index * RECORD;
    const type = TYPES[this.records[at + 8]] as ManifestEntry['type'] | undefined;
    if (!type) throw new ManifestFormatError('a manifest record has an unknown type');
    const flags = this.records[at + 9];
    const entry: ManifestEntry = { path: this.pathOf(index), type, mode: this.records.readUInt32LE(at + 12), size: this.records.readDoubleLE(at + 16) };
    if (flags & HAS_SHA) entry.sha256 = this.records.toString('hex', at + 40, at + 72);
    if (flags & HAS_OFFSET) entry.offset = this.records.readDoubleLE(at + 24);
    if (flags & HAS_TARGET) entry.target = this.text(this.records.readUInt32LE(at + 32), this.records.readUInt32LE(at + 36));
    return entry;
  }

  /** The [start, end) positions of a folder's direct children in the sorted list, when it has any. */
  private folderRange(folder: string): [number, number] | undefined {
    let low = 0;
    let high = this.folders.length / FOLDER;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const at = middle * FOLDER;
      const name = this.text(this.folders.readUInt32LE(at), this.folders.readUInt32LE(at + 4));
      if (name === folder) {
        const start = this.folders.readUInt32LE(at + 8);
        const end = this.folders.readUInt32LE(at + 12);
        if (start > end || end > this.indexed) throw new ManifestFormatError('a manifest folder row is out of bounds');
        return [start, end];
      }
      if (name < folder) low = middle + 1;
      else high = middle;
    }
    return undefined;
  }

  /** The record number of a path, or -1. */
  find(rel: string): number {
    const range = this.folderRange(parentOf(rel));
    if (!range) return -1;
    let [low, high] = range;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const index = this.recordAt(middle);
      const found = this.pathOf(index);
      if (found === rel) return index;
      if (found < rel) low = middle + 1;
      else high = middle;
    }
    return -1;
  }

  /** The direct children of a folder ('' for the root), by name. */
  children(folder: string): ManifestEntry[] {
    const range = this.folderRange(folder);
    const found: ManifestEntry[] = [];
    if (range) for (let position = range[0]; position < range[1]; position++) found.push(this.entryAt(this.recordAt(position)));
    return found;
  }

  /** Every path once, as a Map built from the manifest would hold them. */
  *indexedEntries(): Generator<ManifestEntry> {
    for (let position = 0; position < this.indexed; position++) yield this.entryAt(this.recordAt(position));
  }

  /**
   * An entry holding each of these contents, found by comparing raw hashes: no hex string
   * is made for the many entries that match none.
   */
  entriesBySha(shas: ReadonlySet<string>): Map<string, ManifestEntry> {
    const found = new Map<string, ManifestEntry>();
    if (shas.size === 0) return found;
    const byHead = new Map<number, Buffer[]>();
    for (const sha of shas) {
      const raw = Buffer.from(sha, 'hex');
      if (raw.length !== 32) continue;
      byHead.set(raw.readUInt32LE(0), [...(byHead.get(raw.readUInt32LE(0)) ?? []), raw]);
    }
    for (let index = 0; index < this.count && found.size < shas.size; index++) {
      const at = index * RECORD;
      if (this.records[at + 8] !== 0 || !(this.records[at + 9] & HAS_SHA)) continue;
      const candidates = byHead.get(this.records.readUInt32LE(at + 40));
      if (!candidates) continue;
      for (const raw of candidates) {
        if (!raw.equals(this.records.subarray(at + 40, at + 72))) continue;
        const sha = raw.toString('hex');
        if (!found.has(sha)) found.set(sha, this.entryAt(index));
      }
    }
    return found;
  }

  decode(): SnapshotManifest {
    const entries: ManifestEntry[] = new Array<ManifestEntry>(this.count);
    for (let index = 0; index < this.count; index++) entries[index] = this.entryAt(index);
    return { version: 1, root: this.root, createdAt: this.createdAt, contentFile: this.contentFile, entries };
  }
}
