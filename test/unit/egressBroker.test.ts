import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { defaultDial, EgressBroker, type ApprovalAnswer, type Asker, type BrokerOptions, type BrokerRecord, type ConnectionRecord, type LimitRecord, type RelayLink } from '../../src/core/egress/egressBroker.js';
import type { NetworkPhase } from '../../src/core/egress/egressRules.js';
import { egressSettingsSchema, type EgressSettingsInput } from '../../src/core/egress/egressSettings.js';
import { FRAME, type FrameType } from '../../src/core/egress/relayProtocol.js';
import { helloMessage, hostName, realHello, records, sni } from '../helpers/tlsHello.js';
import { sleep, until } from '../helpers/until.js';

// ---------------------------------------------------------------------------------------------
// Harness: a fake relay link, loopback destinations, an injected resolver and an observed dial.
// ---------------------------------------------------------------------------------------------



interface SentFrame {
  type: number;
  id: number;
  payload: Buffer;
}

/** The relay end: records every frame the broker sends. `full` makes send report a full link. */
class FakeRelay implements RelayLink {
  readonly sent: SentFrame[] = [];
  full = false;
  /** The next frame this matches makes send throw instead (a link that broke under the broker). */
  breakOn: ((frame: SentFrame) => boolean) | undefined;

  send(type: FrameType, id: number, payload?: Buffer): boolean {
    const frame = { type, id, payload: payload ? Buffer.from(payload) : Buffer.alloc(0) };
    if (this.breakOn?.(frame)) {
      this.breakOn = undefined;
      throw new Error('write EPIPE');
    }
    this.sent.push(frame);
    return !this.full;
  }

  /** What the sandbox side of connection `id` has received so far. */
  data(id: number): string {
    return Buffer.concat(this.sent.filter((frame) => frame.type === FRAME.DATA && frame.id === id).map((frame) => frame.payload)).toString('latin1');
  }

  dataFrames(id: number): number {
    return this.sent.filter((frame) => frame.type === FRAME.DATA && frame.id === id).length;
  }

  got(type: number, id: number): boolean {
    return this.sent.some((frame) => frame.type === type && frame.id === id);
  }
}

interface HarnessOptions {
  phase?: NetworkPhase;
  /** Name → answer; names not listed fail to resolve. */
  names?: Record<string, string[]>;
  ask?: Asker;
  /** Replaces the real dial (still recorded). */
  dial?: BrokerOptions['dial'];
  resolve?: BrokerOptions['resolve'];
  /** Records this matches are not written: the log throws, as an audit append does on a full disk. */
  logFails?: (record: BrokerRecord) => boolean;
}

interface Harness {
  broker: EgressBroker;
  relay: FakeRelay;
  records: BrokerRecord[];
  resolved: string[];
  dials: Array<{ address: string; port: number; timeoutMs: number }>;
  /** OPEN, then the bytes as one DATA frame when given. */
  open(id: number, bytes?: string | Buffer): void;
  data(id: number, bytes: string | Buffer): void;
  /** The relay reports that the sandbox process closed its socket. */
  clientClose(id: number): void;
  connections(): ConnectionRecord[];
  limits(): LimitRecord[];
  /** Waits for the broker's END (the answer is complete), then closes like a sandbox client that read it. */
  readRefusal(id: number): Promise<string>;
  recordFor(host: string, count?: number): Promise<ConnectionRecord>;
}

