import { type ChildProcess, spawn } from 'node:child_process';
import { AirlockError } from '../ground/errors.js';
import { type ObjectType, ScratchRepository } from './scratchRepository.js';

export interface GitObject {
  type: ObjectType;
  content: Buffer;
}

interface Pending {
  resolve: (value: GitObject | undefined) => void;
  reject: (error: Error) => void;
}

/**
 * One long-running `git cat-file --batch`: reading thousands of trees costs one process, and
 * concurrent reads are pipelined (answers come back in request order).
 */
export class GitObjectReader {
  private readonly child: ChildProcess;
  private readonly pending: Pending[] = [];
  private buffer = Buffer.alloc(0);
  /** Chunks not yet joined, so a large object arriving in many pieces is copied once. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private need = 0;
  private failure: Error | undefined;
  private stderr = '';

  /** `buffered`: for one batch of reads followed by `end()`; git then writes in large blocks instead of one flush per object. */
  constructor(repo: ScratchRepository, signal?: AbortSignal, buffered = false) {
    this.child = spawn('git', [...ScratchRepository.safeArgs, 'cat-file', '--batch', ...(buffered ? ['--buffer'] : [])], { cwd: repo.gitDir, env: repo.env(), signal, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => this.take(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.child.stdin!.on('error', () => undefined);
    this.child.on('error', (error) => this.fail(error));
    this.child.on('close', (code) => this.fail(new Error(`git cat-file --batch ended (exit ${code}): ${this.stderr.trim()}`)));
  }

  /** The object, or undefined when the repository does not have it. */
  read(id: string): Promise<GitObject | undefined> {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(id)) return Promise.reject(new Error(`not an object id: ${id}`));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin!.write(`${id}\n`);
    });
  }

  /** Like read, but a missing object is an error: the history cannot be filtered without it. */
  async require(id: string, expected: ObjectType): Promise<Buffer> {
    const object = await this.read(id);
    if (!object) throw new AirlockError(`workspace: the repository is missing object ${id}`, { code: 'workspace.missingObject', hint: 'Repair the repository (git fsck), or copy only the latest commit of history.', field: 'workspace', actions: [{ kind: 'changeSetting', setting: 'gitDepth', value: '1' }] });
    if (object.type !== expected) throw new AirlockError(`workspace: object ${id} is a ${object.type}, not a ${expected}`, { code: 'workspace.corruptObject', hint: 'Repair the repository (git fsck).', field: 'workspace' });
    return object.content;
  }

  /** Reads many objects with one buffered process. */
  static async readAll(repo: ScratchRepository, ids: string[], expected: ObjectType, signal?: AbortSignal): Promise<Buffer[]> {
    if (ids.length === 0) return [];
    const reader = new GitObjectReader(repo, signal, true);
    try {
      const reads = ids.map((id) => reader.require(id, expected));
      reader.child.stdin!.end();
      return await Promise.all(reads);
    } finally {
      reader.close();
    }
  }

  close(): void {
    this.failure ??= new Error('object reader closed');
    this.child.stdin!.end();
    if (this.child.exitCode === null) this.child.kill();
  }

  private take(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.buffer.length + this.chunkBytes < this.need) return;
    this.buffer = Buffer.concat([this.buffer, ...this.chunks]);
    this.chunks = [];
    this.chunkBytes = 0;
    this.need = 0;
    for (;;) {
      const newline = this.buffer.indexOf(10);
      if (newline < 0) return;
      const header = this.buffer.subarray(0, newline).toString('latin1');
      const missing = /^\S+ missing$/.test(header);
      if (missing) {
        this.buffer = this.buffer.subarray(newline + 1);
        this.pending.shift()?.resolve(undefined);
        continue;
      }
      const match = /^[0-9a-f]+ (commit|tree|blob|tag) (\d+)$/.exec(header);
      if (!match) {
        this.fail(new Error(`unexpected answer from git cat-file: ${header.slice(0, 200)}`));
        return;
      }
      const size = Number(match[2]);
      if (this.buffer.length < newline + 1 + size + 1) {
        this.need = newline + 1 + size + 1;
        return;
      }
      const content = Buffer.from(this.buffer.subarray(newline + 1, newline + 1 + size));
      this.buffer = this.buffer.subarray(newline + 1 + size + 1);
      this.pending.shift()?.resolve({ type: match[1] as ObjectType, content });
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.splice(0)) waiter.reject(this.failure);
  }
}
