import { PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { execInspectSchema } from '../engine/engineSchemas.js';
import { AirlockError, CancelledError, throwIfAborted } from '../ground/errors.js';
import { WORKSPACE_PATH } from '../ground/sandboxPaths.js';
import { engineStreamDemux } from '../exec/engineStreamDemux.js';
import { inBoxCommand } from '../exec/inBoxProgram.js';

/**
 * The host mirror's hands in the box, with no node there: a path's state is read by one exec of
 * `find` and `sha256sum` as the sandbox user, removals are one exec of `rm`/`rmdir` as that user,
 * and new contents go in through the engine's archive endpoint (owned by the sandbox user, no
 * setuid bits), as the workspace copy did.
 */

/** A workspace path as the box has it now (mode: permission bits; sha256 only for regular files that could be read). */
export type BoxState =
  | { kind: 'absent' }
  | { kind: 'file'; mode: number; size: number; sha256?: string }
  | { kind: 'dir'; mode: number; ino: string }
  | { kind: 'symlink'; target: string }
  | { kind: 'other' };

/** What the mirror puts into the box: a file's bytes, a link, or a folder. */
export type BoxEntry =
  | { path: string; kind: 'file'; mode: number; bytes: Buffer; mtime?: Date }
  | { path: string; kind: 'symlink'; target: string }
  | { path: string; kind: 'dir'; mode: number };

/** The box lacks what the mirror needs: a shell with find, xargs and sha256sum (every Debian, Ubuntu or Fedora image has them). */
export class BoxToolsMissing extends AirlockError {
  constructor() {
    super('the task image has no find, xargs or sha256sum, which following host edits needs', { code: 'mirror.boxToolsMissing', hint: 'Use an image with coreutils and findutils (any Debian or Ubuntu based image).', field: 'image', actions: [{ kind: 'changeSetting', setting: 'image' }] });
  }
}

export const taskGone = (id: string) => new AirlockError(`task ${id} is no longer running (its container has gone)`, { code: 'task.gone', hint: 'Start a new task.', field: 'ID', actions: [{ kind: 'startTask' }] });

const isGone = (error: unknown) => {
  const status = (error as { statusCode?: number }).statusCode;
  return status === 404 || status === 409;
};

const boxPath = (rel: string) => `${WORKSPACE_PATH}/${rel}`;

/**
 * `find -printf` rather than `stat`: gVisor's older releases answer coreutils' statx() with EINVAL.
 * Each record is "type mode size inode path\0linktarget\0"; then "=\0"; then sha256sum's
 * "hash  path\0" for the regular files (one process for all, a FIFO swapped in meanwhile cannot
 * hang it past the timeout); then "=\0", which proves the answer complete.
 */
const PROBE = [
  'command -v find >/dev/null 2>&1 && command -v xargs >/dev/null 2>&1 && command -v sha256sum >/dev/null 2>&1 || exit 127',
  'T=; command -v timeout >/dev/null 2>&1 && T="timeout -s KILL 30"',
  "find \"$@\" -maxdepth 0 -printf '%y %m %s %i %p\\0%l\\0' 2>/dev/null",
  "printf '=\\0'",
  'find "$@" -maxdepth 0 -type f -print0 2>/dev/null | xargs -0r $T sha256sum -z -- 2>/dev/null',
  "printf '=\\0'",
].join('\n');

/** Removals, one argument each: "f<path>" unlinks a file or link, "d<path>" removes an empty folder. Prints the numbers of those that failed. */
const REMOVE = [
  'i=0',
  'for a do',
  '  i=$((i+1)); p=${a#?}',
  '  case $a in',
  '    f*) rm -f -- "$p" 2>/dev/null || echo "$i" ;;',
  '    d*) { rmdir -- "$p" 2>/dev/null || { [ ! -e "$p" ] && [ ! -L "$p" ]; }; } || echo "$i" ;;',
  '  esac',
  'done',
  'echo =',
].join('\n');

/** Arguments per exec, in bytes: far below the kernel's limit, with room for the environment. */
const ARG_BYTES = 256 * 1024;
/** A probe answer never needs more than this per path (a link target is at most 4 KiB). */
const ANSWER_BYTES_PER_PATH = 4096 + 512;

function chunks(items: readonly string[]): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const item of items) {
    const cost = Buffer.byteLength(item) + 1;
    if (current.length && size + cost > ARG_BYTES) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += cost;
  }
  if (current.length) out.push(current);
  return out;
}