function harness(t: TestContext, settingsInput: EgressSettingsInput, options: HarnessOptions = {}): Harness {
  const relay = new FakeRelay();
  const records: BrokerRecord[] = [];
  const resolved: string[] = [];
  const dials: Harness['dials'] = [];
  const names = options.names ?? {};
  const broker = new EgressBroker(relay, {
    settings: egressSettingsSchema.parse(settingsInput),
    phase: options.phase ?? 'agent',
    log: (record) => {
      if (options.logFails?.(record)) throw new Error("ENOSPC: no space left on device, write '/state/tasks/abcdef012345/audit.jsonl'");
      records.push(record);
    },
    ask: options.ask,
    resolve:
      options.resolve ??
      (async (host) => {
        resolved.push(host);
        const answer = names[host];
        if (!answer) throw new Error(`${host}: no such name`);
        return answer;
      }),
    dial: (address, port, timeoutMs, signal) => {
      dials.push({ address, port, timeoutMs });
      return (options.dial ?? defaultDial)(address, port, timeoutMs, signal);
    },
  });
  t.after(() => broker.close('test over'));
  const connections = () => records.filter((record): record is ConnectionRecord => record.type === 'network');
  const h: Harness = {
    broker,
    relay,
    records,
    resolved,
    dials,
    open(id, bytes) {
      broker.handleFrame(FRAME.OPEN, id, Buffer.alloc(0));
      if (bytes !== undefined) h.data(id, bytes);
    },
    data(id, bytes) {
      broker.handleFrame(FRAME.DATA, id, typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    },
    clientClose(id) {
      broker.handleFrame(FRAME.CLOSE, id, Buffer.alloc(0));
    },
    connections,
    limits: () => records.filter((record): record is LimitRecord => record.type === 'network.limit'),
    async readRefusal(id) {
      await until(`END for connection ${id}`, () => relay.got(FRAME.END, id));
      h.clientClose(id);
      return relay.data(id);
    },
    recordFor: (host, count = 1) => until(`${count} record(s) for ${host}`, () => {
      const found = connections().filter((record) => record.host === host);
      return found.length >= count ? found[count - 1] : undefined;
    }),
  };
  return h;
}

const ALLOW_API = { allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'] };
const LOOPBACK_NAMES = { 'api.example.test': ['127.0.0.1'], 'registry.example.test': ['127.0.0.1'], 'new.example.test': ['127.0.0.1'], 'other.example.test': ['127.0.0.1'] };

interface Destination {
  port: number;
  /** Server-side sockets, in accept order. */
  sockets: net.Socket[];
  received: () => string;
}

/** A TCP server on 127.0.0.1; `onSocket` decides what it does (echo by default). */
async function tcpServer(t: TestContext, onSocket: (socket: net.Socket) => void = (socket) => socket.pipe(socket)): Promise<Destination> {
  const sockets: net.Socket[] = [];
  const chunks: Buffer[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, sockets, received: () => Buffer.concat(chunks).toString('latin1') };
}

interface HttpDestination {
  port: number;
  requests: http.IncomingMessage[];
  bodies: string[];
}

async function httpServer(t: TestContext, body = 'hello from origin\n'): Promise<HttpDestination> {
  const requests: http.IncomingMessage[] = [];
  const bodies: string[] = [];
  const server = http.createServer((request, response) => {
    requests.push(request);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      response.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
      response.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, requests, bodies };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const connect = (host: string, port: number) => `CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`;
const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';
const closedSocket = (socket: net.Socket) => socket.destroyed || socket.readyState === 'closed';

async function established(h: Harness, id: number): Promise<void> {
  await until(`CONNECT answer on ${id}`, () => h.relay.data(id).length >= ESTABLISHED.length || h.relay.got(FRAME.END, id));
  assert.equal(h.relay.data(id).slice(0, ESTABLISHED.length), ESTABLISHED, `connection ${id} answered: ${h.relay.data(id)}`);
}

const statusLine = (response: string) => response.split('\r\n')[0];

// ---------------------------------------------------------------------------------------------

describe('EgressBroker: allowed destinations', () => {
  test('plain HTTP to an allowed name reaches the server, answers the sandbox and logs one allow record', async (t) => {
    const origin = await httpServer(t);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    const host = `api.example.test:${origin.port}`;
    h.open(1, `GET http://${host}/v1/items?q=1&r=2 HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\nKeep-Alive: 5\r\nConnection: keep-alive\r\nAccept: text/plain\r\n\r\n`);

    const record = await h.recordFor('api.example.test');
    const response = h.relay.data(1);
    assert.equal(statusLine(response), 'HTTP/1.1 200 OK');
    assert.ok(response.endsWith('\r\n\r\nhello from origin\n'), response);
    assert.ok(h.relay.got(FRAME.END, 1), 'the server finished, so the relay is told END');
    assert.ok(h.relay.got(FRAME.CLOSE, 1), 'and then CLOSE');
    // Every DATA frame went to the same connection id.
    assert.deepEqual([...new Set(h.relay.sent.filter((frame) => frame.type === FRAME.DATA).map((frame) => frame.id))], [1]);

    assert.equal(origin.requests.length, 1);
    const seen = origin.requests[0];
    assert.equal(seen.url, '/v1/items?q=1&r=2');
    assert.equal(seen.headers.host, host);
    assert.equal(seen.headers.connection, 'close');
    assert.equal(seen.headers['proxy-authorization'], undefined);
    assert.equal(seen.headers['proxy-connection'], undefined);
    assert.equal(seen.headers['keep-alive'], undefined);
    assert.equal(seen.headers.accept, 'text/plain');

    assert.deepEqual(h.resolved, ['api.example.test']);
    assert.deepEqual(h.dials.map((dial) => [dial.address, dial.port]), [['127.0.0.1', origin.port]]);
    assert.equal(h.connections().length, 1);
    assert.equal(h.records.length, 1);
    assert.equal(record.type, 'network');
    assert.equal(record.decision, 'allow');
    assert.equal(record.phase, 'agent');
    assert.equal(record.method, 'GET');
    assert.equal(record.host, 'api.example.test');
    assert.equal(record.port, origin.port);
    assert.equal(record.address, '127.0.0.1');
    assert.equal(record.rule, 'allow api.example.test; allow-cidr 127.0.0.1/32');
    assert.equal(record.closedBy, 'server');
    assert.equal(record.status, undefined);
    assert.ok(record.bytesUp > 0);
    assert.equal(record.bytesDown, Buffer.byteLength(response, 'latin1'));
    assert.equal(h.broker.openConnections, 0);
  });

  test('a request body, in the head frame and in later frames, is forwarded after the head', async (t) => {
    const origin = await httpServer(t, 'ok');
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    const host = `api.example.test:${origin.port}`;
    h.open(1, `POST http://${host}/upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 11\r\n\r\nhello`);
    h.data(1, ' world');
    await h.recordFor('api.example.test');
    assert.equal(origin.requests[0].method, 'POST');
    assert.deepEqual(origin.bodies, ['hello world']);
  });

  test('CONNECT to an allowed name answers 200 Connection Established, then pipes both ways', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    assert.ok(h.relay.got(FRAME.RESUME, 1), 'the relay is told to resume reading the sandbox socket');

    h.data(1, 'ping');
    await until('echo of ping', () => h.relay.data(1) === `${ESTABLISHED}ping`);
    h.data(1, Buffer.from([0, 1, 2, 255]));
    await until('echo of binary bytes', () => h.relay.data(1) === `${ESTABLISHED}ping\u0000\u0001\u0002\u00ff`);
    assert.equal(echo.received(), 'ping\u0000\u0001\u0002\u00ff', 'the CONNECT head itself never reaches the destination');

    // The sandbox half-closes; the echo server ends too; the broker passes END on and finishes.
    h.broker.handleFrame(FRAME.END, 1, Buffer.alloc(0));
    const record = await h.recordFor('api.example.test');
    assert.ok(h.relay.got(FRAME.END, 1));
    assert.equal(record.method, 'CONNECT');
    assert.equal(record.decision, 'allow');
    assert.equal(record.address, '127.0.0.1');
    assert.equal(record.port, echo.port);
    assert.equal(record.bytesUp, 8);
    assert.equal(record.bytesDown, 8);
    assert.equal(h.connections().length, 1);
  });

  test('bytes sent with the CONNECT head and while deciding reach the destination once connected', async (t) => {
    const echo = await tcpServer(t);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const resolved: string[] = [];
    const h = harness(t, { agent: ALLOW_API }, {
      resolve: async (host) => {
        resolved.push(host);
        await gate;
        return ['127.0.0.1'];
      },
    });
    h.open(1, `${connect('api.example.test', echo.port)}early-`);
    await until('the lookup to start', () => resolved.length === 1);
    h.data(1, 'while-deciding');
    await sleep(50);
    assert.equal(echo.sockets.length, 0, 'nothing is dialled before the name is resolved');
    release();
    await until('the early bytes echoed', () => h.relay.data(1) === `${ESTABLISHED}early-while-deciding`);
    assert.equal(echo.received(), 'early-while-deciding');
  });

  test('an IP-literal destination inside an allowCidr is reached without any lookup', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: { allowCidr: ['127.0.0.0/8'] } });
    h.open(1, connect('0x7f.1', echo.port));
    await established(h, 1);
    h.clientClose(1);
    const record = await h.recordFor('127.0.0.1');
    assert.deepEqual(h.resolved, []);
    assert.deepEqual(h.dials.map((dial) => dial.address), ['127.0.0.1']);
    assert.match(record.rule ?? '', /^allow-cidr 127\.0\.0\.0\/8/);
    assert.equal(record.address, '127.0.0.1');
    assert.equal(record.closedBy, 'client');
  });

  test('the dial gets exactly the address the check saw, the target port and the connect timeout', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API, limits: { connectTimeoutSeconds: 7 } }, { names: { 'api.example.test': ['127.0.0.1'] } });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    assert.deepEqual(h.dials, [{ address: '127.0.0.1', port: echo.port, timeoutMs: 7000 }]);
    await until('the server to accept', () => echo.sockets.length === 1);
    assert.equal(echo.sockets[0].remoteAddress, '127.0.0.1');
  });

  test('the dialled address is the canonical form of the first answer', async (t) => {
    const h = harness(t, { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.0/8'] } }, {
      names: { 'api.example.test': ['127.1', '127.0.0.2'] },
      dial: async () => {
        throw new Error('refused by the test');
      },
    });
    h.open(1, connect('api.example.test', 443));
    const response = await h.readRefusal(1);
    assert.equal(statusLine(response), 'HTTP/1.1 502 Bad Gateway');
    assert.deepEqual(h.dials.map((dial) => dial.address), ['127.0.0.1']);
    const record = await h.recordFor('api.example.test');
    assert.equal(record.decision, 'allow');
    assert.equal(record.status, 502);
    assert.equal(record.address, '127.0.0.1');
    assert.match(record.reason ?? '', /refused by the test/);
  });

  test('a destination that refuses the connection gives 502', async (t) => {
    const port = await closedPort();
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', port));
    const response = await h.readRefusal(1);
    assert.equal(statusLine(response), 'HTTP/1.1 502 Bad Gateway');
    const record = await h.recordFor('api.example.test');
    assert.equal(record.status, 502);
    assert.equal(record.decision, 'allow');
  });
});

