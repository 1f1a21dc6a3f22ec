import * as net from 'node:net';
import { checkAddresses, compileRules, decideName, type CompiledRules, type NetworkPhase, parseHostRule, type PhaseRules } from './egressRules.js';
import type { EgressSettings } from './egressSettings.js';
import { formatTarget, normalizeHost, printableHost, type HostTarget } from './hostTarget.js';
import { CONNECT_ESTABLISHED, headEnd, MAX_HEAD_BYTES, parseProxyRequest, ProxyRequestError, proxyResponse, type ProxyRequest } from './proxyRequest.js';
import { FRAME, type FrameType } from './relayProtocol.js';
import { peekClientHello } from './tlsClientHello.js';

/** The relay end as the broker sees it: `send` returns false when the link is full (wait for `onDrain`). */
export interface RelayLink {
  send(type: FrameType, id: number, payload?: Buffer): boolean;
}

export type Resolver = (host: string, signal: AbortSignal) => Promise<string[]>;
export type ApprovalAnswer = 'once' | 'task' | 'deny';
/** Asks a person about a destination no rule decides; settles by the deadline (a timeout is "deny"). */
export type Asker = (request: { host: string; port: number; target: string; phase: NetworkPhase; reason: string }, signal: AbortSignal) => Promise<{ answer: ApprovalAnswer; request?: string }>;

/** One line per connection attempt in the audit log. */
export interface ConnectionRecord {
  type: 'network';
  phase: NetworkPhase;
  method: string;
  host: string;
  port: number;
  address?: string;
  decision: 'allow' | 'deny';
  rule?: string;
  reason?: string;
  status?: number;
  bytesUp: number;
  bytesDown: number;
  start: string;
  durationMs: number;
  closedBy?: string;
}
export interface LimitRecord {
  type: 'network.limit';
  limit: 'maxConnections' | 'idleTimeout' | 'maxBytes';
  value: number;
  target?: string;
}
export type BrokerRecord = ConnectionRecord | LimitRecord;

export interface BrokerOptions {
  settings: EgressSettings;
  phase: NetworkPhase;
  resolve: Resolver;
  log: (record: BrokerRecord) => void;
  ask?: Asker;
  /** Bytes already used against maxBytes (a restarted gateway continues the task's budget). */
  bytesUsed?: number;
  /** Dials exactly the checked address; tests can observe or replace it. */
  dial?: (address: string, port: number, timeoutMs: number, signal: AbortSignal) => Promise<net.Socket>;
}

type TunnelState = 'head' | 'deciding' | 'open' | 'closing' | 'closed';

interface Tunnel {
  id: number;
  phase: NetworkPhase;
  state: TunnelState;
  head: Buffer[];
  headBytes: number;
  /** Bytes that arrived while deciding, forwarded once connected. */
  early: Buffer[];
  clientEnded: boolean;
  startedAt: number;
  lastActivity: number;
  bytesUp: number;
  bytesDown: number;
  record: Partial<ConnectionRecord>;
  socket?: net.Socket;
  abort: AbortController;
  pausedByRelay: boolean;
  /**
   * A CONNECT tunnel's first bytes from the sandbox, held until they are known not to be a
   * ClientHello naming another host than the one the tunnel was allowed for.
   */
  opening?: { target: HostTarget; held: Buffer[] };
}

const RESOLVE_TIMEOUT_MS = 5000;
/**
 * What the host holds for one connection when the relay keeps sending after being told to pause.
 * An honest relay stops within a socket read or two; past these, the relay is not honest and the
 * connection is cut rather than buffered on the host.
 */
const MAX_EARLY_BYTES = 1024 * 1024;
const MAX_UNSENT_BYTES = 8 * 1024 * 1024;
/**
 * Reads a ClientHello may take before it is complete. A client writes its hello at once, so it
 * comes in one read or a few; each read re-parses what is held, and this bounds that work.
 */
const MAX_OPENING_PIECES = 64;

