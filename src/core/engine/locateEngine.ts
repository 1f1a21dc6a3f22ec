import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Docker from 'dockerode';
import ipaddr from 'ipaddr.js';
import { AirlockError, throwIfAborted } from '../ground/errors.js';
import { contextEndpoint, currentContextName } from './dockerContext.js';
import { describeEndpoint, type EngineEndpoint, parseEngineHost } from './engineEndpoint.js';
import { type EngineVersion, engineVersionSchema } from './engineSchemas.js';
import { sshEngineAccess } from './sshEngine.js';
import { SshEngineAgent } from './sshTransport.js';

export interface EngineConnection {
  docker: Docker;
  endpoint: EngineEndpoint;
  version: EngineVersion;
}

export interface EngineSearch {
  /** Set by DOCKER_HOST or a docker context: authoritative, never silently replaced by another engine. */
  configured?: EngineEndpoint;
  /** Well-known sockets tried in order when nothing is configured. */
  probes: EngineEndpoint[];
}

/** The order the docker CLI uses (DOCKER_HOST, DOCKER_CONTEXT, current context), then usual sockets. */
export function engineSearch(env: NodeJS.ProcessEnv = process.env): EngineSearch {
  if (env.DOCKER_HOST) return { configured: parseEngineHost(env.DOCKER_HOST, 'DOCKER_HOST', env), probes: [] };
  const contextName = currentContextName(env);
  const configured = contextName ? contextEndpoint(contextName, env) : undefined;
  if (configured) return { configured, probes: [] };

  const home = env.HOME || os.homedir();
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const runtimeDir = env.XDG_RUNTIME_DIR || (uid !== undefined ? `/run/user/${uid}` : undefined);
  const sockets: Array<[string, string]> = [
    ['/var/run/docker.sock', 'default socket'],
    [path.join(home, '.docker', 'run', 'docker.sock'), 'Docker Desktop'],
    [path.join(home, '.docker', 'desktop', 'docker.sock'), 'Docker Desktop'],
    ...(runtimeDir ? ([[path.join(runtimeDir, 'docker.sock'), 'rootless Docker'], [path.join(runtimeDir, 'podman', 'podman.sock'), 'Podman (rootless)']] as Array<[string, string]>) : []),
    ['/run/podman/podman.sock', 'Podman'],
    [path.join(home, '.colima', 'default', 'docker.sock'), 'Colima'],
    [path.join(home, '.rd', 'docker.sock'), 'Rancher Desktop'],
  ];
  const seen = new Set<string>();
  const probes = sockets
    .filter(([socketPath]) => !seen.has(socketPath) && seen.add(socketPath))
    .map(([socketPath, source]): EngineEndpoint => ({ kind: 'unix', socketPath, source }));
  return { probes };
}