describe('EgressBroker: refusals', () => {
  test('a name not on the list gets 403 and a deny record, and is never resolved', async (t) => {
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, connect('unknown.example.test', 443));
    const response = await h.readRefusal(1);
    assert.equal(statusLine(response), 'HTTP/1.1 403 Forbidden');
    assert.match(response, /\r\nX-Airlock-Decision: deny\r\n/);
    assert.match(response, /unknown\.example\.test:443 is not on the agent allowlist/);
    const record = await h.recordFor('unknown.example.test');
    assert.equal(record.decision, 'deny');
    assert.equal(record.status, 403);
    assert.equal(record.port, 443);
    assert.equal(record.address, undefined);
    assert.deepEqual(h.resolved, []);
    assert.deepEqual(h.dials, []);
    assert.equal(h.connections().length, 1);
  });

  test('plain HTTP to an unlisted name is refused the same way', async (t) => {
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, 'GET http://other.example.test/ HTTP/1.1\r\nHost: other.example.test\r\n\r\n');
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    const record = await h.recordFor('other.example.test');
    assert.equal(record.method, 'GET');
    assert.equal(record.port, 80);
    assert.deepEqual(h.resolved, []);
  });

  test('an allowed name that resolves to loopback without an allowCidr is refused and never dialled', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: { allow: ['api.example.test'] } }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', echo.port));
    const response = await h.readRefusal(1);
    assert.equal(statusLine(response), 'HTTP/1.1 403 Forbidden');
    assert.match(response, /127\.0\.0\.1, a loopback address/);
    const record = await h.recordFor('api.example.test');
    assert.equal(record.decision, 'deny');
    assert.equal(record.address, '127.0.0.1');
    assert.equal(record.rule, 'allow api.example.test');
    assert.deepEqual(h.resolved, ['api.example.test']);
    assert.deepEqual(h.dials, []);
    assert.equal(echo.sockets.length, 0);
  });

  test('a mixed public and private answer is refused as a whole and never dialled', async (t) => {
    const h = harness(t, { agent: { allow: ['api.example.test'] } }, {
      names: { 'api.example.test': ['8.8.8.8', '10.0.0.1'] },
      dial: async () => {
        throw new Error('must not be called');
      },
    });
    h.open(1, connect('api.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    const record = await h.recordFor('api.example.test');
    assert.equal(record.address, '10.0.0.1');
    assert.deepEqual(h.dials, []);
  });

  test('an IP-literal loopback destination is refused without a CIDR, even with an exact allow rule', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: { allow: ['127.0.0.1'] } });
    h.open(1, connect('127.1', echo.port));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    assert.deepEqual(h.dials, []);
    assert.equal((await h.recordFor('127.0.0.1')).rule, 'allow 127.0.0.1');
  });

  test('a deny rule beats an allow rule, before any lookup', async (t) => {
    const h = harness(t, { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'], deny: ['api.example.test'] } }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', 443));
    const response = await h.readRefusal(1);
    assert.equal(statusLine(response), 'HTTP/1.1 403 Forbidden');
    assert.match(response, /matches deny rule api\.example\.test/);
    const record = await h.recordFor('api.example.test');
    assert.equal(record.rule, 'deny api.example.test');
    assert.deepEqual(h.resolved, []);
    assert.deepEqual(h.dials, []);
  });

  test('a deny wildcard beats an exact allow', async (t) => {
    const h = harness(t, { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'], deny: ['*.example.test'] } }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    assert.equal((await h.recordFor('api.example.test')).rule, 'deny *.example.test');
    assert.deepEqual(h.resolved, []);
  });

  test('a deny CIDR refuses an allowed name that resolves into it', async (t) => {
    const h = harness(t, { agent: { allow: ['api.example.test'], allowCidr: ['127.0.0.0/8'], deny: ['127.0.0.1/32'] } }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    const record = await h.recordFor('api.example.test');
    assert.equal(record.rule, 'deny 127.0.0.1/32');
    assert.deepEqual(h.resolved, ['api.example.test']);
    assert.deepEqual(h.dials, []);
  });

  test('a name that does not resolve gives 502; an empty answer gives 403', async (t) => {
    const h = harness(t, { agent: { allow: ['api.example.test', 'empty.example.test'] } }, { names: { 'empty.example.test': [] } });
    h.open(1, connect('api.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 502 Bad Gateway');
    const failed = await h.recordFor('api.example.test');
    assert.equal(failed.status, 502);
    assert.match(failed.reason ?? '', /did not resolve/);
    h.open(2, connect('empty.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(2)), 'HTTP/1.1 403 Forbidden');
    assert.match((await h.recordFor('empty.example.test')).reason ?? '', /did not resolve to any address/);
    assert.deepEqual(h.dials, []);
  });

  test('a malformed request gets 400 and a deny record', async (t) => {
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, 'GET /path HTTP/1.1\r\nHost: api.example.test\r\n\r\n');
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 400 Bad Request');
    const record = await until('a record', () => h.connections()[0]);
    assert.equal(record.status, 400);
    assert.equal(record.decision, 'deny');
    assert.equal(record.method, 'GET');
    assert.equal(record.host, '?');
    assert.deepEqual(h.resolved, []);
  });

  test('a request head over 16 KiB without CRLFCRLF gets 431', async (t) => {
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, 'GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX-Pad: ');
    for (let i = 0; i < 17; i++) h.data(1, 'a'.repeat(1024));
    const response = await h.readRefusal(1);
    assert.equal(statusLine(response), 'HTTP/1.1 431 Request Header Fields Too Large');
    const record = await until('a record', () => h.connections()[0]);
    assert.equal(record.status, 431);
    assert.equal(record.decision, 'deny');
    assert.deepEqual(h.resolved, []);
    // Further bytes from the sandbox are ignored, not parsed.
    h.data(1, '\r\n\r\n');
    assert.equal(h.connections().length, 1);
  });

  test('a complete head over 16 KiB in one frame also gets 431', async (t) => {
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, `GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX-Pad: ${'a'.repeat(17 * 1024)}\r\n\r\n`);
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 431 Request Header Fields Too Large');
    assert.deepEqual(h.resolved, []);
  });

  test('a request head split across many frames is reassembled', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1);
    for (const char of connect('api.example.test', echo.port)) h.data(1, char);
    await established(h, 1);
  });
});

