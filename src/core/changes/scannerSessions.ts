import type { Socket } from 'node:net';
import type { Duplex, PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { StreamReader } from './streamReader.js';

/**
 * Change scanners kept running in their boxes between looks, one per task and sandbox user, for
 * as long as this host process looks often. Starting node in a box costs ~200 ms, most of a small
 * diff; a kept scanner answers the next look at once. An idle one lets go after IDLE_MS, so the
 * box does not carry a process for a review nobody refreshes, and its socket never keeps this
 * process alive (a CLI command exits as it always did).
 */
const IDLE_MS = 90_000;
/** The last of the scanner's stderr kept for error messages. */
const STDERR_TAIL = 2000;

export class ScannerSession {
  /** Opened for this look: a failure on its first line may mean the image has no node. */
  fresh = true;
  errorTail = '';
  private closed = false;
  private idle?: NodeJS.Timeout;

  constructor(
    readonly containerId: string,
    readonly user: string,
    readonly exec: Docker.Exec,
    readonly stream: Duplex,
    readonly stdout: PassThrough,
    stderr: PassThrough,
    readonly reader: StreamReader,
  ) {
    stderr.on('data', (chunk: Buffer) => (this.errorTail = (this.errorTail + chunk.toString('utf8')).slice(-STDERR_TAIL)));
    // The demuxer never ends its outputs; without this a scanner that dies mid-answer would
    // leave the reader waiting forever instead of failing.
    const finish = () => {
      this.closed = true;
      stdout.end();
    };
    stream.once('end', finish).once('close', finish);
    stream.on('error', () => undefined);
  }

  get usable(): boolean {
    return !this.closed && !this.stream.destroyed;
  }

  /** Back to work: the socket counts again, and the idle timer stops. */
  wake(): void {
    clearTimeout(this.idle);
    this.fresh = false;
    (this.stream as Partial<Socket>).ref?.();
  }

  rest(onIdle: () => void): void {
    (this.stream as Partial<Socket>).unref?.();
    this.idle = setTimeout(onIdle, IDLE_MS);
    this.idle.unref();
  }

  /** Ends the scanner: its stdin closes (it exits), and the stream goes. */
  close(): void {
    clearTimeout(this.idle);
    this.closed = true;
    this.stream.end();
    this.stream.destroy();
  }
}

class ScannerSessions {
  private readonly idle = new Map<string, ScannerSession>();

  private key(containerId: string, user: string): string {
    return `${containerId}\0${user}`;
  }

  /** A kept scanner for this box, taken for one look (another look at once opens its own). */
  take(containerId: string, user: string): ScannerSession | undefined {
    const key = this.key(containerId, user);
    const session = this.idle.get(key);
    if (!session) return undefined;
    this.idle.delete(key);
    if (!session.usable) return undefined;
    session.wake();
    return session;
  }

  /** Keeps a scanner whose look ended as the protocol says, for the next look. */
  keep(session: ScannerSession): void {
    const key = this.key(session.containerId, session.user);
    if (!session.usable || this.idle.has(key)) return session.close();
    this.idle.set(key, session);
    session.rest(() => {
      if (this.idle.get(key) === session) this.idle.delete(key);
      session.close();
    });
  }

  /** Ends every kept scanner (tests, and a host process that wants its boxes bare). */
  closeAll(): void {
    for (const session of this.idle.values()) session.close();
    this.idle.clear();
  }
}

export const scannerSessions = new ScannerSessions();