export function defaultDial(address: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port, noDelay: true });
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    signal.addEventListener('abort', () => fail(new Error('cancelled')), { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/** Why a ClientHello's server name may not go through a tunnel allowed for `target`, or undefined when it may. */
export function serverNameRefusal(target: HostTarget, serverName: string): string | undefined {
  let named: Omit<HostTarget, 'port'>;
  try {
    named = normalizeHost(serverName);
  } catch {
    return `the TLS ClientHello's server name "${printableHost(serverName)}" is not a valid host name`;
  }
  // RFC 6066 allows only host names in SNI; a client that dialled an address has no name to send.
  if (target.kind !== 'name') return `the TLS ClientHello names ${named.host}, but the tunnel was allowed for the address ${target.host}`;
  if (named.kind !== 'name' || named.host !== target.host) return `the TLS ClientHello names ${named.host}, not ${target.host}, the host this tunnel was allowed for`;
  return undefined;
}

/**
 * The host half of egress: reads each relayed connection's request, decides it against the phase's
 * rules, resolves allowed names once and dials exactly the checked address, then pipes bytes with
 * backpressure both ways. Logs one record per attempt when it ends.
 */
export class EgressBroker {
  private readonly tunnels = new Map<number, Tunnel>();
  private compiled: Record<NetworkPhase, CompiledRules>;
  /** Whether unknown destinations become approval requests; a policy tightening can turn it off. */
  private asking: boolean;
  /** "Allow for this task" answers, per phase. */
  private readonly grants: Record<NetworkPhase, CompiledRules['allow']> = { setup: [], agent: [] };
  private phaseNow: NetworkPhase;
  private linkBlocked = false;
  private totalBytes = 0;
  private bytesLimitHit = false;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly link: RelayLink, private readonly options: BrokerOptions) {
    this.compiled = { setup: compileRules(options.settings.setup), agent: compileRules(options.settings.agent) };
    this.asking = options.settings.ask;
    this.phaseNow = options.phase;
    this.totalBytes = options.bytesUsed ?? 0;
    this.bytesLimitHit = this.totalBytes > options.settings.limits.maxBytes;
    const idleMs = options.settings.limits.idleTimeoutSeconds * 1000;
    this.sweeper = setInterval(() => this.sweepIdle(idleMs), Math.min(1000, idleMs / 4)).unref();
  }

  get phase(): NetworkPhase {
    return this.phaseNow;
  }

  get openConnections(): number {
    return this.tunnels.size;
  }

  /**
   * Replaces the rules new connections are decided by (a policy tightening while the task runs).
   * Open connections were allowed under the old rules and keep going until they end.
   */
  useRules(rules: { setup: PhaseRules; agent: PhaseRules; ask: boolean }): void {
    this.compiled = { setup: compileRules(rules.setup), agent: compileRules(rules.agent) };
    this.asking = rules.ask;
  }

  /** Moves to another phase; connections opened under the old one are closed at once. */
  setPhase(phase: NetworkPhase): number {
    this.phaseNow = phase;
    let closed = 0;
    for (const tunnel of [...this.tunnels.values()]) {
      if (tunnel.phase === phase) continue;
      this.finish(tunnel, 'phase change');
      closed++;
    }
    return closed;
  }

  /**
   * Frames from the relay. A fault while handling one ends that connection only: it is not the
   * relay's doing, so it must not read as a protocol error that cuts the relay off.
   */
  handleFrame(type: number, id: number, payload: Buffer): void {
    if (this.closed) return;
    if (type === FRAME.OPEN) return this.open(id);
    const tunnel = this.tunnels.get(id);
    if (!tunnel) return;
    this.guard(tunnel, () => {
      if (type === FRAME.DATA) this.fromSandbox(tunnel, payload);
      else if (type === FRAME.END) {
        tunnel.clientEnded = true;
        if (tunnel.state === 'open') tunnel.socket?.end();
      } else if (type === FRAME.CLOSE) {
        this.finish(tunnel, 'client', false);
      } else if (type === FRAME.PAUSE) {
        tunnel.pausedByRelay = true;
        tunnel.socket?.pause();
      } else if (type === FRAME.RESUME) {
        tunnel.pausedByRelay = false;
        if (!this.linkBlocked) tunnel.socket?.resume();
      }
    });
  }

  /** The link to the relay has room again. */
  onLinkDrain(): void {
    this.linkBlocked = false;
    for (const tunnel of this.tunnels.values()) if (!tunnel.pausedByRelay) tunnel.socket?.resume();
  }

  /**
   * Ends every connection (logging each) and stops; the relay is told separately. Never throws: a
   * connection that cannot be ended cleanly is dropped, and the others still end.
   */
  close(reason = 'gateway stopped'): void {
    if (this.closed) return;
    for (const tunnel of [...this.tunnels.values()]) this.guard(tunnel, () => this.finish(tunnel, reason));
    this.closed = true;
    clearInterval(this.sweeper);
  }

  private send(type: FrameType, id: number, payload?: Buffer): void {
    if (!this.link.send(type, id, payload) && !this.linkBlocked) {
      this.linkBlocked = true;
      for (const tunnel of this.tunnels.values()) tunnel.socket?.pause();
    }
  }

  private open(id: number): void {
    // An honest relay never reuses a live id; a subverted one must not orphan the first connection.
    const existing = this.tunnels.get(id);
    if (existing) this.guard(existing, () => this.finish(existing, 'relay reused the connection id'));
    const now = Date.now();
    const tunnel: Tunnel = { id, phase: this.phaseNow, state: 'head', head: [], headBytes: 0, early: [], clientEnded: false, startedAt: now, lastActivity: now, bytesUp: 0, bytesDown: 0, record: {}, abort: new AbortController(), pausedByRelay: false };
    const { maxConnections } = this.options.settings.limits;
    const full = this.tunnels.size >= maxConnections;
    this.tunnels.set(id, tunnel);
    this.guard(tunnel, () => {
      if (full) {
        this.options.log({ type: 'network.limit', limit: 'maxConnections', value: maxConnections });
        this.refuse(tunnel, 503, `too many connections at once (limit ${maxConnections})`, { rule: 'limit maxConnections' });
      } else if (this.bytesLimitHit) {
        this.refuse(tunnel, 403, `the task's network byte limit (${this.options.settings.limits.maxBytes}) is used up`, { rule: 'limit maxBytes' });
      }
    });
  }

  private fromSandbox(tunnel: Tunnel, data: Buffer): void {
    tunnel.lastActivity = Date.now();
    if (tunnel.state === 'open' && tunnel.opening) return this.checkOpening(tunnel, tunnel.opening, data);
    if (tunnel.state === 'open') {
      const allowed = this.withinBudget(data);
      tunnel.bytesUp += allowed.length;
      const written = !tunnel.socket || tunnel.socket.write(allowed);
      this.countBytes(data.length);
      if (!written && tunnel.socket && tunnel.state === 'open') {
        if (tunnel.socket.writableLength > MAX_UNSENT_BYTES) return this.finish(tunnel, 'relay ignored pause');
        if (tunnel.socket.writableLength - allowed.length <= tunnel.socket.writableHighWaterMark) {
          this.send(FRAME.PAUSE, tunnel.id);
          tunnel.socket.once('drain', () => this.guard(tunnel, () => this.send(FRAME.RESUME, tunnel.id)));
        }
      }
      return;
    }
    if (tunnel.state === 'deciding') {
      tunnel.early.push(data);
      const early = tunnel.early.reduce((sum, chunk) => sum + chunk.length, 0);
      if (early > MAX_EARLY_BYTES) return this.finish(tunnel, 'relay ignored pause');
      if (early - data.length <= MAX_HEAD_BYTES * 4 && early > MAX_HEAD_BYTES * 4) this.send(FRAME.PAUSE, tunnel.id);
      return;
    }
    if (tunnel.state !== 'head') return;
    tunnel.head.push(data);
    tunnel.headBytes += data.length;
    const buffered = Buffer.concat(tunnel.head);
    const end = headEnd(buffered);
    if (end < 0) {
      if (tunnel.headBytes > MAX_HEAD_BYTES) this.refuse(tunnel, 431, `the request head is over ${MAX_HEAD_BYTES} bytes`, {});
      return;
    }
    if (end > MAX_HEAD_BYTES) return this.refuse(tunnel, 431, `the request head is over ${MAX_HEAD_BYTES} bytes`, {});
    tunnel.head = [];
    let request: ProxyRequest;
    try {
      request = parseProxyRequest(buffered.subarray(0, end));
    } catch (error) {
      const status = error instanceof ProxyRequestError ? error.status : 400;
      return this.refuse(tunnel, status, (error as Error).message, { method: buffered.subarray(0, 16).toString('latin1').split(' ')[0].replace(/[^A-Z]/g, '').slice(0, 10) || undefined });
    }
    if (end < buffered.length) tunnel.early.push(buffered.subarray(end));
    tunnel.state = 'deciding';
    tunnel.record = { method: request.method, host: request.target.host, port: request.target.port };
    // Unawaited, so nothing else would hear of a failure: an unhandled rejection ends the gateway
    // process and every connection of the task with it.
    this.decideAndConnect(tunnel, request).catch((error: unknown) => this.fault(tunnel, error));
  }

  private async decideAndConnect(tunnel: Tunnel, request: ProxyRequest): Promise<void> {
    const { target } = request;
    const signal = tunnel.abort.signal;
    const rules = this.rulesFor(tunnel.phase);
    let verdict = decideName(rules, target);
    if (verdict.decision === 'unknown') {
      const approved = await this.askAbout(tunnel, target, verdict.reason, signal);
      if (signal.aborted) return;
      if (!approved) return this.refuse(tunnel, 403, `${formatTarget(target)} is not on the ${tunnel.phase} allowlist (${verdict.reason})`, { rule: tunnel.record.rule });
      verdict = { decision: 'allow', rule: approved };
    }
    if (verdict.decision === 'deny') return this.refuse(tunnel, 403, `${formatTarget(target)} is refused: ${verdict.reason}`, { rule: verdict.rule });
    tunnel.record.rule = verdict.rule;
    let addresses: string[];
    if (target.kind === 'name') {
      try {
        addresses = await this.lookup(target.host, signal);
      } catch (error) {
        if (signal.aborted) return;
        return this.refuse(tunnel, 502, `${target.host} did not resolve (${(error as Error).message})`, { decision: 'allow' });
      }
    } else addresses = [target.host];
    if (signal.aborted) return;
    const checked = checkAddresses(rules, addresses);
    if (!checked.ok) return this.refuse(tunnel, 403, `${formatTarget(target)} is refused: ${checked.reason}`, { address: checked.address, rule: checked.rule ?? tunnel.record.rule });
    tunnel.record.address = checked.address;
    if (checked.cidrRule && checked.cidrRule !== verdict.rule) tunnel.record.rule = `${verdict.rule}; ${checked.cidrRule}`;
    const dial = this.options.dial ?? defaultDial;
    let socket: net.Socket;
    try {
      socket = await dial(checked.address, target.port, this.options.settings.limits.connectTimeoutSeconds * 1000, signal);
    } catch (error) {
      if (signal.aborted) return;
      return this.refuse(tunnel, 502, `could not connect to ${formatTarget(target)} (${checked.address}): ${(error as Error).message}`, { decision: 'allow' });
    }
    if (tunnel.state !== 'deciding') {
      socket.destroy();
      return;
    }
    this.connected(tunnel, socket, request);
  }

  /**
   * Holds a tunnel's first bytes until they are either not TLS or a complete ClientHello, then lets
   * them through only when its server name (SNI) is the tunnel's own host. A front end that routes
   * by SNI would otherwise carry a tunnel allowed for one name to any other name it serves.
   */
  private checkOpening(tunnel: Tunnel, opening: NonNullable<Tunnel['opening']>, data: Buffer): void {
    opening.held.push(data);
    const peek = peekClientHello(Buffer.concat(opening.held));
    let refusal: string | undefined;
    if (peek.kind === 'partial') {
      if (opening.held.length <= MAX_OPENING_PIECES) return;
      refusal = `the tunnel's TLS ClientHello did not arrive within ${MAX_OPENING_PIECES} reads`;
    } else if (peek.kind === 'invalid') refusal = `the tunnel's TLS opening is refused: ${peek.reason}`;
    else if (peek.kind === 'hello' && peek.serverName !== undefined) refusal = serverNameRefusal(opening.target, peek.serverName);
    if (refusal) {
      Object.assign(tunnel.record, { decision: 'deny', reason: printableHost(refusal) });
      return this.finish(tunnel, 'tls server name');
    }
    tunnel.opening = undefined;
    for (const chunk of opening.held) {
      if (tunnel.state !== 'open') return;
      this.fromSandbox(tunnel, chunk);
    }
  }

  private rulesFor(phase: NetworkPhase): CompiledRules {
    const rules = this.compiled[phase];
    return this.grants[phase].length ? { ...rules, allow: [...rules.allow, ...this.grants[phase]] } : rules;
  }

  private async lookup(host: string, signal: AbortSignal): Promise<string[]> {
    const timeout = AbortSignal.timeout(RESOLVE_TIMEOUT_MS);
    const both = AbortSignal.any([signal, timeout]);
    return await new Promise<string[]>((resolve, reject) => {
      both.addEventListener('abort', () => reject(new Error(timeout.aborted ? `no answer within ${RESOLVE_TIMEOUT_MS / 1000} s` : 'cancelled')), { once: true });
      this.options.resolve(host, both).then(resolve, reject);
    });
  }

  /** Returns the rule text that let the destination through, or undefined when refused. */
  private async askAbout(tunnel: Tunnel, target: HostTarget, reason: string, signal: AbortSignal): Promise<string | undefined> {
    if (!this.asking || !this.options.ask) return undefined;
    const text = formatTarget(target);
    const timeout = AbortSignal.timeout(this.options.settings.approvalTimeoutSeconds * 1000);
    let answer: ApprovalAnswer;
    let request: string | undefined;
    try {
      ({ answer, request } = await this.options.ask({ host: target.host, port: target.port, target: text, phase: tunnel.phase, reason }, AbortSignal.any([signal, timeout])));
    } catch {
      answer = 'deny';
    }
    const via = request ? `approval ${request}` : 'approval';
    tunnel.record.rule = `${via}: ${answer}`;
    if (answer === 'deny') return undefined;
    if (answer === 'task') this.grants[tunnel.phase].push(parseHostRule(text));
    return tunnel.record.rule;
  }

  private connected(tunnel: Tunnel, socket: net.Socket, request: ProxyRequest): void {
    tunnel.socket = socket;
    tunnel.state = 'open';
    tunnel.lastActivity = Date.now();
    if (request.kind === 'connect') {
      tunnel.opening = { target: request.target, held: [] };
      this.send(FRAME.DATA, tunnel.id, CONNECT_ESTABLISHED);
    } else {
      socket.write(request.head);
      tunnel.bytesUp += request.head.length;
      this.countBytes(request.head.length);
      if (tunnel.state !== 'open') return;
    }
    const early = tunnel.early;
    tunnel.early = [];
    for (const chunk of early) this.fromSandbox(tunnel, chunk);
    // The early bytes may have been a refused ClientHello, or gone over a limit.
    if (tunnel.state !== 'open') return;
    this.send(FRAME.RESUME, tunnel.id);
    if (tunnel.clientEnded) socket.end();
    if (this.linkBlocked || tunnel.pausedByRelay) socket.pause();
    socket.on('data', (data: Buffer) =>
      this.guard(tunnel, () => {
        tunnel.lastActivity = Date.now();
        const allowed = this.withinBudget(data);
        tunnel.bytesDown += allowed.length;
        if (allowed.length) this.send(FRAME.DATA, tunnel.id, allowed);
        this.countBytes(data.length);
      }),
    );
    socket.on('end', () => this.guard(tunnel, () => this.send(FRAME.END, tunnel.id)));
    socket.on('error', () => undefined);
    socket.on('close', () =>
      this.guard(tunnel, () => {
        if (tunnel.state === 'open') this.finish(tunnel, 'server');
      }),
    );
  }

  /** What of `data` still fits under maxBytes: the rest is never forwarded, so the limit is not the limit plus a read. */
  private withinBudget(data: Buffer): Buffer {
    const room = this.options.settings.limits.maxBytes - this.totalBytes;
    return data.length <= room ? data : data.subarray(0, Math.max(0, room));
  }

  private countBytes(count: number): void {
    this.totalBytes += count;
    const { maxBytes } = this.options.settings.limits;
    if (this.totalBytes <= maxBytes || this.bytesLimitHit) return;
    this.bytesLimitHit = true;
    try {
      this.options.log({ type: 'network.limit', limit: 'maxBytes', value: maxBytes });
    } finally {
      // The limit holds even when its record cannot be written.
      for (const tunnel of [...this.tunnels.values()]) this.guard(tunnel, () => this.finish(tunnel, 'limit maxBytes'));
    }
  }

  private sweepIdle(idleMs: number): void {
    const now = Date.now();
    for (const tunnel of [...this.tunnels.values()]) {
      // A connection waiting on a person is not idle; the approval timeout bounds it.
      if (tunnel.state === 'deciding' || now - tunnel.lastActivity < idleMs) continue;
      this.guard(tunnel, () => {
        this.options.log({ type: 'network.limit', limit: 'idleTimeout', value: idleMs / 1000, target: tunnel.record.host ? `${tunnel.record.host}:${tunnel.record.port}` : undefined });
        this.finish(tunnel, 'limit idleTimeout');
      });
    }
  }

  /** Answers the sandbox with a proxy error and logs the refusal. */
  private refuse(tunnel: Tunnel, status: number, reason: string, record: Partial<ConnectionRecord>): void {
    if (tunnel.state === 'closing' || tunnel.state === 'closed') return;
    Object.assign(tunnel.record, { decision: status === 403 || status === 400 || status === 431 || status === 503 ? 'deny' : 'allow', ...record, reason: printableHost(reason), status });
    this.send(FRAME.DATA, tunnel.id, proxyResponse(status, reason));
    this.send(FRAME.END, tunnel.id);
    tunnel.state = 'closing';
    // The relay closes the socket once the sandbox has read the answer; this is the backstop.
    setTimeout(() => this.guard(tunnel, () => this.finish(tunnel, 'refused')), 10_000).unref();
  }

  /**
   * Runs one connection's step from a callback (a timer, a socket event): nothing up the stack
   * would catch a throw there, and an uncaught one ends the gateway process with every connection.
   */
  private guard(tunnel: Tunnel, step: () => unknown): void {
    try {
      step();
    } catch (error) {
      this.fault(tunnel, error);
    }
  }

  /**
   * A fault in the broker itself (a bug, a failing audit write, a broken link) while handling one
   * connection: that connection ends, with a 500 when it is still waiting for its answer, and its
   * record says why; the broker and the other connections go on. Never throws.
   */
  private fault(tunnel: Tunnel, error: unknown): void {
    const why = printableHost(`gateway fault: ${error instanceof Error ? error.message : String(error)}`);
    try {
      if (tunnel.state === 'head' || tunnel.state === 'deciding') {
        // The sandbox gets no detail: the message may name host paths.
        this.refuse(tunnel, 500, 'the gateway failed on this connection', { decision: 'deny' });
        tunnel.record.reason = why;
      } else {
        tunnel.record.reason ??= why;
        this.finish(tunnel, 'gateway fault');
      }
    } catch {
      // The fault is in the link or the log themselves: end the connection without them.
      this.drop(tunnel);
    }
  }

  /** Ends a connection without telling the relay or logging: for when those are what failed. */
  private drop(tunnel: Tunnel): void {
    tunnel.state = 'closed';
    tunnel.abort.abort();
    tunnel.socket?.destroy();
    if (this.tunnels.get(tunnel.id) === tunnel) this.tunnels.delete(tunnel.id);
  }

  private finish(tunnel: Tunnel, closedBy: string, tellRelay = true): void {
    if (tunnel.state === 'closed') return;
    const wasOpen = tunnel.state === 'open';
    this.drop(tunnel);
    if (tellRelay) this.send(FRAME.CLOSE, tunnel.id);
    const record = tunnel.record;
    if (!record.host && !record.reason && closedBy === 'client') return; // connected and left without a request: nothing was attempted
    this.options.log({
      type: 'network',
      phase: tunnel.phase,
      method: record.method ?? '?',
      host: record.host ?? '?',
      port: record.port ?? 0,
      address: record.address,
      decision: record.decision ?? (wasOpen ? 'allow' : 'deny'),
      rule: record.rule,
      reason: record.reason ?? (wasOpen ? undefined : `closed before a decision (${closedBy})`),
      status: record.status,
      bytesUp: tunnel.bytesUp,
      bytesDown: tunnel.bytesDown,
      start: new Date(tunnel.startedAt).toISOString(),
      durationMs: Date.now() - tunnel.startedAt,
      closedBy,
    });
  }
}
