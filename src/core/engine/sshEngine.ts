import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AirlockError } from '../ground/errors.js';
import type { EngineEndpoint } from './engineEndpoint.js';
import { type HostKeyVerdict, knownHostName, knownHostsFiles, readKnownHosts, verifyHostKey } from './sshKnownHosts.js';

type SshEndpoint = Extract<EngineEndpoint, { kind: 'ssh' }>;

/** The ssh2 options dockerode passes on for an ssh:// engine, with the host key check of our own. */
export interface SshClientOptions {
  agent?: string;
  privateKey?: Buffer;
  agentForward: false;
  readyTimeout: number;
  hostVerifier: (key: Buffer) => boolean;
}

export interface SshEngineAccess {
  options: SshClientOptions;
  /** The refusal the host key check last made, as an error to show instead of ssh2's "Host denied". */
  refusal: () => AirlockError | undefined;
}

/** Keys ssh tries by default when no agent holds one; an encrypted one needs the agent. */
function defaultIdentity(env: NodeJS.ProcessEnv): Buffer | undefined {
  const home = env.HOME || os.homedir();
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    try {
      const key = fs.readFileSync(path.join(home, '.ssh', name));
      if (!/ENCRYPTED/.test(key.toString('latin1')) && !isEncryptedOpenSshKey(key)) return key;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** An OpenSSH-format key names its cipher in the clear after the magic; "none" means unencrypted. */
function isEncryptedOpenSshKey(file: Buffer): boolean {
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END/.exec(file.toString('latin1'))?.[1];
  if (!body) return false;
  const raw = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (raw.subarray(0, magic.length).toString('latin1') !== magic) return false;
  const length = raw.readUInt32BE(magic.length);
  return raw.subarray(magic.length + 4, magic.length + 4 + length).toString('latin1') !== 'none';
}

function refusalError(endpoint: SshEndpoint, verdict: Extract<HostKeyVerdict, { ok: false }>, files: string[]): AirlockError {
  const name = knownHostName(endpoint.host, endpoint.port);
  const login = `ssh ${endpoint.port === 22 ? '' : `-p ${endpoint.port} `}${endpoint.username ? endpoint.username + '@' : ''}${endpoint.host}`;
  switch (verdict.reason) {
    case 'unknown':
      return new AirlockError(`The engine host ${name} is not in known_hosts (looked in ${files.join(', ')}), so whoever answers there cannot be told from it`, {
        code: 'engine.sshHostUnknown',
        hint: `Connect once with \`${login}\` and check the key it shows before accepting it, then try again.`,
        field: 'DOCKER_HOST',
      });
    case 'mismatch':
      return new AirlockError(`The engine host ${name} answered with a different host key than known_hosts has for it (${verdict.entry?.file}:${verdict.entry?.line}): someone may be in between, or the host was reinstalled`, {
        code: 'engine.sshHostKeyChanged',
        hint: 'Find out why the key changed before trusting it; if it was reinstalled, replace its line in known_hosts.',
        field: 'DOCKER_HOST',
      });
    case 'revoked':
      return new AirlockError(`The engine host ${name} answered with a host key that is revoked (${verdict.entry?.file}:${verdict.entry?.line})`, {
        code: 'engine.sshHostKeyRevoked',
        hint: 'Use another engine, or ask whoever runs that host for its new key.',
        field: 'DOCKER_HOST',
      });
  }
}

/**
 * ssh2 options for an engine at `endpoint`: the user's agent (or an unencrypted default key),
 * never agent forwarding (the engine host would hold the user's keys while a task runs there),
 * and the host key checked against known_hosts the way ssh checks it, read once per connection.
 */
export function sshEngineAccess(endpoint: SshEndpoint, env: NodeJS.ProcessEnv = process.env): SshEngineAccess {
  const agent = env.SSH_AUTH_SOCK || undefined;
  const privateKey = agent ? undefined : defaultIdentity(env);
  if (!agent && !privateKey) {
    throw new AirlockError(`${endpoint.source} is an ssh:// engine, but no ssh agent is running (SSH_AUTH_SOCK is unset) and there is no unencrypted ~/.ssh/id_ed25519, id_ecdsa or id_rsa`, {
      code: 'engine.sshNoKey',
      hint: 'Start ssh-agent and add the key for that host with ssh-add, then try again.',
      field: 'SSH_AUTH_SOCK',
    });
  }
  const files = knownHostsFiles(env);
  const entries = readKnownHosts(files);
  let refused: AirlockError | undefined;
  return {
    options: {
      ...(agent ? { agent } : { privateKey }),
      agentForward: false,
      readyTimeout: 5000,
      hostVerifier: (key) => {
        const verdict = verifyHostKey(entries, endpoint.host, endpoint.port, key);
        refused = verdict.ok ? undefined : refusalError(endpoint, verdict, files);
        return verdict.ok;
      },
    },
    refusal: () => refused,
  };
}
