import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { after, before, type TestContext } from 'node:test';
import { defaultDial, type Resolver } from '../../src/core/egress/egressBroker.js';
import type { GatewayLauncher } from '../../src/core/egress/gatewayLauncher.js';
import { hostGateway, type HostedGateway } from '../../src/core/gateway/gatewayHost.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import { TaskService } from '../../src/core/task/taskService.js';
import { makeCertificate, serveTestRoute, spyResolver } from '../helpers/egressFixtures.js';
import { realEngine, run, TEST_IMAGE, tempDir, waitFor } from '../helpers/realEngine.js';
import { FLIPPING_NAME, NETWORK_CASES, type BoxUnderTest, type LoopbackOrigin, type NetworkContext, type NetworkRecord } from './cases/network.js';
import { registerCases } from './securityCase.js';

/**
 * Every name maps to host loopback: a refusal can only come from the rules, and a name that should
 * never be looked up would, if it were, lead to an origin that counts the visit. Names the rules
 * allow but must still be refused resolve to private, metadata and other special addresses; the
 * dial below refuses to reach anything off loopback, so no case can ever touch them.
 */
const NAMES: Record<string, string | string[]> = {
  'api.example.test': '127.0.0.2',
  'pinned.example.test': '127.0.0.2',
  'proxy.example.test': '127.0.0.2',
  'sink.example.test': '127.0.0.2',
  'setup-only.example.test': '127.0.0.2',
  'denied.example.test': '127.0.0.1',
  'secret-data.attacker.test': '127.0.0.1',
  'c2VjcmV0LXRva2VuLTQy.secret-data.attacker.test': '127.0.0.1',
  'exfil-4f2a9c.unlisted.example.org': '127.0.0.1',
  'instance-data.ec2.internal': '169.254.169.254',
  'metadata.google.internal': '169.254.169.254',
  'loopback.rebind.example.test': '127.0.0.1',
  'private10.rebind.example.test': '10.0.0.1',
  'private172.rebind.example.test': '172.16.0.1',
  'private192.rebind.example.test': '192.168.0.1',
  'linklocal.rebind.example.test': '169.254.1.1',
  'cgnat.rebind.example.test': '100.64.0.1',
  'metadata.rebind.example.test': '169.254.169.254',
  'unspecified.rebind.example.test': '0.0.0.0',
  'multicast.rebind.example.test': '224.0.0.1',
  'v6loopback.rebind.example.test': '::1',
  'ula.rebind.example.test': 'fd00::1',
  'mapped.rebind.example.test': '::ffff:10.0.0.1',
  'nat64.rebind.example.test': '64:ff9b::a9fe:a9fe',
  'mixed.rebind.example.test': ['127.0.0.2', '10.0.0.1'],
};

const MAIN_LIMITS = { maxConnections: 16, idleTimeoutSeconds: 4 };
const LIMITED_BYTES = 16 * 1024 * 1024;

const isLoopback = (address: string) => /^127\./.test(address) || address === '::1' || /^::ffff:127\./.test(address);

