import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type * as tarStream from 'tar-stream';
import { AirlockError, CancelledError } from '../ground/errors.js';
import type { BaseSnapshot } from '../snapshot/snapshotManifest.js';
import type { BlobStore } from './blobStore.js';
import type { ScannedNode, ScanResult } from './buildChangeSet.js';
import { blobsFromBase } from './workspaceScanner.js';

const KIND: Record<string, ScannedNode['kind']> = { file: 'file', 'contiguous-file': 'file', directory: 'dir', symlink: 'symlink' };

/**
 * What one archive scan may take in. The box chooses the tree, so its size must not decide how much
 * host memory (one record per entry, each with its path) a diff uses; host disk is the blob
 * store's budget. The entry limit is the in-container scanner's; paths are Linux's PATH_MAX, the
 * in-container scanner's limit too. tar-stream itself caps pax and long-name headers at 4 MiB, and
 * a file's body is never held whole unless it is under the per-file limit.
 */
export interface ArchiveLimits {
  maxEntries: number;
  maxPathBytes: number;
}
export const ARCHIVE_LIMITS: ArchiveLimits = { maxEntries: 5_000_000, maxPathBytes: 4096 };

const IN_MEMORY_BYTES = 8 * 1024 * 1024;

const NOT_BEHAVING = 'Stop the task; it is not behaving (or keep the workspace smaller than this).';

/**
 * The fallback for images without node: the engine streams the whole workspace out as a tar and
 * the host compares every file by hash. Exact, but its cost grows with the workspace, which is why
 * the in-container scanner is the default.
 */
