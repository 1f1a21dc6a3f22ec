import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as path from 'node:path';
import type { EngineConnection } from '../../src/core/engine/locateEngine.js';
import type { Resolver } from '../../src/core/egress/egressBroker.js';
import { hostGateway, type HostedGateway } from '../../src/core/gateway/gatewayHost.js';
import type { GatewayLauncher } from '../../src/core/egress/gatewayLauncher.js';
import { TaskService } from '../../src/core/task/taskService.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import type { TestContext } from 'node:test';
import type { TaskOptionsInput } from '../../src/core/config/taskOptions.js';
import { run, TEST_IMAGE, tempDir } from './realEngine.js';

/** A self-signed certificate for the given names (openssl, EC P-256: quick to make). */
export function makeCertificate(names: string[]): { cert: string; key: string; certFile: string } {
  const dir = tempDir('tls');
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=airlock-test', '-addext', `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}`], { stdio: 'ignore' });
  return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8'), certFile };
}

export interface Origin {
  port: number;
  /** Connections the server has accepted so far. */
  connections: () => number;
  close(): Promise<void>;
}

/**
 * The routes every loopback test origin answers: /hello/<word> (echoing the Host it got), /slow (a
 * byte every 200 ms) and /bytes/<n> (n bytes, with backpressure). False for any other path.
 */
export function serveTestRoute(request: http.IncomingMessage, response: http.ServerResponse): boolean {
  const url = new URL(request.url ?? '/', 'http://origin');
  if (url.pathname.startsWith('/hello/')) {
    response.end(`hello ${url.pathname.slice(7)} via ${request.headers.host}\n`);
    return true;
  }
  if (url.pathname === '/slow') {
    response.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => response.write('.'), 200);
    response.on('close', () => clearInterval(timer));
    return true;
  }
  if (!url.pathname.startsWith('/bytes/')) return false;
  const total = Number(url.pathname.slice(7));
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  const pump = () => {
    while (sent < total && !response.destroyed) {
      const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
      sent += piece.length;
      if (!response.write(piece)) return void response.once('drain', pump);
    }
    response.end();
  };
  pump();
  return true;
}

/**
 * A test destination on host loopback. Routes: /hello/<word> → "hello <word>"; /slow → a byte every
 * 200 ms until the client goes; /bytes/<n> → n bytes; anything else is served from `staticDir`
 * (a git repository prepared for the dumb HTTP protocol, say).
 */
export async function startOrigin(options: { tls?: { cert: string; key: string }; staticDir?: string } = {}): Promise<Origin> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const handler: http.RequestListener = (request, response) => {
    if (serveTestRoute(request, response)) return;
    const url = new URL(request.url ?? '/', 'http://origin');
    if (options.staticDir) {
      const file = path.join(options.staticDir, path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ''));
      if (file.startsWith(options.staticDir) && fs.existsSync(file) && fs.statSync(file).isFile()) return void response.end(fs.readFileSync(file));
    }
    response.writeHead(404).end('not found\n');
  };
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
  server.on('connection', (socket: net.Socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A bare repository with one commit, ready to be cloned over dumb HTTP(S) from `dir` at /repo.git. */
export function makeDumbGitRepo(): { dir: string; head: string } {
  const dir = tempDir('git-origin');
  const work = path.join(dir, 'work');
  const git = (args: string[], cwd: string) => execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).toString().trim();
  fs.mkdirSync(work);
  git(['init', '-q', '-b', 'main'], work);
  fs.writeFileSync(path.join(work, 'README.md'), 'cloned through the airlock gateway\n');
  git(['add', '.'], work);
  git(['commit', '-qm', 'first'], work);
  git(['clone', '-q', '--bare', work, path.join(dir, 'repo.git')], dir);
  git(['update-server-info'], path.join(dir, 'repo.git'));
  return { dir, head: git(['rev-parse', 'HEAD'], work) };
}

/** A resolver from a fixed map that records every name it was asked about. */
export function spyResolver(map: Record<string, string | string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolver = (async (host: string) => {
    asked.push(host);
    const entry = map[host];
    if (entry === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return Array.isArray(entry) ? entry : [entry];
  }) as unknown as Resolver & { asked: string[] };
  resolver.asked = asked;
  return resolver;
}

/** A TaskService whose gateways run in this test process with the given resolver; `gateways` holds them for checks. */
export function serviceWithGateway(engine: EngineConnection, resolve: Resolver): { service: TaskService; store: TaskStore; gateways: Map<string, HostedGateway> } {
  const store = new TaskStore(tempDir('state'));
  const gateways = new Map<string, HostedGateway>();
  const gateway: GatewayLauncher = async (record, phase, signal) => {
    gateways.set(record.id, await hostGateway({ engine, store, taskId: record.id, phase, resolve, signal }));
  };
  return { service: new TaskService(engine, store, () => undefined, { gateway }), store, gateways };
}

/**
 * A task with an in-process gateway and a loopback origin, all torn down with `t.after`.
 * `sh` runs a bash script in the task.
 */
export async function startEgressTask(t: TestContext, engine: EngineConnection, resolver: Resolver, options: Omit<TaskOptionsInput, 'workspace' | 'image'>) {
  const origin = await startOrigin();
  const { service, store, gateways } = serviceWithGateway(engine, resolver);
  const record = await service.start({ workspace: tempDir('egress-task'), image: TEST_IMAGE, ...options });
  t.after(async () => {
    await service.stop(record.id).catch(() => undefined);
    service.dispose();
    for (const hosted of gateways.values()) await hosted.stop().catch(() => undefined);
    await origin.close();
  });
  const sh = (script: string) => run(service, record.id, ['bash', '-c', script]);
  return { service, store, record, origin, sh };
}
