import * as http from 'node:http';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import type { SshClientOptions } from './sshEngine.js';

/**
 * HTTP to an engine behind ssh: every request is a channel running `docker system dial-stdio` on
 * the engine host (what the docker CLI does), over a few long-lived ssh connections instead of a
 * login per request, as dockerode's own ssh transport does (a task start made some 70 logins).
 *
 * An ssh server may take its time to close a channel whose far end still runs (a hijacked exec the
 * box keeps open), and a connection held open for it would keep a CLI process alive long after its
 * work: a connection's socket is unref'd whenever we use none of its channels, and one left idle
 * is closed.
 */

/** OpenSSH's MaxSessions defaults to 10 channels per connection; stay under it. */
const CHANNELS_PER_CONNECTION = 8;
const IDLE_CLOSE_MS = 30_000;

type SshClientClass = new () => Client;

interface Connection {
  client: Client;
  socket: net.Socket;
  ready: Promise<void>;
  /** Channels the server has not closed yet: what counts against MaxSessions. */
  open: number;
  /** Channels we still use: while any, the socket keeps the process alive. */
  inUse: number;
  closed: boolean;
  idleTimer?: NodeJS.Timeout;
}

export interface SshTarget {
  host: string;
  port: number;
  username?: string;
}

export class SshEngineAgent extends http.Agent {
  private readonly connections: Connection[] = [];

  constructor(private readonly SshClient: SshClientClass, private readonly target: SshTarget, private readonly options: SshClientOptions) {
    // Kept alive: a request on a kept channel costs one round trip, a new one an ssh channel and
    // a dial-stdio process on the engine host. A kept channel is unref'd, so it holds no process open.
    super({ keepAlive: true });
  }

  /** http's own version sets TCP keep-alive and a socket timeout, which a channel does not have. */
  override keepSocketAlive(socket: Duplex): boolean {
    (socket as Duplex & { unref(): void }).unref();
    return true;
  }

  private connect(): Connection {
    const socket = net.connect(this.target.port, this.target.host);
    const client = new this.SshClient();
    const connection: Connection = { client, socket, open: 0, inUse: 0, closed: false, ready: Promise.resolve() };
    connection.ready = new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', (error) => {
        this.drop(connection);
        reject(error);
      });
    });
    // Later errors (the host gone mid-session) end the connection; the channels on it see their own close.
    connection.ready.catch(() => undefined);
    client.on('error', () => this.drop(connection));
    client.once('close', () => this.drop(connection));
    const config: ConnectConfig = { sock: socket, username: this.target.username ?? 'root', ...this.options };
    client.connect(config);
    this.connections.push(connection);
    return connection;
  }

  private drop(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    clearTimeout(connection.idleTimer);
    const index = this.connections.indexOf(connection);
    if (index >= 0) this.connections.splice(index, 1);
    connection.client.end();
    connection.socket.destroy();
  }

  private pick(): Connection {
    return this.connections.find((connection) => !connection.closed && connection.open < CHANNELS_PER_CONNECTION) ?? this.connect();
  }

  private release(connection: Connection, open: boolean): void {
    if (open) connection.open -= 1;
    connection.inUse -= 1;
    this.settle(connection);
  }

  private settle(connection: Connection): void {
    if (connection.inUse > 0) {
      clearTimeout(connection.idleTimer);
      connection.idleTimer = undefined;
      connection.socket.ref();
      return;
    }
    connection.socket.unref();
    connection.idleTimer ??= setTimeout(() => this.drop(connection), IDLE_CLOSE_MS).unref();
  }

  /**
   * Track a channel (counted in use and open since it was asked for): in use until it ends, closes,
   * is destroyed or unref'd (as a socket would be: a kept change scanner rests so), open until the
   * server closes it.
   */
  private track(connection: Connection, channel: ClientChannel): void {
    let held = true;
    let done = false;
    const hold = (wanted: boolean) => {
      if (done || held === wanted) return;
      held = wanted;
      connection.inUse += wanted ? 1 : -1;
      this.settle(connection);
    };
    const finish = () => {
      hold(false);
      done = true;
    };
    const socketLike = channel as ClientChannel & { ref(): ClientChannel; unref(): ClientChannel };
    socketLike.ref = () => (hold(true), channel);
    socketLike.unref = () => (hold(false), channel);
    const destroy = channel.destroy.bind(channel);
    channel.destroy = () => {
      finish();
      return destroy();
    };
    // The engine's side ended: no answer can follow, so we no longer need the channel, though the
    // ssh server keeps it open until our side ends too (dial-stdio waits for both). An exec's stream
    // the box ended, read to its end and then dropped, must not keep a CLI process alive.
    channel.once('end', finish);
    channel.once('close', () => {
      finish();
      connection.open -= 1;
    });
  }

  override createConnection(_options: unknown, callback: (error: Error | null, socket?: Duplex) => void): undefined {
    const connection = this.pick();
    // Counted before the channel exists, so a burst of requests spreads over connections, and the
    // socket keeps the process alive while the channel opens.
    connection.open += 1;
    connection.inUse += 1;
    this.settle(connection);
    const failed = (error: Error) => {
      this.release(connection, true);
      callback(error);
    };
    connection.ready.then(() => {
      connection.client.exec('docker system dial-stdio', (error, channel) => {
        if (error) return failed(error);
        this.track(connection, channel);
        callback(null, channel);
      });
    }, failed);
    return undefined;
  }

  override destroy(): void {
    for (const connection of [...this.connections]) this.drop(connection);
    super.destroy();
  }
}
