import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import * as tarStream from 'tar-stream';
import { CancelledError } from '../errors.js';
import type { BaseSnapshot } from '../snapshot/snapshotManifest.js';
import type { BlobStore } from './blobStore.js';
import type { ScannedNode, ScanResult } from './buildChangeSet.js';
import { blobsFromBase } from './workspaceScanner.js';

const KIND: Record<string, ScannedNode['kind']> = { file: 'file', 'contiguous-file': 'file', directory: 'dir', symlink: 'symlink' };

/**
 * The fallback for images without node: the engine streams the whole workspace out as a tar and
 * the host compares every file by hash. Exact, but its cost grows with the workspace, which is why
 * the in-container scanner is the default.
 */
export async function scanWithArchive(container: Docker.Container, base: BaseSnapshot, blobs: BlobStore, maxFileBytes: number, signal?: AbortSignal): Promise<ScanResult> {
  const started = Date.now();
  const archive = (await container.getArchive({ path: '/workspace/.' })) as unknown as Readable;
  const extract = tarStream.extract();
  const nodes: ScannedNode[] = [];
  const unreadable: string[] = [];
  const seen = new Set<string>();
  // Files met so far, for hard links: the tar carries a second name as a "link" to the first.
  const files = new Map<string, { size: number; sha256: string }>();
  let entries = 0;
  const onAbort = () => extract.destroy(new CancelledError());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, body, next) => {
        const rel = header.name.replace(/^\.?\/?/, '').replace(/\/$/, '');
        const done = (error?: Error) => (error ? reject(error) : next());
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
        // Same size as the base: hash first and keep the bytes only if they differ.
        const writer = was?.sha256 !== undefined && was.size === node.size ? undefined : blobs.writer();
        const hash = createHash('sha256');
        const chunks: Buffer[] = [];
        body.on('data', (data: unknown) => {
          const chunk = data as Buffer;
          hash.update(chunk);
          if (writer) writer.write(chunk);
          else chunks.push(chunk);
        });
        body.on('error', done);
        body.on('end', () => {
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
      });
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
