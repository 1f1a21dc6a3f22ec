import ignore from 'ignore';
import { needsCredentialCheck } from './credentialConfigs.js';

/**
 * The one rule for "this path is a secret", as the working-tree listing applies it, for the
 * history filter: a file left out of the copy is also left out of every commit's tree.
 * Content checks (credentialConfigs.ts) decide the configs `needsContentCheck` names.
 */
export interface SecretRules {
  /** A file (or symlink) path that the patterns exclude, or that cannot be judged (fail closed). */
  excludesFile(rel: string): boolean;
  /** A folder whose whole content the patterns exclude. */
  excludesDir(rel: string): boolean;
  /** A credential-prone config: kept only when its content has no credential. */
  needsContentCheck(rel: string): boolean;
}

export function secretRules(patterns: readonly string[]): SecretRules {
  const matcher = ignore().add([...patterns]);
  // `ignore` throws on paths it considers malformed; such a path is treated as a secret.
  const ignores = (rel: string) => {
    try {
      return matcher.ignores(rel);
    } catch {
      return true;
    }
  };
  return {
    excludesFile: (rel) => ignores(rel),
    excludesDir: (rel) => ignores(`${rel}/`),
    needsContentCheck: (rel) => needsCredentialCheck(rel),
  };
}
