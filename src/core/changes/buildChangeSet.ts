import type { BaseSnapshot, ManifestEntry } from '../snapshot/snapshotManifest.js';
import { symlinkTargetInside, unsafePathReason } from './changePath.js';
import type { ChangeSet, FileChange, NodeKind, NodeState } from './changeSet.js';
import type { RiskClassifier } from './riskRules.js';
import { diffableText, filePatch, isBinary, TEXT_DIFF_LIMIT } from './textDiff.js';

/** One path as the scan found it in the container now (only paths that may differ from the base). */
export interface ScannedNode {
  path: string;
  kind: NodeKind;
  mode: number;
  size: number;
  /** Present for regular files within the size limit. */
  sha256?: string;
  target?: string;
  /** Hard-link count, to tell reviewers the link itself does not carry across. */
  links?: number;
}

export interface ScanResult {
  method: 'scanner' | 'archive';
  /** Entries looked at in the container. */
  entries: number;
  ms: number;
  nodes: ScannedNode[];
  /** Base paths that no longer exist. */
  gone: string[];
  /** Names that cannot be represented (not UTF-8), shown escaped and never applied. */
  unreadable: string[];
}

export interface ChangeContent {
  base: BaseSnapshot;
  /** The container's bytes for a sha256 the scan reported (or their first `limit`), when fetched. */
  blob(sha: string, limit?: number): Buffer | undefined;
}

export interface ChangeSetOptions {
  task: string;
  risk: RiskClassifier;
  maxFileBytes: number;
}

const stateOfBase = (entry: ManifestEntry): NodeState => ({ kind: entry.type, mode: entry.mode, size: entry.size, sha256: entry.sha256, target: entry.target });
const stateOfNode = (node: ScannedNode): NodeState => ({ kind: node.kind, mode: node.mode, size: node.size, sha256: node.sha256, target: node.target });

/** Equal as far as apply is concerned: same kind, same bytes or target, same exec bit. */
function sameContent(before: NodeState, after: NodeState): boolean {
  if (before.kind !== after.kind) return false;
  if (before.kind === 'dir') return true;
  if (before.kind === 'symlink') return before.target === after.target;
  if (before.kind === 'file') return before.sha256 !== undefined && before.sha256 === after.sha256 && Boolean(before.mode & 0o111) === Boolean(after.mode & 0o111);
  return false;
}

/**
 * Compares the scan with the base snapshot and describes every difference: status, rename by
 * content, binary or text, hunk count, risk and what can never be applied. Directories appear
 * only where they matter: a file↔dir type change, a removed directory, or a new empty one.
 */
export function buildChangeSet(scan: ScanResult, content: ChangeContent, options: ChangeSetOptions): ChangeSet {
  const { base } = content;
  const current = new Map(scan.nodes.map((node) => [node.path, node]));
  const added: FileChange[] = [];
  const deleted: FileChange[] = [];
  const others: FileChange[] = [];
  // A function, not an object: every change needs arrays of its own.
  const blank = () => ({ binary: false, hunks: 0, risk: [] as string[], notes: [] as string[] });
  const parents = new Set<string>();
  for (const node of scan.nodes) for (let cut = node.path.lastIndexOf('/'); cut > 0; cut = node.path.lastIndexOf('/', cut - 1)) parents.add(node.path.slice(0, cut));

  for (const node of scan.nodes) {
    const entry = base.entries.get(node.path);
    const after = stateOfNode(node);
    if (!entry) {
      // New directories are implied by the files in them; only an empty one is a change of its own.
      if (node.kind === 'dir' && parents.has(node.path)) continue;
      added.push({ path: node.path, status: 'added', after, ...blank() });
      continue;
    }
    const before = stateOfBase(entry);
    if (sameContent(before, after)) continue;
    others.push({ path: node.path, status: before.kind === after.kind ? 'modified' : 'typechange', before, after, ...blank() });
  }
  for (const rel of scan.gone) {
    const entry = base.entries.get(rel);
    if (entry) deleted.push({ path: rel, status: 'deleted', before: stateOfBase(entry), ...blank() });
  }

  const files = [...others, ...pairRenames(added, deleted)];
  for (const rel of scan.unreadable) files.push({ path: rel, status: 'added', ...blank(), refusal: 'the name is not valid UTF-8; rename it inside the task' });
  for (const change of files) describe(change, current.get(change.path), content, options);
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { version: 1, task: options.task, createdAt: new Date().toISOString(), files, scan: { method: scan.method, entries: scan.entries, reported: scan.nodes.length + scan.gone.length, ms: scan.ms } };
}