describe('EgressBroker: limits', () => {
  test('maxConnections 2: the third OPEN gets 503 and a maxConnections record; a slot frees on close', async (t) => {
    const h = harness(t, { agent: ALLOW_API, limits: { maxConnections: 2 } }, { names: LOOPBACK_NAMES });
    h.open(1);
    h.open(2);
    assert.equal(h.relay.sent.length, 0);
    h.open(3);
    assert.deepEqual(h.limits(), [{ type: 'network.limit', limit: 'maxConnections', value: 2 }]);
    const response = await h.readRefusal(3);
    assert.equal(statusLine(response), 'HTTP/1.1 503 Service Unavailable');
    assert.match(response, /too many connections at once \(limit 2\)/);
    const record = await until('a record', () => h.connections()[0]);
    assert.equal(record.status, 503);
    assert.equal(record.decision, 'deny');
    assert.equal(record.rule, 'limit maxConnections');
    assert.equal(h.relay.sent.filter((frame) => frame.id !== 3).length, 0, 'connections 1 and 2 were left alone');

    // Connection 1 leaves without a request: nothing was attempted, nothing is logged, a slot frees.
    h.clientClose(1);
    assert.equal(h.connections().length, 1);
    h.open(4);
    assert.equal(h.relay.got(FRAME.DATA, 4), false);
    assert.equal(h.limits().length, 1);
    assert.equal(h.broker.openConnections, 2);
  });

  test('idleTimeoutSeconds 1: a tunnel with no traffic is closed within ~2.5 s with an idleTimeout record', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API, limits: { idleTimeoutSeconds: 1 } }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    const since = Date.now();
    await until('the idle tunnel to close', () => h.relay.got(FRAME.CLOSE, 1), 2500);
    const elapsed = Date.now() - since;
    assert.ok(elapsed >= 900, `closed after only ${elapsed} ms`);
    assert.deepEqual(h.limits(), [{ type: 'network.limit', limit: 'idleTimeout', value: 1, target: `api.example.test:${echo.port}` }]);
    const record = await h.recordFor('api.example.test');
    assert.equal(record.closedBy, 'limit idleTimeout');
    assert.equal(record.decision, 'allow');
    await until('the destination socket to close', () => closedSocket(echo.sockets[0]));
    assert.equal(h.broker.openConnections, 0);
  });

  test('traffic keeps a tunnel from idling out', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API, limits: { idleTimeoutSeconds: 1 } }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    for (let i = 0; i < 6; i++) {
      await sleep(300);
      h.data(1, 'x');
    }
    assert.equal(h.relay.got(FRAME.CLOSE, 1), false);
    assert.deepEqual(h.limits(), []);
    await until('the idle tunnel to close', () => h.relay.got(FRAME.CLOSE, 1), 2500);
  });

  test('a connection that never sends a request is closed as idle too', async (t) => {
    const h = harness(t, { agent: ALLOW_API, limits: { idleTimeoutSeconds: 1 } }, { names: LOOPBACK_NAMES });
    h.open(1);
    await until('the idle connection to close', () => h.relay.got(FRAME.CLOSE, 1), 2500);
    assert.deepEqual(h.limits(), [{ type: 'network.limit', limit: 'idleTimeout', value: 1, target: undefined }]);
  });

  test('maxBytes: a server sending past the limit closes the tunnel, logs maxBytes, and later OPENs are refused', async (t) => {
    const source = await tcpServer(t, (socket) => socket.write(Buffer.alloc(10 * 1024, 0x62)));
    const h = harness(t, { agent: ALLOW_API, limits: { maxBytes: 1000 } }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', source.port));
    await until('the tunnel to close', () => h.relay.got(FRAME.CLOSE, 1));
    assert.deepEqual(h.limits(), [{ type: 'network.limit', limit: 'maxBytes', value: 1000 }]);
    const record = await h.recordFor('api.example.test');
    assert.equal(record.closedBy, 'limit maxBytes');
    // Cut at the limit exactly, not a read past it (a read may be as large as a frame).
    assert.equal(record.bytesDown, 1000);
    assert.equal(h.relay.data(1).length, ESTABLISHED.length + 1000);
    await until('the destination socket to close', () => closedSocket(source.sockets[0]));

    h.open(2);
    const response = await h.readRefusal(2);
    assert.equal(statusLine(response), 'HTTP/1.1 403 Forbidden');
    assert.match(response, /byte limit \(1000\) is used up/);
    const refused = await until('the refusal record', () => h.connections()[1]);
    assert.equal(refused.rule, 'limit maxBytes');
    assert.equal(refused.status, 403);
    assert.equal(h.limits().length, 1, 'the limit is logged once');
    assert.equal(source.sockets.length, 1, 'nothing else was dialled');
  });

  test('maxBytes counts bytes the sandbox sends too', async (t) => {
    const sink = await tcpServer(t, () => undefined);
    const h = harness(t, { agent: ALLOW_API, limits: { maxBytes: 1000 } }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', sink.port));
    await established(h, 1);
    h.data(1, 'u'.repeat(600));
    assert.deepEqual(h.limits(), []);
    h.data(1, 'u'.repeat(600));
    assert.deepEqual(h.limits(), [{ type: 'network.limit', limit: 'maxBytes', value: 1000 }]);
    assert.ok(h.relay.got(FRAME.CLOSE, 1));
    // Only what fit under the limit went on.
    assert.equal((await h.recordFor('api.example.test')).bytesUp, 1000);
    assert.ok(sink.received().length <= 1000, `${sink.received().length} bytes upstream`);
  });

  test('maxBytes counts the forwarded head of a plain HTTP request', async (t) => {
    // A sink that reads and never answers: the only bytes are the ones the sandbox sends.
    const sink = await tcpServer(t, () => undefined);
    const h = harness(t, { agent: ALLOW_API, limits: { maxBytes: 1000 } }, { names: LOOPBACK_NAMES });
    const host = `api.example.test:${sink.port}`;
    h.open(1, `GET http://${host}/ HTTP/1.1\r\nHost: ${host}\r\nX-Pad: ${'p'.repeat(2000)}\r\n\r\n`);
    await until('the destination to receive the head', () => sink.received().length > 2000);
    assert.ok(sink.received().length > 1000, 'more than maxBytes went upstream');
    assert.deepEqual(h.limits(), [{ type: 'network.limit', limit: 'maxBytes', value: 1000 }], 'the head bytes should count toward maxBytes');
  });
});