export async function scanWithArchive(container: Docker.Container, base: BaseSnapshot, blobs: BlobStore, maxFileBytes: number, signal?: AbortSignal, limits: ArchiveLimits = ARCHIVE_LIMITS): Promise<ScanResult> {
  const started = Date.now();
  const archive = (await container.getArchive({ path: '/workspace/.' })) as unknown as Readable;
  const extract = (await import('tar-stream')).extract();
  const nodes: ScannedNode[] = [];
  const unreadable: string[] = [];
  const seen = new Set<string>();
  // Files met so far, for hard links: the tar carries a second name as a "link" to the first.
  const files = new Map<string, { size: number; sha256: string }>();
  let entries = 0;
  let allEntries = 0;
  const onAbort = () => extract.destroy(new CancelledError());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      // Stops reading at the first refusal; the archive is closed below.
      const refuse = (error: Error) => {
        reject(error);
        archive.unpipe(extract);
        archive.destroy();
        extract.destroy();
      };
      // Anything thrown in a listener would escape the stream and end the host process.
      extract.on('entry', (header, body, next) => {
        try {
          onEntry(header, body, next);
        } catch (error) {
          refuse(error as Error);
        }
      });
      const onEntry = (...[header, body, next]: tarStream.ExtractEvents['entry']) => {
        const rel = header.name.replace(/^\.?\/?/, '').replace(/\/$/, '');
        const done = (error?: Error) => (error ? reject(error) : next());
        if (++allEntries > limits.maxEntries) return refuse(new AirlockError(`the task's workspace has more than ${limits.maxEntries} entries; Airlock stopped reading it`, { code: 'scan.tooManyEntries', hint: NOT_BEHAVING }));
        if (Buffer.byteLength(rel) > limits.maxPathBytes || Buffer.byteLength(header.linkname ?? '') > limits.maxPathBytes) {
          return refuse(new AirlockError(`the task's workspace has a path or link target longer than ${limits.maxPathBytes} bytes (${JSON.stringify(rel.slice(0, 80))}…); Airlock stopped reading it`, { code: 'scan.pathTooLong', hint: NOT_BEHAVING }));
        }
        if (!rel || rel === '.git' || rel.startsWith('.git/')) {
          body.resume().on('end', () => done());
          if (rel.startsWith('.git/hooks/') && header.type !== 'directory') nodes.push({ path: rel, kind: KIND[header.type ?? 'file'] ?? 'other', mode: (header.mode ?? 0) & 0o7777, size: header.size ?? 0 });
          return;
        }
        entries++;
        if (rel.includes('\uFFFD')) {
          // tar-stream decodes names as UTF-8; a replacement character means bytes that were not.
          unreadable.push(rel);
          body.resume().on('end', () => done());
          return;
        }
        const kind = header.type === 'link' ? 'file' : KIND[header.type ?? 'file'] ?? 'other';
        const was = base.entries.get(rel);
        if (was) seen.add(rel);
        const node: ScannedNode = { path: rel, kind, mode: (header.mode ?? 0) & 0o7777, size: header.size ?? 0, target: kind === 'symlink' ? header.linkname ?? '' : undefined };
        if (header.type === 'link') {
          const first = files.get((header.linkname ?? '').replace(/^\.?\/?/, ''));
          body.resume().on('end', () => done());
          if (!first) {
            nodes.push({ ...node, kind: 'other' });
            return;
          }
          Object.assign(node, { size: first.size, sha256: first.sha256, links: 2 });
          const execChanged = was?.type === 'file' && Boolean(was.mode & 0o111) !== Boolean(node.mode & 0o111);
          if (!was || was.type !== 'file' || was.sha256 !== first.sha256 || execChanged || Boolean(node.mode & 0o7000)) nodes.push(node);
          return;
        }
        if (kind !== 'file') {
          body.resume().on('end', () => done());
          if (!was || was.type !== kind || (kind === 'symlink' && was.target !== node.target)) nodes.push(node);
          return;
        }
        if (node.size > maxFileBytes) {
          body.resume().on('end', () => done());
          nodes.push(node);
          return;
        }
        // Same size as the base: hash first and keep the bytes only if they differ (in memory only
        // while small: the per-file limit is the user's to raise).
        const writer = was?.sha256 !== undefined && was.size === node.size && node.size <= IN_MEMORY_BYTES ? undefined : blobs.writer();
        let failure: Error | undefined;
        const failed = (error: Error) => {
          if (failure) return;
          failure = error;
          try {
            writer?.discard();
          } catch {
            // the temp file is already gone
          }
          refuse(error);
        };
        const hash = createHash('sha256');
        const chunks: Buffer[] = [];
        body.on('data', (data: unknown) => {
          if (failure) return;
          const chunk = data as Buffer;
          hash.update(chunk);
          // A full store (the blob store's budget) or a full disk throws here; thrown out of a
          // stream listener it would take the host process down instead of ending this scan.
          try {
            if (writer) writer.write(chunk);
            else chunks.push(chunk);
          } catch (error) {
            failed(error as Error);
          }
        });
        body.on('error', failed);
        body.on('end', () => {
          if (failure) return;
          node.sha256 = hash.digest('hex');
          files.set(rel, { size: node.size, sha256: node.sha256 });
          const execChanged = was?.type === 'file' && Boolean(was.mode & 0o111) !== Boolean(node.mode & 0o111);
          const changed = !was || was.type !== 'file' || was.sha256 !== node.sha256 || execChanged || Boolean(node.mode & 0o7000);
          try {
            if (writer) {
              if (changed) writer.commit(node.sha256);
              else writer.discard();
            } else if (changed && !blobs.has(node.sha256)) blobs.put(Buffer.concat(chunks));
          } catch (error) {
            done(error as Error);
            return;
          }
          if (changed) nodes.push(node);
          done();
        });
      };
      extract.on('finish', resolve);
      extract.on('error', reject);
      archive.on('error', reject);
      archive.pipe(extract);
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    archive.destroy();
  }
  // Contents the base already holds (a flipped exec bit, a hard link to an unchanged file) come
  // from the host's base copy, as they do for the scanner.
  blobsFromBase({ nodes }, base, blobs);
  const gone = [...base.entries.keys()].filter((rel) => !seen.has(rel));
  return { method: 'archive', entries, ms: Date.now() - started, nodes, gone, unreadable };
}
