import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as TarFs from 'tar-fs';
import type { Header as Headers, Pack } from 'tar-stream';
import type { GitMetadata } from './gitMetadata.js';
import { writeManifest, type ManifestEntry, type SnapshotManifest } from './snapshotManifest.js';
import type { WorkspaceListing } from './workspaceListing.js';

export interface PackOptions {
  uid: number;
  gid: number;
  /** Where to record the base snapshot on the host (manifest + content). */
  manifestFile: string;
  contentFile: string;
  /** Called as the copy goes: workspace files (and links) and content bytes done so far. */
  onCopied?: (files: number, bytes: number) => void;
  /**
   * A folder inside the extraction path that the workspace goes into (an overlay's upper layer)
   * instead of the extraction path itself; the manifest's paths stay workspace-relative.
   */
  prefix?: string;
  /**
   * Where this content file's first byte will sit once it is appended to another (a copy of a
   * base's content): the manifest's offsets count from there.
   */
  contentOffset?: number;
  /** Paths an overlay must show as gone: written as whiteouts (character devices 0/0) under `prefix`. */
  whiteouts?: readonly string[];
  /** Empty folders next to `prefix` (an overlay's work folder). */
  siblingDirs?: readonly string[];
}

/**
 * The content bytes a listing will copy, for a progress total. Read while the container is being
 * created, so it costs the start nothing; a file that changes size meanwhile only makes the bar
 * end a little early or late, never the copy wrong (the packer reads what is there).
 */
export async function listingBytes(listing: WorkspaceListing, signal?: AbortSignal): Promise<number> {
  const files = [...listing.files];
  let total = 0;
  const batch = 256;
  for (let start = 0; start < files.length; start += batch) {
    if (signal?.aborted) break;
    const sizes = await Promise.all(files.slice(start, start + batch).map((rel) => fs.promises.lstat(path.join(listing.root, rel)).then((stat) => (stat.isFile() ? stat.size : 0), () => 0)));
    for (const size of sizes) total += size;
  }
  return total;
}

export interface PackResult {
  files: number;
  bytes: number;
  manifest: SnapshotManifest;
}

const toPosix = (rel: string) => rel.split(path.sep).join('/');

/**
 * The fs tar-fs walks with. Workspaces are mostly many small files, and three thread-pool round
 * trips per file (open, read, close) made packing the slow half of `start`; reading each small file
 * with one synchronous call, while callbacks stay asynchronous, packs 10,000 files several times
 * faster. Large files still stream.
 */