/** A deleted file and an added one with the same bytes are a rename (same base name preferred). */
function pairRenames(added: FileChange[], deleted: FileChange[]): FileChange[] {
  const bySha = new Map<string, FileChange[]>();
  for (const change of deleted) {
    const sha = change.before?.kind === 'file' ? change.before.sha256 : undefined;
    if (sha) bySha.set(sha, [...(bySha.get(sha) ?? []), change]);
  }
  const used = new Set<FileChange>();
  const result: FileChange[] = [];
  for (const change of added) {
    const sha = change.after?.kind === 'file' ? change.after.sha256 : undefined;
    const candidates = (sha ? bySha.get(sha) ?? [] : []).filter((candidate) => !used.has(candidate));
    const baseName = (rel: string) => rel.slice(rel.lastIndexOf('/') + 1);
    const match = candidates.find((candidate) => baseName(candidate.path) === baseName(change.path)) ?? candidates[0];
    if (!match) {
      result.push(change);
      continue;
    }
    used.add(match);
    result.push({ ...change, status: 'renamed', oldPath: match.path, before: match.before });
  }
  return [...result, ...deleted.filter((change) => !used.has(change))];
}

/** Large files are judged by their head only: never read 200 MB to decide "binary". */
function sample(state: NodeState | undefined, read: (limit?: number) => Buffer | undefined): { bytes?: Buffer; binary: boolean } {
  if (state?.kind !== 'file') return { binary: false };
  if (state.size > TEXT_DIFF_LIMIT) return { binary: read(8000)?.includes(0) ?? false };
  const bytes = read();
  return { bytes, binary: bytes !== undefined && isBinary(bytes) };
}

function describe(change: FileChange, node: ScannedNode | undefined, content: ChangeContent, options: ChangeSetOptions): void {
  const { before, after } = change;
  const oldPath = change.oldPath ?? change.path;
  const old = sample(before, (limit) => content.base.bytes(oldPath, limit));
  const now = sample(after, (limit) => (after?.sha256 ? content.blob(after.sha256, limit) : undefined));
  const afterBytes = now.bytes;
  change.binary = old.binary || now.binary;
  // '' for a side that does not exist; undefined for a side that is not diffable text.
  const beforeText = before?.kind === 'file' ? (old.bytes ? diffableText(old.bytes) : undefined) : before ? undefined : '';
  const afterText = after?.kind === 'file' ? (afterBytes ? diffableText(afterBytes) : undefined) : after ? undefined : '';
  if (beforeText !== undefined && afterText !== undefined && (before?.kind === 'file' || after?.kind === 'file')) {
    change.hunks = filePatch(oldPath, change.path, beforeText, afterText).hunks.length;
  }
  change.risk = options.risk({ change, beforeText: beforeText || undefined, afterText });

  const refusal = unsafePathReason(change.path) ?? (change.oldPath !== undefined ? unsafePathReason(change.oldPath) : undefined);
  if (refusal) change.refusal = change.refusal ?? refusal;
  if (after?.kind === 'symlink' && symlinkTargetInside(change.path, after.target ?? '') === undefined) change.refusal = `a symlink that points outside the workspace (${after.target})`;
  if (after?.kind === 'other') change.refusal = 'a device, fifo or socket: only regular files, directories and symlinks cross back';
  if (after?.kind === 'file' && after.size > options.maxFileBytes) {
    change.refusal = overFileLimit(after.size, options.maxFileBytes);
  } else if (after?.kind === 'file' && !(after.sha256 && content.blob(after.sha256, 0)) && !change.refusal) {
    change.refusal = 'its content could not be read from the task';
  }
  if (after && after.mode & 0o7000) change.notes.push('setuid/setgid/sticky bits are stripped on apply');
  if (node?.links && node.links > 1) change.notes.push('a hard link in the task; applied as an independent copy');
}

/** The end of an over-the-limit refusal: what a person does to take the file, in neutral words. */
export const RAISE_FILE_LIMIT = ' (raise the limit to take it)';

/** The refusal of a file over the per-file size limit. */
export function overFileLimit(size: number, limit: number): string {
  return `${formatBytes(size)} is over the per-file limit of ${formatBytes(limit)}${RAISE_FILE_LIMIT}`;
}

/**
 * Whether a change's refusal is the over-the-limit one, for front ends that name their own way to
 * raise the limit. Sizes are the only variable part, so no box-chosen name or target can pass.
 */
export function isOverFileLimit(refusal: string | undefined): boolean {
  return refusal !== undefined && /^\d+(?:\.\d)? (?:B|KB|MB) is over the per-file limit of \d+(?:\.\d)? (?:B|KB|MB) \(raise the limit to take it\)$/.test(refusal);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) ? 1 : 0)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(bytes % 1024 ? 1 : 0)} KB`;
  return `${bytes} B`;
}
