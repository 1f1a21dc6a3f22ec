/**
 * Which environment variable names look like they hold a credential. Deliberately broad: a false
 * positive costs the user one explicit override, a false negative leaks a secret into the sandbox.
 */
const SECRET_WORDS = /(TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|(^|_)KEY($|_)|AUTH|COOKIE|SESSION|_PAT$|^PAT_)/i;
const SECRET_PREFIXES = ['AWS_', 'GH_', 'GITHUB_', 'NPM_', 'AZURE_', 'ARM_', 'GOOGLE_', 'GCP_', 'GCLOUD_', 'CLOUDSDK_', 'DOCKER_', 'VAULT_', 'OPENAI_', 'ANTHROPIC_', 'HF_', 'HUGGING', 'SSH_', 'GPG_', 'TWINE_', 'CARGO_REGISTRY'];
const SECRET_EXACT = new Set(['NETRC', 'KUBECONFIG', 'PGPASSFILE', 'GIT_ASKPASS', 'SSH_AUTH_SOCK', 'DATABASE_URL']);
/** Connection strings carry passwords: *_DSN, *_PWD and the usual database/broker URLs. */
const SECRET_SUFFIXES = /(_DSN|_PWD|^(DATABASE|DB|REDIS|MONGO(DB)?|POSTGRES(QL)?|PG|MYSQL|MARIADB|AMQP|RABBITMQ|KAFKA|ELASTICSEARCH|SENTRY)_UR[IL])$/i;

export function looksSecret(name: string): boolean {
  const upper = name.toUpperCase();
  return SECRET_EXACT.has(upper) || SECRET_PREFIXES.some((prefix) => upper.startsWith(prefix)) || SECRET_WORDS.test(upper) || SECRET_SUFFIXES.test(upper);
}

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
