/**
 * Config files that usually hold no secret but sometimes do: copied into the box (and kept in its
 * git history) only when their content carries no credential. Files that almost always hold one
 * are excluded by name instead (DEFAULT_SECRET_FILE_PATTERNS in config/taskOptions.ts).
 *
 * Paths are workspace-relative posix paths, matched case-insensitively (macOS and Windows hosts).
 */

/** A credential written into a URL (`https://user:secret@host`), as registry and index settings allow. */
const URL_CREDENTIAL = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i;
const CREDENTIAL_LINE = /(_authToken|_auth\b|_password|password|passwd|token|secret|api[_-]?key|access[_-]?key|private[_-]?key|npmAuthToken|npmAuthIdent|username\s*[:=].*\n.*password)/i;

/** Larger configs are not read: they are left out, as if they carried a credential. */
export const CREDENTIAL_CONFIG_MAX_BYTES = 1024 * 1024;

interface CredentialConfig {
  path: RegExp;
  credential: RegExp;
}

const CREDENTIAL_CONFIGS: readonly CredentialConfig[] = [
  // package managers and build tools: registry tokens, repository passwords, signing keys
  { path: /(^|\/)(\.npmrc|\.pypirc|\.yarnrc(\.yml)?|pip\.(conf|ini)|uv\.toml|\.condarc|\.gemrc|settings\.xml|gradle\.properties|nuget\.config)$/i, credential: CREDENTIAL_LINE },
  // Bundler keeps per-host credentials as BUNDLE_<HOST>__<TLD>: "user:password".
  { path: /(^|\/)\.bundle\/config$/i, credential: /(^\s*BUNDLE_[A-Z0-9_]*__[A-Z0-9_]+\s*:|password|token)/im },
  // composer's auth.json; the name is common in apps (translations), so only composer's own keys count.
  { path: /(^|\/)auth\.json$/i, credential: /"(http-basic|github-oauth|gitlab-token|gitlab-oauth|bitbucket-oauth|bearer|forgejo-token)"\s*:/ },
  // PostgreSQL service files, Terraform CLI config, Sentry CLI config, dbt profiles
  { path: /(^|\/)(\.?pg_service\.conf|\.terraformrc|terraform\.rc|\.sentryclirc|profiles\.ya?ml)$/i, credential: CREDENTIAL_LINE },
];

/** Whether this path is a config whose content decides if it may be copied. */
export function needsCredentialCheck(rel: string): boolean {
  return CREDENTIAL_CONFIGS.some((config) => config.path.test(rel));
}

/** Whether the config at `rel` may be copied with these bytes (too large counts as carrying a credential). */
export function credentialConfigIsClean(rel: string, content: Buffer): boolean {
  if (content.length > CREDENTIAL_CONFIG_MAX_BYTES) return false;
  const text = content.toString('utf8');
  if (URL_CREDENTIAL.test(text)) return false;
  return CREDENTIAL_CONFIGS.every((config) => !config.path.test(rel) || !config.credential.test(text));
}