/** An HTTP origin on one loopback address: /hello/<word>, /slow (a byte every 200 ms), /bytes/<n>. */
async function httpOrigin(host: string, servers: Array<{ close(): Promise<void> }>): Promise<LoopbackOrigin> {
  const requests: string[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((request, response) => {
    requests.push(`${request.method} ${request.url} host=${request.headers.host ?? ''}`);
    if (serveTestRoute(request, response)) return;
    response.writeHead(404).end('not found\n');
  });
  server.on('connection', (socket: net.Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  servers.push({ close: () => closeServer(server, sockets) });
  return { host, port: (server.address() as net.AddressInfo).port, connections: () => connections, requests, bytesPerConnection: [] };
}

/** A TCP origin that counts what arrives on each connection and answers nothing: where uploads go. */
async function sinkOrigin(host: string, servers: Array<{ close(): Promise<void> }>, onSocket?: (socket: net.Socket) => void): Promise<LoopbackOrigin> {
  const bytesPerConnection: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const index = bytesPerConnection.push(0) - 1;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => (bytesPerConnection[index] += chunk.length));
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onSocket?.(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  servers.push({ close: () => closeServer(server, sockets) });
  return { host, port: (server.address() as net.AddressInfo).port, connections: () => bytesPerConnection.length, requests: [], bytesPerConnection };
}

/**
 * An HTTPS origin for api.example.test behind a counting TCP front, so a case can tell whether any
 * byte of a ClientHello reached the destination, not only whether a connection was made.
 */
async function tlsOrigin(host: string, servers: Array<{ close(): Promise<void> }>): Promise<LoopbackOrigin> {
  const certificate = makeCertificate(['api.example.test']);
  const sockets = new Set<net.Socket>();
  const server = https.createServer({ cert: certificate.cert, key: certificate.key }, (request, response) => response.end(`hello tls via ${request.headers.host}\n`));
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  servers.push({ close: () => closeServer(server, sockets) });
  const inner = (server.address() as net.AddressInfo).port;
  return sinkOrigin(host, servers, (socket) => {
    const upstream = net.connect(inner, host);
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    socket.pipe(upstream).pipe(socket);
  });
}

/** An allowed host that is itself an open forward proxy (loopback targets only), recording where it relayed. */
async function openProxy(host: string, servers: Array<{ close(): Promise<void> }>): Promise<LoopbackOrigin> {
  const requests: string[] = [];
  const origin = await sinkOrigin(host, servers, (client) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const line = /^CONNECT (127\.\d+\.\d+\.\d+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.toString('latin1'));
      if (!line) return void client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      requests.push(`${line[1]}:${line[2]}`);
      const onward = net.connect(Number(line[2]), line[1], () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        onward.write(head.subarray(end + 4));
        client.pipe(onward).pipe(client);
      });
      onward.on('error', () => client.destroy());
      client.on('close', () => onward.destroy());
    };
    client.on('data', onData);
  });
  return { ...origin, requests };
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

let context: NetworkContext | undefined;
let teardown: () => Promise<void> = async () => undefined;

before(async () => {
  // A describe-level hook has no skip(); in CI a missing engine still throws here, failing every case.
  const engine = await realEngine({ skip: () => undefined } as unknown as TestContext);
  if (!engine) return;
  const servers: Array<{ close(): Promise<void> }> = [];
  const [allowed, denied, beyond, tls, sink, proxy] = await Promise.all([
    httpOrigin('127.0.0.2', servers),
    httpOrigin('127.0.0.1', servers),
    httpOrigin('127.0.0.1', servers),
    tlsOrigin('127.0.0.2', servers),
    sinkOrigin('127.0.0.2', servers),
    openProxy('127.0.0.2', servers),
  ]);
  const spy = spyResolver(NAMES);
  // Answers 127.0.0.2, then 127.0.0.1, then 127.0.0.2…: a rebinding name, one answer per lookup.
  let flips = 0;
  const resolver: Resolver = async (host, signal) => {
    if (host !== FLIPPING_NAME) return spy(host, signal);
    spy.asked.push(host);
    return [flips++ % 2 === 0 ? '127.0.0.2' : '127.0.0.1'];
  };
  const dials: NetworkContext['dials'] = [];
  const store = new TaskStore(tempDir('net-state'));
  const gateways = new Map<string, HostedGateway>();
  const gateway: GatewayLauncher = async (record, phase, signal) => {
    const hosted = await hostGateway({
      engine,
      store,
      taskId: record.id,
      phase,
      resolve: resolver,
      // Every dial is recorded; one off loopback is refused here as well, whatever the broker decided.
      dial: (address, port, timeoutMs, dialSignal) => {
        dials.push({ address, port });
        if (!isLoopback(address)) return Promise.reject(new Error(`the test never dials ${address}`));
        return defaultDial(address, port, timeoutMs, dialSignal);
      },
      signal,
    });
    gateways.set(record.id, hosted);
  };
  const service = new TaskService(engine, store, () => undefined, { gateway });
  const ids: string[] = [];
  teardown = async () => {
    for (const id of ids) await service.stop(id).catch(() => undefined);
    service.dispose();
    for (const hosted of gateways.values()) await hosted.stop().catch(() => undefined);
    for (const server of servers) await server.close();
  };
  const [mainRecord, limitedRecord] = await Promise.all([
    service.start({
      workspace: tempDir('net-main'),
      image: TEST_IMAGE,
      ttlSeconds: 1800,
      setupCommands: [`curl -sSf http://setup-only.example.test:${allowed.port}/hello/setup`],
      egress: {
        setup: { allow: ['setup-only.example.test'], allowCidr: ['127.0.0.2/32'] },
        agent: {
          // Loopback origins stand in for the internet: only 127.0.0.2 is admitted, and only for names
          // (and the literal 127.0.0.2) the rules allow; the host's own 127.0.0.1 is on no rule.
          allow: ['api.example.test', `pinned.example.test:${allowed.port}`, 'proxy.example.test', '*.rebind.example.test', 'metadata.google.internal', '169.254.169.254', '[fd00:ec2::254]'],
          allowCidr: ['127.0.0.2/32'],
          deny: ['*.attacker.test'],
        },
        limits: MAIN_LIMITS,
      },
    }),
    service.start({
      workspace: tempDir('net-limited'),
      image: TEST_IMAGE,
      ttlSeconds: 1800,
      egress: { agent: { allow: ['api.example.test', 'sink.example.test'], allowCidr: ['127.0.0.2/32'] }, limits: { maxBytes: LIMITED_BYTES } },
    }),
  ]);
  ids.push(mainRecord.id, limitedRecord.id);
  const box = (id: string): BoxUnderTest => {
    const records = () => store.audit(id).records() as NetworkRecord[];
    return {
      id,
      sh: (script) => run(service, id, ['bash', '-c', script]),
      node: (program, ...args) => run(service, id, ['node', '-e', program, ...args]),
      records,
      recordsWhen: async (ready) => {
        await waitFor(async () => ready(records()), 10_000, 50);
        return records();
      },
      gateway: (request) => service.gatewayRequest(id, request),
      openConnections: () => gateways.get(id)?.gateway.broker.openConnections ?? -1,
      relayPid: () => gateways.get(id)?.gateway.relayPid ?? 0,
      stateDir: store.taskDir(id),
      controlSocket: store.gatewayFiles(id).socket,
    };
  };
  context = {
    main: box(mainRecord.id),
    limited: box(limitedRecord.id),
    allowed,
    denied,
    beyond,
    tls,
    sink,
    proxy,
    asked: spy.asked,
    dials,
    limits: { ...MAIN_LIMITS, limitedMaxBytes: LIMITED_BYTES },
  };
}, { timeout: 240_000 });

after(() => teardown(), { timeout: 120_000 });

registerCases(NETWORK_CASES, () => context);
