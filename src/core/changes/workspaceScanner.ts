import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { z } from 'zod';
import { AirlockError, CancelledError, type ErrorDetails } from '../ground/errors.js';
import { execInspectSchema } from '../engine/engineSchemas.js';
import { engineStreamDemux } from '../exec/engineStreamDemux.js';
import { inBoxProgram } from '../exec/inBoxProgram.js';
import { sandboxProgram } from '../exec/sandboxPrograms.js';
import type { BaseSnapshot } from '../snapshot/snapshotManifest.js';
import type { BlobStore } from './blobStore.js';
import type { ScannedNode, ScanResult } from './buildChangeSet.js';
import type { FileHeader, FolderInodeLine, ReadRequest, ScanHeader, ScanRecord } from './scannerProtocol.js';
import { goneFromListings } from './layerGone.js';
import { ScannerSession, scannerSessions } from './scannerSessions.js';
import { StreamReader } from './streamReader.js';

export interface ScanRequest {
  container: Docker.Container;
  user: string;
  base: BaseSnapshot;
  /** Engine-clock time (ms) by which the workspace copy was complete; 0 means "unknown: hash everything". */
  readyAtMs: number;
  maxFileBytes: number;
  blobs: BlobStore;
  /** Each base folder's inode when the copy was complete (captureFolderInodes); absent for tasks that have none. */
  folderInodes?: ReadonlyMap<string, string>;
  /** A layered task's upper folder in the box: the scan follows it instead of walking the whole tree. */
  layer?: string;
  signal?: AbortSignal;
}

/** Raised when the image has no usable `node`; the caller falls back to streaming the tree out. */
export class ScannerUnavailable extends Error {}

const MAX_LINE = 64 * 1024;
/** Far more than any real workspace; a scanner that says more is not telling the truth. */
const MAX_RECORDS = 5_000_000;
/** Names on one listing line: the scanner splits a folder's names at 16k characters. */
const MAX_LISTING_NAMES = 16 * 1024;

/** A scanner that stopped or failed most often means the task's container went away under it. */
const stillRunning = (code: 'scan.stoppedEarly' | 'scan.failed'): ErrorDetails => ({ code, hint: 'Check that the task is still running.', actions: [{ kind: 'listTasks' }] });

const relPath = z.string().min(1).max(4096);
const scanRecordSchema: z.ZodType<ScanRecord> = z.union([
  z.object({ n: relPath, k: z.enum(['f', 'd', 'l', 'o']), m: z.number().int().min(0).max(0o7777), s: z.number().int().min(0), h: z.string().regex(/^[0-9a-f]{64}$/).optional(), t: z.string().max(4096).optional(), l: z.number().int().optional(), e: z.string().max(200).optional() }),
  z.object({ g: relPath }),
  z.object({ u: z.string().max(8192) }),
  z.object({ ls: z.string().max(4096), c: z.array(z.string().min(1).max(1024)).max(MAX_LISTING_NAMES) }),
  z.object({ done: z.object({ entries: z.number().int().min(0) }) }),
]);
const fileHeaderSchema: z.ZodType<FileHeader> = z.union([z.object({ p: relPath, s: z.number().int().min(0) }), z.object({ p: relPath, e: z.string().max(200) }), z.object({ end: z.literal(true) })]);

const KINDS = { f: 'file', d: 'dir', l: 'symlink', o: 'other' } as const;
const BASE_KIND = { file: 'f', dir: 'd', symlink: 'l' } as const;

/** The base snapshot as the scanner reads it: NUL-separated kind, mode, size, target, path. */
function encodeBaseline(base: BaseSnapshot): Buffer {
  const parts: string[] = [];
  for (const entry of base.entries.values()) parts.push(BASE_KIND[entry.type], String(entry.mode), String(entry.size), entry.target ?? '', entry.path);
  return Buffer.from(parts.join('\0') + '\0');
}