export class MirrorBox {
  private env?: Promise<string[]>;

  constructor(
    private readonly container: Docker.Container,
    private readonly user: string,
    private readonly ids: { uid: number; gid: number },
    private readonly task: string,
  ) {}

  /** The exec environment that unsets the container's variables, asked of the engine once. */
  private cleanEnv(): Promise<string[]> {
    this.env ??= inBoxCommand(this.container, []).then(({ Env }) => Env);
    this.env.catch(() => (this.env = undefined));
    return this.env;
  }

  private async run(script: string, args: string[], maxBytes: number, signal?: AbortSignal): Promise<{ stdout: Buffer; exitCode: number | null }> {
    throwIfAborted(signal);
    let exec: Docker.Exec;
    let stream: NodeJS.ReadWriteStream;
    try {
      const Env = await this.cleanEnv();
      exec = await this.container.exec({ Cmd: ['sh', '-c', script, 'airlock-mirror', ...args], Env, User: this.user, WorkingDir: '/', AttachStdout: true, AttachStderr: true });
      stream = (await exec.start({ hijack: true, stdin: false })) as NodeJS.ReadWriteStream;
    } catch (error) {
      if (isGone(error)) throw taskGone(this.task);
      throw error;
    }
    const out: Buffer[] = [];
    let size = 0;
    let overflow = false;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        (stream as unknown as Readable).destroy();
        reject(new CancelledError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const sink = engineStreamDemux(
        (chunk) => {
          size += chunk.length;
          if (size > maxBytes) {
            overflow = true;
            (stream as unknown as Readable).destroy();
            return;
          }
          out.push(chunk);
        },
        () => undefined,
      );
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      stream.on('end', done).on('close', done).on('error', done);
      stream.pipe(sink);
    });
    if (overflow) throw new AirlockError('the box answered the mirror with more than it asked for', { code: 'mirror.misbehaving', hint: 'Stop the task; it is not behaving.' });
    let exitCode: number | null = null;
    for (let attempt = 0; attempt < 50; attempt++) {
      const inspect = execInspectSchema.parse(await exec.inspect().catch((error: unknown) => {
        if (isGone(error)) throw taskGone(this.task);
        throw error;
      }));
      exitCode = inspect.ExitCode;
      if (!inspect.Running) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { stdout: Buffer.concat(out), exitCode };
  }

  /** The box's state of each path (workspace-relative). A path whose answer is incomplete is left out: the caller treats it as unknown. */
  async probe(rels: readonly string[], signal?: AbortSignal): Promise<Map<string, BoxState>> {
    const states = new Map<string, BoxState>();
    for (const chunk of chunks([...new Set(rels)].map(boxPath))) {
      const { stdout, exitCode } = await this.run(PROBE, chunk, chunk.length * ANSWER_BYTES_PER_PATH + 4096, signal);
      if (exitCode === 127) throw new BoxToolsMissing();
      const fields = stdout.toString('utf8').split('\0');
      const asked = new Set(chunk);
      const found = new Map<string, BoxState>();
      let at = 0;
      for (; at < fields.length && fields[at] !== '='; at += 2) {
        const match = /^([a-zA-Z]) ([0-7]+) (\d+) (\d+) (.*)$/s.exec(fields[at]);
        if (!match || !asked.has(match[5])) throw new AirlockError('the box answered the mirror with something it did not ask about', { code: 'mirror.misbehaving', hint: 'Stop the task; it is not behaving.' });
        const [, type, mode, size, ino, where] = match;
        const perms = parseInt(mode, 8);
        const state: BoxState =
          type === 'f' ? { kind: 'file', mode: perms, size: Number(size) } : type === 'd' ? { kind: 'dir', mode: perms & 0o7777, ino } : type === 'l' ? { kind: 'symlink', target: fields[at + 1] ?? '' } : { kind: 'other' };
        found.set(where, state);
      }
      // Both markers are there only when every part of the answer is.
      if (fields[at] !== '=') throw new AirlockError('the box did not answer the mirror in full', { code: 'mirror.probeFailed', hint: 'Check that the task is still running.', actions: [{ kind: 'listTasks' }] });
      at++;
      let complete = false;
      for (; at < fields.length; at++) {
        if (fields[at] === '=') {
          complete = true;
          break;
        }
        const match = /^([0-9a-f]{64}) {2}(.*)$/s.exec(fields[at]);
        const state = match ? found.get(match[2]) : undefined;
        if (state?.kind === 'file') state.sha256 = match![1];
      }
      if (!complete) throw new AirlockError('the box did not answer the mirror in full', { code: 'mirror.probeFailed', hint: 'Check that the task is still running.', actions: [{ kind: 'listTasks' }] });
      for (const where of chunk) states.set(where.slice(WORKSPACE_PATH.length + 1), found.get(where) ?? { kind: 'absent' });
    }
    return states;
  }