const SMALL_FILE = 4 * 1024 * 1024;
const later = <T>(work: () => T, callback: (error: Error | null, value?: T) => void) =>
  queueMicrotask(() => {
    let value: T;
    try {
      value = work();
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, value);
  });
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** Exactly the size the header announced (never more, even if the file grew since it was stat'ed), from a regular file. */
function openRegular(file: string): number {
  const fd = fs.openSync(file, READ_FLAGS);
  if (fs.fstatSync(fd).isFile()) return fd;
  fs.closeSync(fd);
  throw new Error(`${file} is no longer a regular file`);
}

function readExactly(file: string, size: number): Buffer {
  const fd = openRegular(file);
  try {
    const buffer = Buffer.alloc(size);
    let length = 0;
    for (let count; length < size && (count = fs.readSync(fd, buffer, length, size - length, null)) > 0; ) length += count;
    return buffer.subarray(0, length);
  } finally {
    fs.closeSync(fd);
  }
}

const quickFs = {
  lstat: (file: string, callback: (error: Error | null, stat?: fs.Stats) => void) => later(() => fs.lstatSync(file), callback),
  stat: (file: string, callback: (error: Error | null, stat?: fs.Stats) => void) => later(() => fs.statSync(file), callback),
  readdir: (dir: string, callback: (error: Error | null, names?: string[]) => void) => later(() => fs.readdirSync(dir), callback),
  readlink: (file: string, callback: (error: Error | null, target?: string) => void) => later(() => fs.readlinkSync(file), callback),
  createReadStream: (file: string, options: { start: number; end: number }): Readable => {
    const size = options.end + 1;
    // A file swapped for a FIFO or a symlink since it was listed fails here instead of hanging or leading out.
    try {
      if (size > SMALL_FILE) return fs.createReadStream(file, { ...options, fd: openRegular(file) });
      return Readable.from([readExactly(file, size)], { objectMode: false });
    } catch (error) {
      return new Readable({ read() { this.destroy(error as Error); } });
    }
  },
};
/** Permission bits only: setuid, setgid and sticky never cross into the sandbox. */
const permissionBits = (mode: number | undefined) => (mode ?? 0o644) & 0o777;

/**
 * The archive's entry for the workspace root. When the image has no /workspace, the engine makes
 * the volume's root folder owned by root, and the sandbox user could not create a file at the top
 * of its own workspace. The engine's unpacker (moby pkg/archive) skips an entry that cleans to "."
 * ("." and "./" alike) but applies owner, mode and times of an entry named "/" to the extraction
 * folder itself, which here is the volume root. Extracting at "/" with "workspace/…" names would
 * do the same but is refused for a read-only root filesystem, since "/" is not in a volume.
 */
const WORKSPACE_ROOT_ENTRY = '/';

/**
 * Streams the listed workspace (plus the fresh .git) as one tar, owned by the sandbox user, while
 * hashing every file and keeping its bytes in the host-side base content file. One read of each
 * file serves the container, the hash and the base copy.
 */
export function packSnapshot(listing: WorkspaceListing, gitMeta: GitMetadata | undefined, options: PackOptions): { stream: Readable; done: Promise<PackResult> } {
  const root = path.resolve(listing.root);
  const entries: ManifestEntry[] = [];
  // A deep buffer: the base copy goes to the host's disk while the engine unpacks the same bytes,
  // and a slow state disk should not throttle the copy into the sandbox.
  const content = fs.createWriteStream(options.contentFile, { mode: 0o600, highWaterMark: 64 * 1024 * 1024 });
  let offset = options.contentOffset ?? 0;
  const prefix = options.prefix ? `${options.prefix}/` : '';
  const unprefixed = (name: string) => (prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name);
  let bytes = 0;
  let copiedFiles = 0;
  let copiedBytes = 0;

  const owned = (header: Partial<Headers>): Headers => ({ mtime: new Date(), ...header, uid: options.uid, gid: options.gid, uname: '', gname: '', mode: permissionBits(header.mode) }) as Headers;

  const keep = (absolute: string) => {
    const rel = toPosix(path.relative(root, absolute));
    return !(listing.files.has(rel) || listing.dirs.has(rel));
  };

  const map = (header: Headers): Headers => {
    const rel = header.name === '.' ? '' : header.name;
    const mapped = owned(header);
    if (!rel) return { ...mapped, name: options.prefix ?? WORKSPACE_ROOT_ENTRY, mode: 0o755 };
    if (header.type === 'directory') entries.push({ path: rel, type: 'dir', mode: mapped.mode ?? 0o755, size: 0 });
    if (prefix) mapped.name = prefix + rel;
    // tar-fs reads the link after map(), so the target is read here for the manifest.
    if (header.type === 'symlink') {
      entries.push({ path: rel, type: 'symlink', mode: 0o777, size: 0, target: fs.readlinkSync(path.join(root, rel)) });
      options.onCopied?.(++copiedFiles, copiedBytes);
    }
    return mapped;
  };

  const mapStream = (fileStream: Readable, header: Headers): Readable => {
    const hash = createHash('sha256');
    const entry: ManifestEntry = { path: unprefixed(header.name), type: 'file', mode: permissionBits(header.mode), size: header.size ?? 0, offset };
    offset += entry.size;
    bytes += entry.size;
    entries.push(entry);
    const tee = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        copiedBytes += chunk.length;
        options.onCopied?.(copiedFiles, copiedBytes);
        if (content.write(chunk)) callback(null, chunk);
        else content.once('drain', () => callback(null, chunk));
      },
      flush(callback) {
        entry.sha256 = hash.digest('hex');
        options.onCopied?.(++copiedFiles, copiedBytes);
        callback();
      },
    });
    return fileStream.pipe(tee);
  };

  let resolveDone!: (result: PackResult) => void;
  let rejectDone!: (error: Error) => void;
  const done = new Promise<PackResult>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  const finish = (pack: Pack) => {
    appendGit(pack, gitMeta, owned, prefix)
      .then(() => appendLayerEntries(pack, options, owned))
      .then(() => {
        pack.finalize();
        content.end();
        return new Promise<void>((resolve, reject) => content.once('close', resolve).once('error', reject));
      })
      .then(() => {
        const manifest: SnapshotManifest = { version: 1, root, createdAt: new Date().toISOString(), contentFile: options.contentFile, entries };
        writeManifest(options.manifestFile, manifest, { fresh: true });
        resolveDone({ files: entries.filter((entry) => entry.type !== 'dir').length, bytes, manifest });
      })
      .catch((error: Error) => {
        pack.destroy(error);
        rejectDone(error);
      });
  };

  const stream = new PassThrough();
  // tar-fs loads with the first copy rather than with the core; the caller gets the stream now
  // and the archive flows into it once the packer is there.
  import('tar-fs')
    .then((tarFs: typeof TarFs) => {
      // tar-fs's typings are narrower than its runtime (linkname, any Readable from mapStream).
      const pack = tarFs.pack(root, {
        ignore: keep,
        map: map as unknown as TarFs.PackOptions['map'],
        mapStream: mapStream as unknown as TarFs.PackOptions['mapStream'],
        finalize: false,
        finish,
        strict: false,
        fs: quickFs,
      } as TarFs.PackOptions);
      pack.on('error', (error: Error) => rejectDone(error));
      pack.pipe(stream);
    })
    .catch((error: Error) => {
      content.destroy();
      rejectDone(error);
      stream.destroy(error);
    });
  return { stream, done };
}

