import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type HostResult, runHost } from '../ground/runHost.js';

export type ObjectFormat = 'sha1' | 'sha256';
export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/**
 * A private bare repository on the host that reads the workspace's objects through an alternate
 * and holds only the objects the history filter writes. Every git run here ignores the user's and
 * the system's config and the caller's GIT_* variables, and reads raw objects (no replace refs):
 * what it sees is exactly the repository's bytes, and nothing it does touches the workspace.
 */
/**
 * Small zlib contexts: setting up the default one for each of thousands of small trees cost more
 * than the rest of the filter together; trees and commits compress as well in a 1 KiB window.
 */
const ZLIB_OPTIONS = { level: 1, memLevel: 2, windowBits: 10 };

const PACK_TYPE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };

export class ScratchRepository {
  readonly objectsDir: string;
  /** Objects made here, held until `storeWritten` packs them (thousands of loose files are slow to create and delete). */
  private readonly written = new Map<string, { type: ObjectType; content: Buffer }>();

  constructor(
    readonly gitDir: string,
    hostObjectsDir: string,
    readonly objectFormat: ObjectFormat,
    /** The workspace's own shallow list, so history walks here stop where the workspace's history does. */
    shallow?: Buffer,
  ) {
    this.objectsDir = path.join(gitDir, 'objects');
    for (const dir of ['objects/info', 'objects/pack', 'refs']) fs.mkdirSync(path.join(gitDir, dir), { recursive: true });
    fs.writeFileSync(path.join(gitDir, 'HEAD'), 'ref: refs/heads/main\n');
    if (shallow?.length) fs.writeFileSync(path.join(gitDir, 'shallow'), shallow);
    const format = objectFormat === 'sha1' ? '\trepositoryformatversion = 0\n' : `\trepositoryformatversion = 1\n[extensions]\n\tobjectformat = ${objectFormat}\n`;
    fs.writeFileSync(path.join(gitDir, 'config'), `[core]\n\tbare = true\n${format}`);
    // The host's own alternates are followed from its objects folder, so borrowed objects resolve too.
    fs.writeFileSync(path.join(this.objectsDir, 'info', 'alternates'), `${path.resolve(hostObjectsDir)}\n`);
  }

  get hexLength(): number {
    return this.objectFormat === 'sha1' ? 40 : 64;
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GIT_')) env[key] = value;
    return {
      ...env,
      GIT_DIR: this.gitDir,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_NO_REPLACE_OBJECTS: '1',
      GIT_TERMINAL_PROMPT: '0',
      GIT_OPTIONAL_LOCKS: '0',
      GIT_ALLOW_PROTOCOL: 'none',
      GIT_NO_LAZY_FETCH: '1',
      ...extra,
    };
  }

  /** Arguments that keep git from running anything configured, even if a config slipped through. */
  static readonly safeArgs = ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '-c', 'credential.helper=', '-c', 'core.sshCommand=/bin/false'];

  async git(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; signal?: AbortSignal } = {}): Promise<HostResult> {
    const result = await runHost('git', [...ScratchRepository.safeArgs, ...args], { cwd: this.gitDir, env: this.env(options.env), input: options.input, signal: options.signal });
    if (result.code !== 0) throw new Error(`git ${args.join(' ')} failed: ${result.stderr.trim()}`);
    return result;
  }

  /** Hashes a new object and keeps it for `storeWritten`; returns its id. */
  writeObject(type: ObjectType, content: Buffer): string {
    const id = createHash(this.objectFormat).update(`${type} ${content.length}\0`, 'latin1').update(content).digest('hex');
    if (!this.written.has(id)) this.written.set(id, { type, content });
    return id;
  }

  /** Stores every written object in one pack here (never in the workspace), indexed by git itself. */
  async storeWritten(signal?: AbortSignal): Promise<void> {
    if (this.written.size === 0) return;
    const count = Buffer.alloc(12);
    count.write('PACK', 0, 'latin1');
    count.writeUInt32BE(2, 4);
    count.writeUInt32BE(this.written.size, 8);
    const parts: Buffer[] = [count];
    for (const { type, content } of this.written.values()) {
      const header: number[] = [];
      let size = content.length;
      let byte = (PACK_TYPE[type] << 4) | (size & 0x0f);
      size = Math.floor(size / 16);
      while (size > 0) {
        header.push(byte | 0x80);
        byte = size & 0x7f;
        size = Math.floor(size / 128);
      }
      header.push(byte);
      parts.push(Buffer.from(header), deflateSync(content, ZLIB_OPTIONS));
    }
    const body = Buffer.concat(parts);
    const pack = Buffer.concat([body, createHash(this.objectFormat).update(body).digest()]);
    const file = path.join(this.gitDir, 'written.pack');
    fs.writeFileSync(file, pack);
    // index-pack re-hashes every object, so a mistake here could never pass as a valid object.
    await this.git(['index-pack', '-o', path.join(this.objectsDir, 'pack', 'pack-written.idx'), file], { signal });
    fs.renameSync(file, path.join(this.objectsDir, 'pack', 'pack-written.pack'));
    this.written.clear();
  }
}