function encodeInodes(inodes: ReadonlyMap<string, string>): Buffer {
  const parts: string[] = [];
  for (const [rel, ino] of inodes) parts.push(rel, ino);
  return Buffer.from(parts.length ? parts.join('\0') + '\0' : '');
}

/** The scanner as Airlock's own program: nothing from the task's environment reaches its loader or node. */
async function openScanner(container: Docker.Container, user: string) {
  const program = await inBoxProgram(container, sandboxProgram('scanner'));
  const exec = await container.exec({ Cmd: program.Cmd, Env: program.Env, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false, User: user, WorkingDir: '/' });
  const stream = await exec.start({ hijack: true, stdin: true });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  // Anything in the task can write to the scanner's pipes: the engine stream is read only as fast
  // as the host takes lines and bytes, so a flood waits in the box, not in host memory.
  const into = (target: PassThrough) => (chunk: Buffer) => (target.write(chunk) ? undefined : new Promise<void>((resolve) => target.once('drain', resolve)));
  stream.pipe(engineStreamDemux(into(stdout), into(stderr)));
  return { exec, stream, stdout, stderr };
}

const inodeLineSchema: z.ZodType<FolderInodeLine> = z.union([z.object({ b: relPath, i: z.string().regex(/^\d{1,20}$/) }), z.object({ done: z.object({ entries: z.number().int().min(0) }) })]);

/**
 * Each folder's inode right after the copy, before anything else runs in the box: what lets a
 * later scan tell a folder from another one moved onto its path. Undefined when the image has no
 * node (those tasks are scanned by archive, which needs none of this).
 */