const addEntry = (pack: Pack, header: Headers, body?: Buffer) =>
  new Promise<void>((resolve, reject) => pack.entry(header, body ?? null as unknown as Buffer, (error?: Error | null) => (error ? reject(error) : resolve())));

/**
 * An overlay's own entries: whiteouts hide base paths the workspace no longer has, and the work
 * folder sits beside the upper one. Written only while no overlay is mounted on these folders.
 */
async function appendLayerEntries(pack: Pack, options: PackOptions, owned: (header: Partial<Headers>) => Headers): Promise<void> {
  for (const dir of options.siblingDirs ?? []) await addEntry(pack, { ...owned({ name: dir, type: 'directory' }), mode: 0o700 });
  // Each whiteout's folder is in the packed listing, so it already has its own mode and owner.
  for (const rel of options.whiteouts ?? []) await addEntry(pack, { ...owned({ name: `${options.prefix ?? ''}/${rel}`.replace(/^\//, ''), type: 'character-device', devmajor: 0, devminor: 0 }), mode: 0 });
}

async function appendGit(pack: Pack, gitMeta: GitMetadata | undefined, owned: (header: Partial<Headers>) => Headers, prefix = ''): Promise<void> {
  if (!gitMeta) return;
  const made = new Set<string>();
  const entry = (header: Partial<Headers>, body?: Buffer) => addEntry(pack, owned({ ...header, name: prefix + (header.name ?? '') }), body);
  const ensureDir = async (rel: string) => {
    const parts = rel.split('/');
    for (let index = 1; index <= parts.length; index++) {
      const dir = parts.slice(0, index).join('/');
      if (made.has(dir)) continue;
      made.add(dir);
      await entry({ name: `.git/${dir}`, type: 'directory', mode: 0o755 });
    }
  };
  await entry({ name: '.git', type: 'directory', mode: 0o755 });
  for (const dir of gitMeta.dirs) await ensureDir(dir);
  for (const item of gitMeta.entries) {
    const parent = path.posix.dirname(item.name);
    if (parent !== '.') await ensureDir(parent);
    if ('content' in item) {
      await entry({ name: `.git/${item.name}`, type: 'file', mode: 0o644, size: item.content.length }, item.content);
    } else {
      const sink = pack.entry(owned({ name: `${prefix}.git/${item.name}`, type: 'file', mode: 0o444, size: item.size }));
      await pipeline(fs.createReadStream(item.file, { start: 0, end: Math.max(0, item.size - 1) }), sink);
    }
  }
}
