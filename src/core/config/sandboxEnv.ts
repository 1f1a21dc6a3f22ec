import { AirlockError } from '../ground/errors.js';
import { looksSecret } from './secretNames.js';

/** Variables Airlock itself sets inside every task; the user cannot pass these through from the host. */
const RESERVED = new Set(['HOME', 'PATH', 'USER', 'HOSTNAME', 'AIRLOCK_TASK', 'AIRLOCK_CMD', 'LD_PRELOAD', 'LD_LIBRARY_PATH']);

export interface EnvRequest {
  envPassthrough: readonly string[];
  env: Readonly<Record<string, string>>;
  allowSecretEnv: readonly string[];
}

/**
 * Builds the sandbox environment from the allowlist only: nothing from `hostEnv` is read unless its
 * name is listed, and secret-looking names are refused unless `allowSecretEnv` names them too.
 * Throws on the first refused name so nothing is half-applied.
 */
export function buildSandboxEnv(request: EnvRequest, hostEnv: NodeJS.ProcessEnv, field = 'env'): Record<string, string> {
  const allowed = new Set(request.allowSecretEnv.map((name) => name.toUpperCase()));
  const check = (name: string, source: string) => {
    if (RESERVED.has(name.toUpperCase())) {
      throw new AirlockError(`${source}: ${name} is set by Airlock inside the sandbox and cannot be overridden`, { code: 'env.reserved', hint: `Remove ${name}.`, field: source });
    }
    if (looksSecret(name) && !allowed.has(name.toUpperCase())) {
      throw new AirlockError(`${source}: ${name} looks like a secret and is not passed into the sandbox`, {
        code: 'env.secretName',
        hint: `If the sandbox really needs it, allow ${name} by name as a secret-looking variable (allowSecretEnv).`,
        field: source,
        actions: [{ kind: 'changeSetting', setting: 'env.allowSecret', value: name }],
      });
    }
  };
  const result: Record<string, string> = {};
  for (const name of request.envPassthrough) {
    check(name, 'envPassthrough');
    const value = hostEnv[name];
    if (value !== undefined) result[name] = value;
  }
  for (const [name, value] of Object.entries(request.env)) {
    check(name, field);
    if (value.includes('\0')) throw new AirlockError(`${field}: ${name} contains a NUL byte`, { code: 'env.nulByte', hint: 'Remove the NUL byte.', field });
    result[name] = value;
  }
  return result;
}