export async function captureFolderInodes(container: Docker.Container, user: string, signal?: AbortSignal): Promise<Map<string, string> | undefined> {
  const { exec, stream, stdout, stderr } = await openScanner(container, user);
  const finish = () => stdout.end();
  stream.once('end', finish).once('close', finish);
  let errorTail = '';
  stderr.on('data', (chunk: Buffer) => (errorTail = (errorTail + chunk.toString('utf8')).slice(-2000)));
  const onAbort = () => stream.destroy(new CancelledError());
  signal?.addEventListener('abort', onAbort, { once: true });
  const reader = new StreamReader(stdout, MAX_LINE);
  const inodes = new Map<string, string>();
  try {
    stream.write(JSON.stringify({ baseline: true } satisfies ScanHeader) + '\n');
    for (let count = 0; ; count++) {
      if (count > MAX_RECORDS) throw new AirlockError('the change scanner reported more folders than any workspace has', { code: 'scan.misbehaving', hint: 'Stop the task; it is not behaving.' });
      let record: FolderInodeLine;
      try {
        record = inodeLineSchema.parse(JSON.parse(await reader.line()));
      } catch (error) {
        if (CancelledError.is(error)) throw error;
        if (count === 0) {
          try {
            await unavailable(exec, errorTail);
          } catch (failure) {
            if (failure instanceof ScannerUnavailable) return undefined;
            throw failure;
          }
        }
        throw new AirlockError(`the change scanner's folder list stopped early: ${(error as Error).message}`, { code: 'scan.folderListStopped', hint: 'Start the task again.' });
      }
      if ('done' in record) return inodes;
      inodes.set(record.b, record.i);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

/**
 * Runs the in-container scanner: it reports what may differ from the base snapshot, hashes those
 * files in place, then streams only the contents the host lacks into the blob store (each checked
 * against the hash it reported). The scanner stays up between looks (see scannerSessions): a
 * repeat look skips starting node in the box, most of a small diff's time. A look on a kept
 * scanner that fails for any reason but the caller's cancel is taken once more on a fresh one,
 * since the box may have killed it.
 */
export async function scanWithScanner(request: ScanRequest): Promise<ScanResult> {
  const kept = scannerSessions.take(request.container.id, request.user);
  if (kept) {
    try {
      return await scanIn(kept, request);
    } catch (error) {
      if (CancelledError.is(error) || request.signal?.aborted) throw error;
    }
  }
  const fresh = await openSession(request.container, request.user);
  return scanIn(fresh, request);
}

async function openSession(container: Docker.Container, user: string): Promise<ScannerSession> {
  const { exec, stream, stdout, stderr } = await openScanner(container, user);
  return new ScannerSession(container.id, user, exec, stream, stdout, stderr, new StreamReader(stdout, MAX_LINE));
}

async function scanIn(session: ScannerSession, request: ScanRequest): Promise<ScanResult> {
  const started = Date.now();
  const onAbort = () => session.stream.destroy(new CancelledError());
  request.signal?.addEventListener('abort', onAbort, { once: true });
  let kept = false;
  try {
    // Without folder identities a swapped folder would hide its files' changes: then trust no ctime.
    const readyAtMs = request.folderInodes ? request.readyAtMs : 0;
    // A layered scan needs no baseline in the box: the host finds what is gone, from its index.
    const layered = request.layer !== undefined && request.folderInodes !== undefined;
    const baseline = layered ? Buffer.alloc(0) : encodeBaseline(request.base);
    const inodes = encodeInodes(request.folderInodes ?? new Map());
    const layerFields = layered ? { layer: request.layer, gitInBase: request.base.entries.get('.git')?.type === 'dir' } : {};
    session.stream.write(JSON.stringify({ readyAtMs, maxHashBytes: request.maxFileBytes, baselineBytes: baseline.length, inodeBytes: inodes.length, ...layerFields, serve: true } satisfies ScanHeader) + '\n');
    session.stream.write(baseline);
    session.stream.write(inodes);

    const nodes: ScannedNode[] = [];
    let gone: string[] = [];
    const listed = new Map<string, Set<string>>();
    let listedNames = 0;
    const unreadable: string[] = [];
    let entries = 0;
    for (let count = 0; ; count++) {
      if (count > MAX_RECORDS) throw new AirlockError('the change scanner reported more entries than any workspace has', { code: 'scan.misbehaving', hint: 'Stop the task; it is not behaving.' });
      let line: string;
      try {
        line = await session.reader.line();
      } catch (error) {
        if (CancelledError.is(error)) throw error;
        if (count === 0 && session.fresh) await unavailable(session.exec, session.errorTail);
        throw new AirlockError(`the change scanner stopped early: ${(error as Error).message}${session.errorTail ? ` (${session.errorTail.trim().split('\n').pop()})` : ''}`, stillRunning('scan.stoppedEarly'));
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        // The engine reports "executable file not found" in the stream itself.
        if (count === 0 && session.fresh) await unavailable(session.exec, session.errorTail + line);
        throw new AirlockError('the change scanner sent something that is not its protocol', { code: 'scan.misbehaving', hint: 'Stop the task; it is not behaving.' });
      }
      const record = scanRecordSchema.parse(parsed);
      if ('done' in record) {
        entries = record.done.entries;
        break;
      }
      if ('g' in record) gone.push(record.g);
      else if ('ls' in record) {
        if (!layered) throw new AirlockError('the change scanner listed folders in a scan that is not layered', { code: 'scan.misbehaving', hint: 'Stop the task; it is not behaving.' });
        const names = listed.get(record.ls) ?? new Set<string>();
        listedNames += record.c.length;
        if (listedNames > MAX_RECORDS) throw new AirlockError('the change scanner listed more names than any workspace has', { code: 'scan.misbehaving', hint: 'Stop the task; it is not behaving.' });
        for (const name of record.c) names.add(name);
        listed.set(record.ls, names);
      }
      else if ('u' in record) unreadable.push(JSON.stringify(Buffer.from(record.u, 'base64').toString('latin1')).slice(1, -1));
      else nodes.push({ path: record.n, kind: KINDS[record.k], mode: record.m, size: record.s, sha256: record.h, target: record.t, links: record.l });
    }

    if (layered) gone = goneFromListings(request.base, listed, nodes);
    // Only new bytes cross: not content the base snapshot or the store already has.
    const local = blobsFromBase({ nodes }, request.base, request.blobs);
    const wanted = new Map<string, ScannedNode>();
    const wantedShas = new Set<string>();
    for (const node of nodes) {
      if (node.kind !== 'file' || !node.sha256 || node.size > request.maxFileBytes || wantedShas.has(node.sha256)) continue;
      if (local.has(node.sha256) || request.blobs.has(node.sha256) || sameAsBase(node, request.base)) continue;
      wanted.set(node.path, node);
      wantedShas.add(node.sha256);
    }
    session.stream.write(JSON.stringify({ read: [...wanted.keys()] } satisfies ReadRequest) + '\n');
    let raced = false;
    for (;;) {
      const header = fileHeaderSchema.parse(JSON.parse(await session.reader.line()));
      if ('end' in header) break;
      const node = wanted.get(header.p);
      if (!node) throw new AirlockError('the change scanner sent a file that was not asked for', { code: 'scan.misbehaving', hint: 'Stop the task; it is not behaving.' });
      if ('e' in header) continue;
      if (header.s > request.maxFileBytes) throw new AirlockError('the change scanner sent more bytes than the size limit', { code: 'scan.misbehaving', hint: 'Stop the task; it is not behaving.' });
      const writer = request.blobs.writer();
      try {
        await session.reader.bytes(header.s, (chunk) => writer.write(chunk));
        writer.commit(node.sha256);
      } catch (error) {
        writer.discard();
        if (!/changed while it was read/.test((error as Error).message)) throw error;
        raced = true;
      }
    }
    if (raced) throw new AirlockError('files in the task changed while the diff was being taken', { code: 'scan.raced', hint: 'Run the diff again once the agent is idle.' });
    // The answer ended where the protocol says: the scanner can take the next look.
    kept = true;
    return { method: 'scanner', entries, ms: Date.now() - started, nodes, gone, unreadable };
  } finally {
    request.signal?.removeEventListener('abort', onAbort);
    if (kept) scannerSessions.keep(session);
    else session.close();
  }
}

/**
 * A file with its base bytes and exec bit at its base path is no change (buildChangeSet drops it):
 * reported only because its folder moved or its ctime is new, it needs no blob on the host.
 */
function sameAsBase(node: ScannedNode, base: BaseSnapshot): boolean {
  const entry = base.entries.get(node.path);
  return entry?.type === 'file' && entry.sha256 === node.sha256 && Boolean(entry.mode & 0o111) === Boolean(node.mode & 0o111);
}

/**
 * Puts into the blob store every reported content that the base snapshot already holds (an exec
 * bit flipped, a file moved or copied), read from the host's base copy instead of the task.
 * Returns the hashes now available.
 */
export function blobsFromBase(scan: Pick<ScanResult, 'nodes'>, base: BaseSnapshot, blobs: BlobStore): Set<string> {
  const needed = new Set(scan.nodes.filter((node) => node.kind === 'file' && node.sha256 && !sameAsBase(node, base) && !blobs.has(node.sha256)).map((node) => node.sha256!));
  const found = new Set<string>();
  for (const [sha, entry] of base.entriesBySha(needed)) {
    blobs.put(base.entryBytes(entry));
    found.add(sha);
  }
  return found;
}

async function unavailable(exec: Docker.Exec, errorTail: string): Promise<never> {
  let code: number | null = null;
  for (let attempt = 0; attempt < 50; attempt++) {
    const inspect = execInspectSchema.parse(await exec.inspect());
    code = inspect.ExitCode;
    if (!inspect.Running) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (code === 126 || code === 127 || /not found|no such file/i.test(errorTail)) throw new ScannerUnavailable('the image has no node for the change scanner');
  throw new AirlockError(`the change scanner failed (exit ${code})${errorTail ? `: ${errorTail.trim().split('\n').pop()}` : ''}`, stillRunning('scan.failed'));
}