describe('EgressBroker: phases', () => {
  test("setPhase('agent') closes setup tunnels and a setup-only host is refused afterwards", async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { setup: { allow: ['registry.example.test'], allowCidr: ['127.0.0.1/32'] }, agent: {} }, { phase: 'setup', names: LOOPBACK_NAMES });
    assert.equal(h.broker.phase, 'setup');
    h.open(1, connect('registry.example.test', echo.port));
    await established(h, 1);
    assert.equal(h.broker.setPhase('setup'), 0, 'staying in a phase closes nothing');
    assert.equal(h.broker.setPhase('agent'), 1);
    assert.equal(h.broker.phase, 'agent');
    assert.ok(h.relay.got(FRAME.CLOSE, 1));
    const closed = await h.recordFor('registry.example.test');
    assert.equal(closed.phase, 'setup');
    assert.equal(closed.closedBy, 'phase change');
    assert.equal(closed.decision, 'allow');
    await until('the destination socket to close', () => closedSocket(echo.sockets[0]));

    h.open(2, connect('registry.example.test', echo.port));
    assert.equal(statusLine(await h.readRefusal(2)), 'HTTP/1.1 403 Forbidden');
    const refused = await h.recordFor('registry.example.test', 2);
    assert.equal(refused.phase, 'agent');
    assert.equal(refused.decision, 'deny');
    assert.deepEqual(h.resolved, ['registry.example.test'], 'the refused name is not looked up');
    assert.equal(echo.sockets.length, 1);
  });

  test('a connection still deciding when the phase changes is closed and never dialled', async (t) => {
    const echo = await tcpServer(t);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let lookups = 0;
    const h = harness(t, { setup: { allow: ['registry.example.test'], allowCidr: ['127.0.0.1/32'] } }, {
      phase: 'setup',
      resolve: async () => {
        lookups++;
        await gate;
        return ['127.0.0.1'];
      },
    });
    h.open(1, connect('registry.example.test', echo.port));
    await until('the lookup to start', () => lookups === 1);
    assert.equal(h.broker.setPhase('agent'), 1);
    release();
    await sleep(100);
    assert.deepEqual(h.dials, []);
    assert.equal(echo.sockets.length, 0);
    const record = await h.recordFor('registry.example.test');
    assert.equal(record.closedBy, 'phase change');
    assert.equal(record.decision, 'deny');
  });
});

