import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AirlockError } from '../ground/errors.js';

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  verify: boolean;
}

/** Where an engine may be listening, and how we came to look there (for messages and `doctor`). */
export type EngineEndpoint =
  | { kind: 'unix'; socketPath: string; source: string }
  | { kind: 'tcp'; host: string; port: number; tls?: TlsMaterial; source: string }
  | { kind: 'ssh'; host: string; port: number; username?: string; source: string };

export function describeEndpoint(endpoint: EngineEndpoint): string {
  switch (endpoint.kind) {
    case 'unix':
      return `unix://${endpoint.socketPath} (${endpoint.source})`;
    case 'tcp':
      return `${endpoint.tls ? 'https' : 'tcp'}://${endpoint.host}:${endpoint.port} (${endpoint.source})`;
    case 'ssh':
      return `ssh://${endpoint.username ? endpoint.username + '@' : ''}${endpoint.host}:${endpoint.port} (${endpoint.source})`;
  }
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** TLS files named as the docker CLI names them (ca.pem, cert.pem, key.pem) inside `dir`. */
export function loadTlsDir(dir: string, verify: boolean): TlsMaterial {
  return { ca: readIfExists(path.join(dir, 'ca.pem')), cert: readIfExists(path.join(dir, 'cert.pem')), key: readIfExists(path.join(dir, 'key.pem')), verify };
}

/**
 * Parses a DOCKER_HOST-style address: unix:///path, tcp://host:port, ssh://user@host:port.
 * TLS for tcp follows the docker CLI: DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, or `tls` passed in.
 */
export function parseEngineHost(address: string, source: string, env: NodeJS.ProcessEnv = process.env, tls?: TlsMaterial): EngineEndpoint {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new AirlockError(`${source}: "${address}" is not an engine address`, { code: 'engine.invalidAddress', hint: 'Use unix:///var/run/docker.sock, tcp://host:2376 or ssh://user@host.', field: source });
  }
  switch (url.protocol) {
    case 'unix:':
      return { kind: 'unix', socketPath: decodeURIComponent(url.pathname), source };
    case 'tcp:':
    case 'http:':
    case 'https:': {
      const wantsTls = url.protocol === 'https:' || (env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== '') || tls !== undefined;
      const certDir = env.DOCKER_CERT_PATH || path.join(env.HOME || os.homedir(), '.docker');
      const material = wantsTls ? tls ?? loadTlsDir(certDir, Boolean(env.DOCKER_TLS_VERIFY)) : undefined;
      const port = url.port ? Number(url.port) : wantsTls ? 2376 : 2375;
      return { kind: 'tcp', host: url.hostname, port, tls: material, source };
    }
    case 'ssh:':
      return { kind: 'ssh', host: url.hostname, port: url.port ? Number(url.port) : 22, username: url.username ? decodeURIComponent(url.username) : undefined, source };
    default:
      throw new AirlockError(`${source}: unsupported engine address scheme "${url.protocol}"`, { code: 'engine.invalidAddress', hint: 'Use unix://, tcp:// or ssh://.', field: source });
  }
}
