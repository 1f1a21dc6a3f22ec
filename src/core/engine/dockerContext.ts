import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { AirlockError } from '../ground/errors.js';
import { type EngineEndpoint, loadTlsDir, parseEngineHost } from './engineEndpoint.js';

const cliConfigSchema = z.object({ currentContext: z.string().optional() }).passthrough();
const contextMetaSchema = z.object({
  Name: z.string(),
  Endpoints: z.object({ docker: z.object({ Host: z.string(), SkipTLSVerify: z.boolean().optional() }).passthrough() }).passthrough(),
}).passthrough();

export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker');
}

/** The context the docker CLI would use: DOCKER_CONTEXT, else currentContext in config.json. */
export function currentContextName(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.DOCKER_CONTEXT) return env.DOCKER_CONTEXT;
  const file = path.join(dockerConfigDir(env), 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return cliConfigSchema.parse(JSON.parse(text)).currentContext;
  } catch {
    throw new AirlockError(`${file}: not valid JSON`, { code: 'engine.invalidDockerConfig', hint: 'Fix or remove the docker CLI config file.', field: 'currentContext', actions: [{ kind: 'openFile', file }] });
  }
}

/**
 * Resolves a named context through the CLI's meta store (contexts/meta/<sha256(name)>/meta.json),
 * with TLS material from contexts/tls/<sha256(name)>/docker. "default" means "no context".
 */
export function contextEndpoint(name: string, env: NodeJS.ProcessEnv = process.env): EngineEndpoint | undefined {
  if (name === 'default') return undefined;
  const digest = createHash('sha256').update(name).digest('hex');
  const metaFile = path.join(dockerConfigDir(env), 'contexts', 'meta', digest, 'meta.json');
  let meta: z.infer<typeof contextMetaSchema>;
  try {
    meta = contextMetaSchema.parse(JSON.parse(fs.readFileSync(metaFile, 'utf8')));
  } catch {
    throw new AirlockError(`docker context "${name}" is selected but ${metaFile} is missing or unreadable`, { code: 'engine.contextMissing', hint: 'Run `docker context ls` and `docker context use default`, or fix the context.', field: 'DOCKER_CONTEXT' });
  }
  const tlsDir = path.join(dockerConfigDir(env), 'contexts', 'tls', digest, 'docker');
  const tls = fs.existsSync(tlsDir) ? loadTlsDir(tlsDir, !meta.Endpoints.docker.SkipTLSVerify) : undefined;
  return parseEngineHost(meta.Endpoints.docker.Host, `docker context "${name}"`, {}, tls);
}
