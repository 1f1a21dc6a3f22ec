import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AirlockError } from '../ground/errors.js';
import { folderNames } from '../ground/folderNames.js';

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Content-addressed files on the host (one folder per task): the bytes the container produced,
 * and the host's own bytes saved before an apply overwrote them. Named by sha256, so the content
 * a reviewer saw and the content apply writes are the same file by construction.
 */
export class BlobStore {
  /**
   * @param budget when given, new bytes this instance stores (blobs it did not have) are counted
   * against it, and a write past it fails: what one scan of a box may add to the host's disk.
   */
  constructor(readonly dir: string, private readonly budget?: ByteBudget) {}

  file(sha: string): string {
    if (!SHA256.test(sha)) throw new Error(`not a sha256: ${sha}`);
    return path.join(this.dir, sha.slice(0, 2), sha);
  }

  has(sha: string): boolean {
    return fs.existsSync(this.file(sha));
  }

  /** The blob's bytes, or only its first `limit` of them. */
  read(sha: string, limit?: number): Buffer {
    if (limit === undefined) return fs.readFileSync(this.file(sha));
    const fd = fs.openSync(this.file(sha), 'r');
    try {
      const buffer = Buffer.alloc(limit);
      return buffer.subarray(0, fs.readSync(fd, buffer, 0, limit, 0));
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Stores bytes, returning their sha256. */
  put(content: Buffer): string {
    const sha = createHash('sha256').update(content).digest('hex');
    if (this.has(sha)) return sha;
    const writer = this.writer();
    writer.write(content);
    writer.commit(sha);
    return sha;
  }

  /** A streaming writer: bytes go to a temp file, hashed on the way; commit checks the expected hash. */
  writer(): BlobWriter {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const temp = path.join(this.dir, `.incoming-${randomBytes(6).toString('hex')}`);
    const fd = fs.openSync(temp, 'wx', 0o600);
    const hash = createHash('sha256');
    let size = 0;
    let open = true;
    const close = () => {
      if (open) fs.closeSync(fd);
      open = false;
    };
    const budget = this.budget;
    return {
      write: (chunk) => {
        if (budget) {
          if (budget.remaining < chunk.length) {
            close();
            fs.rmSync(temp, { force: true });
            throw new StoreFull(budget.limit);
          }
          budget.remaining -= chunk.length;
        }
        hash.update(chunk);
        size += chunk.length;
        let written = 0;
        while (written < chunk.length) written += fs.writeSync(fd, chunk, written);
      },
      get size() {
        return size;
      },
      commit: (expected) => {
        close();
        const sha = hash.digest('hex');
        if (expected !== undefined && expected !== sha) {
          fs.rmSync(temp, { force: true });
          throw new Error(`content changed while it was read (expected ${expected.slice(0, 12)}, got ${sha.slice(0, 12)})`);
        }
        const target = this.file(sha);
        fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
        // Content already kept costs nothing more.
        if (budget && fs.existsSync(target)) budget.remaining += size;
        fs.renameSync(temp, target);
        return sha;
      },
      discard: () => {
        close();
        fs.rmSync(temp, { force: true });
        if (budget) budget.remaining += size;
      },
    };
  }
}

export interface BlobWriter {
  write(chunk: Buffer): void;
  readonly size: number;
  /** Finishes the blob; throws (and keeps nothing) when `expected` is given and does not match. */
  commit(expected?: string): string;
  discard(): void;
}

/** Bytes a store may still take; shared by every writer of one scan. */
export interface ByteBudget {
  readonly limit: number;
  remaining: number;
}

/** What one scan of a task may store on the host was used up (`changes.storeFull`); nothing past it was kept. */
export class StoreFull extends AirlockError {
  constructor(readonly limit: number) {
    super(`the task's changes need more than the ${Math.round(limit / (1024 * 1024))} MB Airlock keeps per task on the host; the diff was not taken`, {
      code: 'changes.storeFull',
      hint: 'Apply or discard what is under review, make the task write less (large outputs belong outside /workspace), or raise the limit on what Airlock keeps per task.',
      field: 'maxStoreSize',
      actions: [{ kind: 'changeSetting', setting: 'maxStoreSize' }],
    });
  }
}

export interface StoredBlob {
  sha256: string;
  size: number;
  mtimeMs: number;
}

/** Every blob of a store, with its size and when it was written. */
export function listBlobs(dir: string): StoredBlob[] {
  const out: StoredBlob[] = [];
  for (const shard of folderNames(dir)) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const name of folderNames(path.join(dir, shard))) {
      if (!SHA256.test(name)) continue;
      try {
        const stat = fs.statSync(path.join(dir, shard, name));
        out.push({ sha256: name, size: stat.size, mtimeMs: stat.mtimeMs });
      } catch {
        // removed by a concurrent sweep
      }
    }
  }
  return out;
}
