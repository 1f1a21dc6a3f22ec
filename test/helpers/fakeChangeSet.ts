import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplyJournal } from '../../src/core/changes/applyJournal.js';
import { BlobStore } from '../../src/core/changes/blobStore.js';
import { buildChangeSet, type ChangeContent, type ScannedNode, type ScanResult } from '../../src/core/changes/buildChangeSet.js';
import type { ChangeSet, NodeKind } from '../../src/core/changes/changeSet.js';
import { riskClassifier } from '../../src/core/changes/riskRules.js';
import { BaseSnapshot, type ManifestEntry, type SnapshotManifest } from '../../src/core/snapshot/snapshotManifest.js';
import { makeTempDir } from './tempWorkspace.js';

/**
 * Fixtures for the host-side changes core: a real base snapshot on disk (manifest.json plus one
 * content file with every file's bytes back to back), a blob store for the container's bytes, scans
 * described as "the container now", and host workspaces laid out like the base.
 *
 * Temp dirs come from tempWorkspace's makeTempDir; call removeTempDirs() from an `after` hook.
 */

export type TreeNode =
  | { content: Buffer | string; mode?: number }
  | { symlink: string }
  | { dir: true; mode?: number }
  /** A device, fifo or socket, as the scan reports it (only meaningful in a container description). */
  | { other: true; mode?: number };

/** `relative path → node`. Parent directories not named are implied (mode 0o755). */
export type Tree = Record<string, TreeNode>;

export const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const bytesOf = (content: Buffer | string) => (typeof content === 'string' ? Buffer.from(content) : content);