describe('EgressBroker: asking about unknown destinations', () => {
  const asker = (answers: ApprovalAnswer[] | (() => Promise<{ answer: ApprovalAnswer; request?: string }>)) => {
    const calls: Array<Parameters<Asker>[0]> = [];
    const ask: Asker = async (request) => {
      calls.push(request);
      if (typeof answers === 'function') return answers();
      return { answer: answers[Math.min(calls.length - 1, answers.length - 1)] };
    };
    return { calls, ask };
  };

  test("'once' lets an unknown host through this time only", async (t) => {
    const echo = await tcpServer(t);
    const { calls, ask } = asker(['once']);
    const h = harness(t, { ask: true, agent: { allowCidr: ['127.0.0.1/32'] } }, { names: LOOPBACK_NAMES, ask });
    h.open(1, connect('new.example.test', echo.port));
    await established(h, 1);
    assert.deepEqual(calls, [{ host: 'new.example.test', port: echo.port, target: `new.example.test:${echo.port}`, phase: 'agent', reason: 'no rule matches this destination' }]);
    h.clientClose(1);
    const record = await h.recordFor('new.example.test');
    assert.equal(record.rule, 'approval: once; allow-cidr 127.0.0.1/32');
    assert.equal(record.decision, 'allow');

    h.open(2, connect('new.example.test', echo.port));
    await established(h, 2);
    assert.equal(calls.length, 2, "'once' is asked again next time");
  });

  test("'deny' refuses with 403 and the name is never resolved", async (t) => {
    const { calls, ask } = asker(['deny']);
    const h = harness(t, { ask: true, agent: { allowCidr: ['127.0.0.1/32'] } }, { names: LOOPBACK_NAMES, ask });
    h.open(1, connect('new.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    const record = await h.recordFor('new.example.test');
    assert.equal(record.rule, 'approval: deny');
    assert.equal(record.decision, 'deny');
    assert.equal(calls.length, 1);
    assert.deepEqual(h.resolved, []);
  });

  test("'task' allows later connections to the same host:port without asking again", async (t) => {
    const echo = await tcpServer(t);
    const { calls, ask } = asker(async () => ({ answer: 'task', request: 'req-7' }));
    const h = harness(t, { ask: true, agent: { allowCidr: ['127.0.0.1/32'] } }, { names: LOOPBACK_NAMES, ask });
    h.open(1, connect('new.example.test', echo.port));
    await established(h, 1);
    h.clientClose(1);
    assert.equal((await h.recordFor('new.example.test')).rule, 'approval req-7: task; allow-cidr 127.0.0.1/32');

    h.open(2, connect('new.example.test', echo.port));
    await established(h, 2);
    assert.equal(calls.length, 1);
    h.clientClose(2);
    assert.equal((await h.recordFor('new.example.test', 2)).rule, `allow new.example.test:${echo.port}; allow-cidr 127.0.0.1/32`);

    // The grant is for that port only.
    h.open(3, connect('new.example.test', 1));
    await until('the question about another port', () => calls.length === 2);
    assert.equal(calls[1].port, 1);
  });

  test("a 'task' grant does not carry over to another phase", async (t) => {
    const echo = await tcpServer(t);
    const { calls, ask } = asker(['task', 'deny']);
    const h = harness(t, { ask: true, setup: { allowCidr: ['127.0.0.1/32'] }, agent: { allowCidr: ['127.0.0.1/32'] } }, { phase: 'setup', names: LOOPBACK_NAMES, ask });
    h.open(1, connect('new.example.test', echo.port));
    await established(h, 1);
    h.broker.setPhase('agent');
    h.open(2, connect('new.example.test', echo.port));
    assert.equal(statusLine(await h.readRefusal(2)), 'HTTP/1.1 403 Forbidden');
    assert.equal(calls.length, 2);
    assert.equal(calls[1].phase, 'agent');
  });

  test('a grant never overrides a deny rule (deny rules are not asked about)', async (t) => {
    const { calls, ask } = asker(['task']);
    const h = harness(t, { ask: true, agent: { allowCidr: ['127.0.0.1/32'], deny: ['*.example.test'] } }, { names: LOOPBACK_NAMES, ask });
    h.open(1, connect('new.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    assert.equal(calls.length, 0);
  });

  test('with ask false the asker is never called', async (t) => {
    const { calls, ask } = asker(['once']);
    const h = harness(t, { ask: false, agent: { allowCidr: ['127.0.0.1/32'] } }, { names: LOOPBACK_NAMES, ask });
    h.open(1, connect('new.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    assert.equal(calls.length, 0);
    assert.deepEqual(h.resolved, []);
  });

  test('an asker that fails counts as deny; ask true without an asker refuses', async (t) => {
    const failing = asker(async () => {
      throw new Error('prompt crashed');
    });
    const h = harness(t, { ask: true, agent: { allowCidr: ['127.0.0.1/32'] } }, { names: LOOPBACK_NAMES, ask: failing.ask });
    h.open(1, connect('new.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    assert.equal((await h.recordFor('new.example.test')).rule, 'approval: deny');

    const none = harness(t, { ask: true, agent: { allowCidr: ['127.0.0.1/32'] } }, { names: LOOPBACK_NAMES });
    none.open(1, connect('new.example.test', 443));
    assert.equal(statusLine(await none.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    assert.deepEqual(none.resolved, []);
  });

  test('an approved name still has its answer checked: loopback without a CIDR is refused', async (t) => {
    const { ask } = asker(['once']);
    const h = harness(t, { ask: true, agent: {} }, { names: LOOPBACK_NAMES, ask });
    h.open(1, connect('new.example.test', 443));
    assert.equal(statusLine(await h.readRefusal(1)), 'HTTP/1.1 403 Forbidden');
    assert.deepEqual(h.dials, []);
  });

  test('a connection that closes while its question is open is not dialled after the answer', async (t) => {
    let answer!: (value: { answer: ApprovalAnswer }) => void;
    let signalSeen: AbortSignal | undefined;
    const ask: Asker = (_request, signal) => {
      signalSeen = signal;
      return new Promise((resolve) => (answer = resolve));
    };
    const h = harness(t, { ask: true, agent: { allowCidr: ['127.0.0.1/32'] }, limits: { idleTimeoutSeconds: 1 } }, { names: LOOPBACK_NAMES, ask });
    h.open(1, connect('new.example.test', 443));
    await until('the question', () => signalSeen);
    // Not idle while waiting on a person.
    await sleep(1500);
    assert.deepEqual(h.limits(), []);
    h.clientClose(1);
    assert.equal(signalSeen!.aborted, true);
    answer({ answer: 'once' });
    await sleep(50);
    assert.deepEqual(h.resolved, []);
    assert.deepEqual(h.dials, []);
    const record = await h.recordFor('new.example.test');
    assert.equal(record.closedBy, 'client');
  });
});

describe('EgressBroker: flow control', () => {
  test('a full link pauses destination reads until it drains', async (t) => {
    const sockets: net.Socket[] = [];
    const source = await tcpServer(t, (socket) => {
      sockets.push(socket);
      const timer = setInterval(() => socket.write('tick'), 20);
      socket.on('close', () => clearInterval(timer));
    });
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', source.port));
    await established(h, 1);
    await until('some ticks', () => h.relay.dataFrames(1) >= 3);
    h.relay.full = true;
    const before = h.relay.dataFrames(1);
    await until('one more frame, which finds the link full', () => h.relay.dataFrames(1) > before);
    const paused = h.relay.dataFrames(1);
    await sleep(300);
    assert.equal(h.relay.dataFrames(1), paused, 'no more frames while the link is full');
    h.relay.full = false;
    h.broker.onLinkDrain();
    await until('ticks again', () => h.relay.dataFrames(1) > paused);
  });

  test('PAUSE and RESUME from the relay stop and restart destination reads', async (t) => {
    const source = await tcpServer(t, (socket) => {
      const timer = setInterval(() => socket.write('tick'), 20);
      socket.on('close', () => clearInterval(timer));
    });
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', source.port));
    await established(h, 1);
    await until('some ticks', () => h.relay.dataFrames(1) >= 2);
    h.broker.handleFrame(FRAME.PAUSE, 1, Buffer.alloc(0));
    const paused = h.relay.dataFrames(1);
    await sleep(300);
    assert.equal(h.relay.dataFrames(1), paused);
    h.broker.handleFrame(FRAME.RESUME, 1, Buffer.alloc(0));
    await until('ticks again', () => h.relay.dataFrames(1) > paused);
  });
});

describe('EgressBroker: records and shutdown', () => {
  test('exactly one record per attempt, whatever its outcome', async (t) => {
    const origin = await httpServer(t);
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    const host = `api.example.test:${origin.port}`;

    h.open(1, `GET http://${host}/ HTTP/1.1\r\nHost: ${host}\r\n\r\n`); // allowed, the server closes
    await until('1', () => h.connections().length === 1);
    h.open(2, connect('unknown.example.test', 443)); // not listed
    await h.readRefusal(2);
    await until('2', () => h.connections().length === 2);
    h.open(3, 'BREW coffee HTTP/1.1\r\n\r\n'); // malformed
    await h.readRefusal(3);
    await until('3', () => h.connections().length === 3);
    h.open(4, connect('api.example.test', echo.port)); // tunnel, the client closes
    await established(h, 4);
    h.clientClose(4);
    await until('4', () => h.connections().length === 4);
    h.open(5, 'x'.repeat(17 * 1024)); // head too large
    await h.readRefusal(5);
    await until('5', () => h.connections().length === 5);
    h.open(6); // connects and leaves without a request: not an attempt
    h.clientClose(6);
    h.open(7, connect('api.example.test', echo.port)); // still open when the broker stops
    await established(h, 7);

    // Repeated CLOSE frames for finished connections do not log again.
    for (const id of [1, 2, 3, 4, 5, 6]) h.clientClose(id);
    await sleep(50);
    assert.equal(h.connections().length, 5);
    assert.deepEqual(h.connections().map((record) => record.status), [undefined, 403, 400, undefined, 431]);

    h.broker.close('test stop');
    const records = h.connections();
    assert.equal(records.length, 6);
    assert.equal(records[5].closedBy, 'test stop');
    assert.ok(h.relay.got(FRAME.CLOSE, 7));
    h.broker.close('again');
    assert.equal(h.connections().length, 6);
  });

  test('close() ends open tunnels, closes destination sockets and ignores later frames', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    h.broker.close();
    assert.equal(h.broker.openConnections, 0);
    const record = await h.recordFor('api.example.test');
    assert.equal(record.closedBy, 'gateway stopped');
    await until('the destination socket to close', () => closedSocket(echo.sockets[0]));
    const frames = h.relay.sent.length;
    h.open(2, connect('api.example.test', echo.port));
    await sleep(50);
    assert.equal(h.relay.sent.length, frames);
    assert.deepEqual(h.resolved, ['api.example.test']);
  });

  test('a relay that reuses a connection id cannot keep the first destination connection past close()', async (t) => {
    // The relay runs inside the task; the broker must hold its limits even against a relay that
    // misbehaves. Here the relay opens id 1 again while id 1 is an established tunnel.
    const echo = await tcpServer(t);
    const h = harness(t, { setup: ALLOW_API }, { phase: 'setup', names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    await until('the server to accept', () => echo.sockets.length === 1);
    h.open(1);
    assert.equal(h.broker.openConnections, 1);
    h.broker.setPhase('agent');
    h.broker.close();
    assert.equal(h.broker.openConnections, 0);
    await sleep(200);
    assert.equal(closedSocket(echo.sockets[0]), true, 'the setup-phase destination socket is still open after setPhase and close()');
  });
});

describe('EgressBroker: a relay that ignores PAUSE', () => {
  test('bytes flooding in while a destination waits for a decision are cut at 1 MiB, not buffered', async (t) => {
    // The asker never answers; a hostile relay keeps sending body bytes for the pending request.
    const ask: Asker = (_request, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ answer: 'deny' })));
    const h = harness(t, { ask: true, approvalTimeoutSeconds: 60 }, { ask });
    h.open(1, 'POST http://unknown.example.test/upload HTTP/1.1\r\nHost: unknown.example.test\r\n\r\n');
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let index = 0; index < 20 && h.broker.openConnections > 0; index++) h.data(1, chunk);
    assert.equal(h.broker.openConnections, 0, 'the connection was cut');
    assert.ok(h.relay.got(FRAME.PAUSE, 1), 'the broker asked the relay to pause first');
    const record = await h.recordFor('unknown.example.test');
    assert.equal(record.closedBy, 'relay ignored pause');
    assert.equal(record.decision, 'deny');
  });
});

describe('EgressBroker: a restarted gateway continues the byte budget', () => {
  test('bytesUsed over maxBytes refuses the first connection with 403', async (t) => {
    const relay = new FakeRelay();
    const records: BrokerRecord[] = [];
    const broker = new EgressBroker(relay, { settings: egressSettingsSchema.parse({ agent: { allow: ['api.example.test'] }, limits: { maxBytes: 1000 } }), phase: 'agent', resolve: async () => ['127.0.0.1'], log: (record) => records.push(record), bytesUsed: 5000 });
    t.after(() => broker.close());
    broker.handleFrame(FRAME.OPEN, 1, Buffer.alloc(0));
    await until('the refusal', () => relay.got(FRAME.END, 1));
    assert.match(relay.data(1), /^HTTP\/1\.1 403 [\s\S]*byte limit/);
  });
});

describe('EgressBroker: a fault ends one connection, never the gateway', () => {
  /** Rejections and exceptions nobody handled: in the gateway process, each one ends it with every tunnel. */
  function unhandled(t: TestContext): unknown[] {
    const seen: unknown[] = [];
    const listener = (reason: unknown) => seen.push(reason);
    process.on('unhandledRejection', listener);
    process.on('uncaughtException', listener);
    t.after(() => {
      process.off('unhandledRejection', listener);
      process.off('uncaughtException', listener);
    });
    return seen;
  }

  test('a fault while deciding (a resolver answering no list at all) gets that connection a 500 and a deny record; the next is decided as usual', async (t) => {
    const crashes = unhandled(t);
    const echo = await tcpServer(t);
    let lookups = 0;
    const h = harness(t, { agent: ALLOW_API }, { resolve: async () => (lookups++ === 0 ? (undefined as unknown as string[]) : ['127.0.0.1']) });
    h.open(1, connect('api.example.test', echo.port));
    const response = await h.readRefusal(1);
    assert.match(statusLine(response), /^HTTP\/1\.1 500 /);
    assert.match(response, /airlock: the gateway failed on this connection/);
    assert.doesNotMatch(response, /gateway fault|is not a function|\.ts/, 'the sandbox is told nothing about the host');
    const record = await h.recordFor('api.example.test');
    assert.equal(record.decision, 'deny');
    assert.equal(record.status, 500);
    assert.match(record.reason ?? '', /^gateway fault: /);
    assert.deepEqual(h.dials, [], 'nothing was dialled');

    h.open(2, connect('api.example.test', echo.port));
    await established(h, 2);
    assert.equal(h.broker.openConnections, 1);
    await sleep(20);
    assert.deepEqual(crashes, []);
  });

  test('an audit write that fails while a request is forwarded still ends the connections at the byte limit; the broker still answers', async (t) => {
    const crashes = unhandled(t);
    const sink = await tcpServer(t, () => undefined);
    const echo = await tcpServer(t);
    // The limit's record is the one that cannot be written (a full disk under the audit log).
    const h = harness(t, { agent: ALLOW_API, limits: { maxBytes: 1000 } }, { names: LOOPBACK_NAMES, logFails: (record) => record.type === 'network.limit' });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    const host = `api.example.test:${sink.port}`;
    h.open(2, `GET http://${host}/ HTTP/1.1\r\nHost: ${host}\r\nX-Pad: ${'p'.repeat(2000)}\r\n\r\n`);
    await until('both records', () => h.connections().length === 2);
    assert.deepEqual(h.connections().map((record) => record.closedBy), ['limit maxBytes', 'limit maxBytes'], 'the limit holds without its record');
    assert.deepEqual(h.limits(), [], 'the limit record itself could not be written');
    assert.ok(h.relay.got(FRAME.CLOSE, 1) && h.relay.got(FRAME.CLOSE, 2), 'the relay is told the connections are gone');
    assert.equal(h.broker.openConnections, 0);
    await until('the destination socket to close', () => closedSocket(sink.sockets[0]));

    h.open(3);
    assert.match(statusLine(await h.readRefusal(3)), /^HTTP\/1\.1 403 /, 'a later connection is still answered');
    await sleep(20);
    assert.deepEqual(crashes, []);
  });

  test('a relay link that breaks under one connection ends that one; another keeps piping', async (t) => {
    const crashes = unhandled(t);
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    h.relay.breakOn = (frame) => frame.id === 2 && frame.type === FRAME.DATA;
    h.open(2, connect('api.example.test', echo.port));
    const faulted = await until('the faulted record', () => h.connections().find((record) => record.closedBy === 'gateway fault'));
    assert.match(faulted.reason ?? '', /^gateway fault: write EPIPE/);
    assert.ok(h.relay.got(FRAME.CLOSE, 2));

    h.data(1, 'still here');
    await until('the echo on connection 1', () => h.relay.data(1).endsWith('still here'));
    assert.equal(h.broker.openConnections, 1);
    assert.deepEqual(crashes, []);
  });

  test('close() ends every connection even when the record of one cannot be written', async (t) => {
    const crashes = unhandled(t);
    const echo = await tcpServer(t);
    let failures = 0;
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES, logFails: (record) => record.type === 'network' && failures++ === 0 });
    h.open(1, connect('api.example.test', echo.port));
    h.open(2, connect('api.example.test', echo.port));
    await established(h, 1);
    await established(h, 2);
    h.broker.close('gateway stopped');
    assert.equal(h.broker.openConnections, 0);
    assert.equal(h.connections().length, 1, 'the other record was written');
    await until('both destination sockets to close', () => echo.sockets.length === 2 && echo.sockets.every(closedSocket));
    assert.deepEqual(crashes, []);
  });
});

describe("EgressBroker: a tunnel's TLS ClientHello must name the tunnel's host", () => {
  test('a ClientHello naming another host ends the tunnel before any of it reaches the destination, and the record says why', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    h.data(1, await realHello('denied.example.test'));
    const record = await h.recordFor('api.example.test');
    assert.ok(h.relay.got(FRAME.CLOSE, 1), 'the relay is told to close the connection');
    assert.equal(record.decision, 'deny');
    assert.equal(record.closedBy, 'tls server name');
    assert.match(record.reason ?? '', /the TLS ClientHello names denied\.example\.test, not api\.example\.test/);
    assert.equal(record.bytesUp, 0);
    await until('the destination socket to close', () => echo.sockets.length === 1 && closedSocket(echo.sockets[0]));
    assert.equal(echo.received().length, 0, 'not one byte of the hello reached the destination');
    assert.equal(h.broker.openConnections, 0);
  });

  test("a ClientHello naming the tunnel's host (in any case, with a trailing dot) goes through byte for byte", async (t) => {
    const echo = await tcpServer(t, () => undefined);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    let sent = '';
    for (const [id, name] of [[1, 'api.example.test'], [2, 'API.Example.Test.']] as const) {
      h.open(id, connect('api.example.test', echo.port));
      await established(h, id);
      const hello = await realHello(name);
      h.data(id, hello);
      sent += hello.toString('latin1');
      await until(`the hello naming ${name} at the destination`, () => echo.received() === sent);
    }
    assert.equal(h.connections().length, 0, 'no tunnel was ended');
    assert.equal(h.broker.openConnections, 2);
  });

  test('a hello split over frames, the first piece sent with the CONNECT head, is held until it is whole, then forwarded', async (t) => {
    const echo = await tcpServer(t, () => undefined);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    const hello = records(helloMessage({ extensions: [sni(hostName('api.example.test'))] }), 20);
    h.open(1, Buffer.concat([Buffer.from(connect('api.example.test', echo.port), 'latin1'), hello.subarray(0, 7)]));
    await established(h, 1);
    h.data(1, hello.subarray(7, 30));
    await sleep(50);
    assert.equal(echo.received().length, 0, 'nothing of an unfinished hello is forwarded');
    h.data(1, hello.subarray(30));
    await until('the whole hello at the destination', () => echo.received().length === hello.length);
    assert.equal(echo.received(), hello.toString('latin1'));
    h.data(1, 'after');
    await until('later bytes unheld', () => echo.received().endsWith('after'));
  });

  test('a tunnel to an address whose hello names a host, a hello naming two hosts, and one that trickles in are refused', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: { allowCidr: ['127.0.0.1/32'], allow: ['api.example.test'] } }, { names: LOOPBACK_NAMES });
    h.open(1, connect('127.0.0.1', echo.port));
    await established(h, 1);
    h.data(1, await realHello('api.example.test'));
    h.open(2, connect('api.example.test', echo.port));
    await established(h, 2);
    h.data(2, records(helloMessage({ extensions: [sni(hostName('api.example.test'), hostName('denied.example.test'))] })));
    h.open(3, connect('api.example.test', echo.port));
    await established(h, 3);
    const slow = await realHello('api.example.test');
    for (let at = 0; at < 70; at++) h.data(3, slow.subarray(at, at + 1));
    const byAddress = await h.recordFor('127.0.0.1');
    assert.match(byAddress.reason ?? '', /names api\.example\.test, but the tunnel was allowed for the address 127\.0\.0\.1/);
    const [twoNames, trickled] = [await h.recordFor('api.example.test', 1), await h.recordFor('api.example.test', 2)];
    assert.match(twoNames.reason ?? '', /more than one host/);
    assert.match(trickled.reason ?? '', /did not arrive within 64 reads/);
    for (const record of [byAddress, twoNames, trickled]) assert.deepEqual([record.decision, record.closedBy, record.bytesUp], ['deny', 'tls server name', 0]);
    assert.equal(echo.received().length, 0);
  });

  test('a tunnel that does not open with TLS is passed on at once, unheld', async (t) => {
    const echo = await tcpServer(t);
    const h = harness(t, { agent: ALLOW_API }, { names: LOOPBACK_NAMES });
    h.open(1, connect('api.example.test', echo.port));
    await established(h, 1);
    h.data(1, 'SSH-2.0-client\r\n');
    await until('the echo', () => h.relay.data(1).endsWith('SSH-2.0-client\r\n'));
    assert.equal(h.connections().length, 0);
  });
});