  /** Removes files and links (`dir: false`) and empty folders, in the order given; returns the paths that could not be removed. */
  async remove(items: ReadonlyArray<{ path: string; dir: boolean }>, signal?: AbortSignal): Promise<Set<string>> {
    const failed = new Set<string>();
    const args = items.map((item) => `${item.dir ? 'd' : 'f'}${boxPath(item.path)}`);
    let offset = 0;
    for (const chunk of chunks(args)) {
      const { stdout } = await this.run(REMOVE, chunk, 64 * 1024 + chunk.length * 12, signal);
      const lines = stdout.toString('utf8').split('\n');
      if (!lines.includes('=')) throw new AirlockError('the box did not finish the removals the mirror asked for', { code: 'mirror.removeFailed', hint: 'Check that the task is still running.', actions: [{ kind: 'listTasks' }] });
      for (const line of lines) if (/^\d+$/.test(line)) failed.add(items[offset + Number(line) - 1]?.path ?? '');
      offset += chunk.length;
    }
    failed.delete('');
    return failed;
  }

  /**
   * Writes folders, files and links into /workspace in one archive. The engine refuses (rather than
   * replaces) a folder where a file goes or the reverse, so a box that changed a path meanwhile
   * keeps it. Folders must come before what is in them.
   */
  async write(entries: readonly BoxEntry[], signal?: AbortSignal): Promise<void> {
    if (!entries.length) return;
    throwIfAborted(signal);
    const pack = (await import('tar-stream')).pack();
    const owned = { uid: this.ids.uid, gid: this.ids.gid, uname: '', gname: '' };
    const body = new PassThrough();
    pack.pipe(body);
    const packing = (async () => {
      for (const entry of entries) {
        await new Promise<void>((resolve, reject) => {
          const done = (error?: Error | null) => (error ? reject(error) : resolve());
          if (entry.kind === 'dir') pack.entry({ ...owned, name: `${entry.path}/`, type: 'directory', mode: entry.mode & 0o777, mtime: new Date() }, done);
          else if (entry.kind === 'symlink') pack.entry({ ...owned, name: entry.path, type: 'symlink', linkname: entry.target, mode: 0o777, mtime: new Date() }, done);
          // Permission bits only: setuid, setgid and sticky never cross into the sandbox.
          else pack.entry({ ...owned, name: entry.path, type: 'file', mode: entry.mode & 0o777, size: entry.bytes.length, mtime: entry.mtime ?? new Date() }, entry.bytes, done);
        });
      }
      pack.finalize();
    })();
    packing.catch((error: Error) => body.destroy(error));
    try {
      await Promise.all([this.container.putArchive(body, { path: WORKSPACE_PATH, noOverwriteDirNonDir: true, abortSignal: signal }), packing]);
    } catch (error) {
      // /workspace always exists in a task, so a 404 is the container itself.
      if (isGone(error)) throw taskGone(this.task);
      throw error;
    }
  }
}