/** The tree with every implied parent directory added, sorted by path. */
function withParents(tree: Tree): Array<[string, TreeNode]> {
  const all = new Map<string, TreeNode>(Object.entries(tree));
  for (const rel of Object.keys(tree)) {
    const parts = rel.split('/');
    for (let index = 1; index < parts.length; index++) {
      const dir = parts.slice(0, index).join('/');
      if (!all.has(dir)) all.set(dir, { dir: true });
    }
  }
  return [...all.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function kindOf(node: TreeNode): NodeKind {
  if ('content' in node) return 'file';
  if ('symlink' in node) return 'symlink';
  if ('dir' in node) return 'dir';
  return 'other';
}

export interface Fixture {
  /** Temp dir holding manifest.json, content.bin, blobs/ and journal/. */
  dir: string;
  baseTree: Tree;
  base: BaseSnapshot;
  blobs: BlobStore;
  content: ChangeContent;
  journal: ApplyJournal;
}

/** Writes a real base snapshot (content file + manifest.json) for `tree` and opens it. */
export function fakeBase(tree: Tree): Fixture {
  const dir = makeTempDir('airlock-changes-');
  const contentFile = path.join(dir, 'content.bin');
  const chunks: Buffer[] = [];
  let offset = 0;
  const entries: ManifestEntry[] = [];
  for (const [rel, node] of withParents(tree)) {
    if ('content' in node) {
      const bytes = bytesOf(node.content);
      entries.push({ path: rel, type: 'file', mode: node.mode ?? 0o644, size: bytes.length, sha256: sha256(bytes), offset });
      chunks.push(bytes);
      offset += bytes.length;
    } else if ('symlink' in node) {
      entries.push({ path: rel, type: 'symlink', mode: 0o777, size: Buffer.byteLength(node.symlink), target: node.symlink });
    } else if ('dir' in node) {
      entries.push({ path: rel, type: 'dir', mode: node.mode ?? 0o755, size: 0 });
    } else {
      throw new Error(`${rel}: a base snapshot holds only files, dirs and symlinks`);
    }
  }
  fs.writeFileSync(contentFile, Buffer.concat(chunks));
  const manifest: SnapshotManifest = { version: 1, root: '/workspace', createdAt: new Date().toISOString(), contentFile, entries };
  const manifestFile = path.join(dir, 'manifest.json');
  fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
  const base = BaseSnapshot.load(manifestFile);
  const blobs = new BlobStore(path.join(dir, 'blobs'));
  const content: ChangeContent = {
    base,
    blob(sha, limit) {
      if (!blobs.has(sha)) return undefined;
      const bytes = blobs.read(sha);
      return limit === undefined ? bytes : bytes.subarray(0, limit);
    },
  };
  return { dir, baseTree: tree, base, blobs, content, journal: new ApplyJournal(path.join(dir, 'journal')) };
}

export interface ScanExtras {
  /** Base paths that are gone (added to those computed from the tree when using `scanOfTree`). */
  gone?: string[];
  unreadable?: string[];
  /** Per path: a size to report instead of the real one (e.g. over the file limit). */
  size?: Record<string, number>;
  /** Per path: do not put the bytes into the blob store (content "could not be read"). */
  withoutBlob?: string[];
  /** Per path: report no sha256 at all. */
  withoutSha?: string[];
  /** Per path: hard-link count. */
  links?: Record<string, number>;
}

/** A ScanResult listing exactly `nodes` (file bytes go into the blob store) and `extras.gone`. */
export function scanOf(fixture: Fixture, nodes: Tree, extras: ScanExtras = {}): ScanResult {
  const scanned: ScannedNode[] = [];
  for (const [rel, node] of Object.entries(nodes)) {
    const kind = kindOf(node);
    const item: ScannedNode = { path: rel, kind, mode: 0, size: 0 };
    if ('content' in node) {
      const bytes = bytesOf(node.content);
      item.mode = node.mode ?? 0o644;
      item.size = bytes.length;
      if (!extras.withoutSha?.includes(rel)) item.sha256 = sha256(bytes);
      if (!extras.withoutBlob?.includes(rel)) fixture.blobs.put(bytes);
    } else if ('symlink' in node) {
      item.mode = 0o777;
      item.size = Buffer.byteLength(node.symlink);
      item.target = node.symlink;
    } else if ('dir' in node) {
      item.mode = node.mode ?? 0o755;
    } else {
      item.mode = node.mode ?? 0o644;
    }
    if (extras.size?.[rel] !== undefined) item.size = extras.size[rel];
    if (extras.links?.[rel] !== undefined) item.links = extras.links[rel];
    scanned.push(item);
  }
  return { method: 'scanner', entries: scanned.length, ms: 1, nodes: scanned, gone: extras.gone ?? [], unreadable: extras.unreadable ?? [] };
}

/**
 * A ScanResult for "the container now is exactly `now`": every node of `now` (implied parents
 * included) is reported, and every base path missing from `now` is gone.
 */
export function scanOfTree(fixture: Fixture, now: Tree, extras: ScanExtras = {}): ScanResult {
  const full = Object.fromEntries(withParents(now));
  const gone = fixture.base.manifest.entries.map((entry) => entry.path).filter((rel) => !(rel in full));
  return scanOf(fixture, full, { ...extras, gone: [...gone, ...(extras.gone ?? [])] });
}

export interface ChangeSetOptionsLike {
  maxFileBytes?: number;
  riskyPatterns?: string[];
}

/** buildChangeSet over `scan` with the built-in risk rules. */
export function changeSetOf(fixture: Fixture, scan: ScanResult, options: ChangeSetOptionsLike = {}): ChangeSet {
  return buildChangeSet(scan, fixture.content, { task: 't1', risk: riskClassifier(options.riskyPatterns ?? []), maxFileBytes: options.maxFileBytes ?? 64 * 1024 * 1024 });
}

/** The change set for "the base was `fixture.baseTree`, the container now is `now`". */
export function changeSetFor(fixture: Fixture, now: Tree, options: ChangeSetOptionsLike & ScanExtras = {}): ChangeSet {
  return changeSetOf(fixture, scanOfTree(fixture, now, options), options);
}

/** Writes `tree` under `root` (files with their modes, symlinks, dirs), creating parents. */
export function writeTree(root: string, tree: Tree): void {
  for (const [rel, node] of withParents(tree)) {
    const target = path.join(root, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if ('content' in node) {
      fs.writeFileSync(target, node.content);
      fs.chmodSync(target, node.mode ?? 0o644);
    } else if ('symlink' in node) {
      fs.symlinkSync(node.symlink, target);
    } else if ('dir' in node) {
      fs.mkdirSync(target, { recursive: true });
      fs.chmodSync(target, node.mode ?? 0o755);
    } else {
      throw new Error(`${rel}: cannot create an 'other' node in a host workspace`);
    }
  }
}

/** A host workspace folder in a fresh temp dir, laid out exactly like the fixture's base. */
export function hostWorkspace(fixture: Fixture, tree: Tree = fixture.baseTree): string {
  const root = makeTempDir('airlock-host-');
  writeTree(root, tree);
  return root;
}

export type HostEntry = { kind: 'file'; mode: number; content: string } | { kind: 'symlink'; target: string } | { kind: 'dir'; mode: number };

/**
 * Everything under `root` as `relative path → entry` (lstat, never following links), with file
 * content as UTF-8 text so assertion diffs stay readable.
 */
export function snapshotHost(root: string): Record<string, HostEntry> {
  const out: Record<string, HostEntry> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      const full = path.join(root, child);
      const stat = fs.lstatSync(full);
      if (stat.isSymbolicLink()) out[child] = { kind: 'symlink', target: fs.readlinkSync(full) };
      else if (stat.isDirectory()) {
        out[child] = { kind: 'dir', mode: stat.mode & 0o7777 };
        walk(child);
      } else out[child] = { kind: 'file', mode: stat.mode & 0o7777, content: fs.readFileSync(full).toString('utf8') };
    }
  };
  walk('');
  return out;
}

/** What `snapshotHost` should return for a host laid out exactly as `tree` (implied parents 0o755). */
export function expectedHost(tree: Tree): Record<string, HostEntry> {
  const out: Record<string, HostEntry> = {};
  for (const [rel, node] of withParents(tree)) {
    if ('content' in node) out[rel] = { kind: 'file', mode: node.mode ?? 0o644, content: bytesOf(node.content).toString('utf8') };
    else if ('symlink' in node) out[rel] = { kind: 'symlink', target: node.symlink };
    else if ('dir' in node) out[rel] = { kind: 'dir', mode: node.mode ?? 0o755 };
    else throw new Error(`${rel}: a host holds no 'other' nodes here`);
  }
  return out;
}