async function createClient(endpoint: EngineEndpoint, env: NodeJS.ProcessEnv): Promise<{ docker: Docker; refusal?: () => AirlockError | undefined }> {
  // dockerode brings ssh2 and grpc-js (over 1 MB): loaded on the first connection, so loading the
  // core (the editor's policy view, `airlock --help`) never compiles or runs them.
  const { Docker: DockerClient, SshClient } = await import('./engineClient.js');
  switch (endpoint.kind) {
    case 'unix':
      return { docker: new DockerClient({ socketPath: endpoint.socketPath }) };
    case 'tcp':
      return {
        docker: new DockerClient({
          host: endpoint.host,
          port: endpoint.port,
          protocol: endpoint.tls ? 'https' : 'http',
          ...(endpoint.tls ? { ca: endpoint.tls.ca, cert: endpoint.tls.cert, key: endpoint.tls.key } : {}),
        }),
      };
    case 'ssh': {
      const access = sshEngineAccess(endpoint, env);
      const agent = new SshEngineAgent(SshClient, endpoint, access.options);
      // docker-modem takes an agent for plain http (its typings leave it out): requests go over our ssh channels.
      const options: Docker.DockerOptions & { agent: SshEngineAgent } = { protocol: 'http', host: endpoint.host, port: endpoint.port, agent };
      return { docker: new DockerClient(options), refusal: access.refusal };
    }
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Loopback names and addresses, where plain HTTP never leaves this machine. */
function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.replace(/^\[|\]$/g, '');
  return ipaddr.isValid(bare) && ipaddr.process(bare).range() === 'loopback';
}

/**
 * The engine API is root on the engine's machine, and a task sends it the workspace copy: plain
 * tcp:// to another machine would hand both to anyone on the path. The docker CLI allows it; we
 * do not, before any byte is sent.
 */
function refusePlainRemoteTcp(endpoint: EngineEndpoint): void {
  if (endpoint.kind !== 'tcp' || endpoint.tls || isLoopbackHost(endpoint.host)) return;
  throw new AirlockError(`${endpoint.source} is ${describeEndpoint(endpoint)}: plain tcp:// to another machine, where anyone on the path could read the workspace copy and drive the engine, so Airlock does not connect`, {
    code: 'engine.plainTcp',
    hint: 'Use TLS (DOCKER_TLS_VERIFY=1 with DOCKER_CERT_PATH holding ca.pem, cert.pem and key.pem), or ssh://user@host.',
    field: endpoint.source.startsWith('docker context') ? 'DOCKER_CONTEXT' : 'DOCKER_HOST',
  });
}

async function tryEndpoint(endpoint: EngineEndpoint, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<EngineConnection> {
  if (endpoint.kind === 'unix' && !fs.existsSync(endpoint.socketPath)) throw new Error('no socket there');
  refusePlainRemoteTcp(endpoint);
  const { docker, refusal } = await createClient(endpoint, env);
  try {
    const version = engineVersionSchema.parse(await withTimeout(docker.version(), timeoutMs, describeEndpoint(endpoint)));
    return { docker, endpoint, version };
  } catch (error) {
    throw refusal?.() ?? tlsRefusal(endpoint, error) ?? error;
  }
}

/** A certificate the engine or we would not accept: said as such, not as "did not answer". */
function tlsRefusal(endpoint: EngineEndpoint, error: unknown): AirlockError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (endpoint.kind !== 'tcp' || !endpoint.tls || !/CERT|SSL|TLS|SIGNATURE|ISSUER/.test(code)) return undefined;
  return new AirlockError(`The engine at ${describeEndpoint(endpoint)} and Airlock did not agree on certificates (${code}: ${reason(error)}), so no request was sent`, {
    code: 'engine.tlsRefused',
    hint: "Point DOCKER_CERT_PATH at the folder with the engine's ca.pem and your cert.pem and key.pem (the docker CLI's layout).",
    field: 'DOCKER_CERT_PATH',
  });
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/** Connects to the engine the docker CLI would use; one clear error naming every place looked. */
export async function connectEngine(options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<EngineConnection> {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 5000;
  const search = engineSearch(env);
  if (search.configured) {
    try {
      return await tryEndpoint(search.configured, timeoutMs, env);
    } catch (error) {
      // Our own errors (a host key refused, no ssh key) say more than "did not answer".
      if (error instanceof AirlockError) throw error;
      throw new AirlockError(
        `No container engine answered at ${describeEndpoint(search.configured)}: ${reason(error)}`,
        { code: 'engine.unreachable', hint: 'Start the engine there, or unset DOCKER_HOST / switch with `docker context use default`.', actions: [{ kind: 'startEngine' }] },
      );
    }
  }
  const tried: string[] = [];
  for (const endpoint of search.probes) {
    throwIfAborted(options.signal);
    try {
      return await tryEndpoint(endpoint, timeoutMs, env);
    } catch (error) {
      tried.push(`  ${describeEndpoint(endpoint)}: ${reason(error)}`);
    }
  }
  throw new AirlockError(
    `No container engine found. Looked at DOCKER_HOST (unset), the docker context (none), and:\n${tried.join('\n')}`,
    { code: 'engine.notFound', hint: 'Start Docker (Docker Desktop, `sudo systemctl start docker`, or `sudo scripts/setup-engine.sh` on Debian/Ubuntu), or set DOCKER_HOST.', actions: [{ kind: 'startEngine' }] },
  );
}
