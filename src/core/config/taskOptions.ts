import { z } from 'zod';
import { AirlockError } from '../ground/errors.js';
import { printableLine } from '../ground/printable.js';
import { byteSizeSchema } from '../ground/byteSize.js';
import { egressSettingsSchema } from '../egress/egressSettings.js';
import { commandSettingsSchema } from '../commands/commandSettings.js';
import { ENV_NAME } from './secretNames.js';

/** The public image a user gets when nothing else is configured: Debian with node, git, bash and curl. */
export const DEFAULT_IMAGE = 'node:22-bookworm';

/**
 * Files that commonly hold credentials; gitignore syntax, matched against workspace-relative paths.
 * These almost always hold a secret when present. Config files that usually hold none but
 * sometimes do (.npmrc, .pypirc, settings.xml, gradle.properties, NuGet.config, .terraformrc,
 * dbt's profiles.yml, composer's auth.json…) are checked by content instead (workspaceListing.ts):
 * copied unless they carry a token or password.
 */
export const DEFAULT_SECRET_FILE_PATTERNS = [
  // environment files
  '.env', '.env.*', '*.env', '.envrc', '.dev.vars', 'local.settings.json', 'secrets.y*ml', 'secrets.json', 'secrets.toml', '.secrets',
  // keys, certificates with keys, keystores, password databases
  '*.pem', '*.key', '*.p12', '*.pfx', '*.pkcs12', '*.p8', '*.pk8', '*.ppk', '*.jks', '*.bks', '*.keystore', '*.keychain', '*.keychain-db',
  '*.kdbx', '*.kdb', '*.gpg', '*.asc', '*.ovpn', 'id_rsa*', 'id_dsa*', 'id_ecdsa*', 'id_ed25519*', '.ssh/', '.gnupg/', '.password-store/',
  // A slash inside a pattern anchors it to the root in gitignore syntax, hence the **/.
  // git, HTTP and package-registry credentials
  '.netrc', '_netrc', '.git-credentials', '**/.config/git/credentials', '.htpasswd', '**/.cargo/credentials', '**/.cargo/credentials.toml',
  '**/.gem/credentials', 'settings-security.xml', '**/.composer/auth.json', '**/.config/gh/hosts.yml', '**/.config/hub',
  '**/.config/github-copilot/', '**/.claude/.credentials.json', '**/.codex/auth.json', '**/.gemini/oauth_creds.json',
  // containers and clusters
  '.dockercfg', '**/.docker/config.json', '**/.kube/config', 'kubeconfig', 'kubeconfig.y*ml', '*.kubeconfig',
  // clouds and hosting
  '.aws/', '.azure/', '**/.config/gcloud/', 'application_default_credentials.json', 'client_secret*.json', '.oci/', '.databrickscfg',
  '.s3cfg', '.boto', '.passwd-s3fs', 'passwd-s3fs', '.rclone.conf', 'rclone.conf', '**/.mc/config.json',
  '**/.pulumi/credentials.json', '**/.terraform.d/credentials.tfrc.json', '*.tfvars', '*.tfvars.json', '*.tfstate', '*.tfstate.*',
  '**/.config/doctl/', '**/.config/hcloud/', '**/.fly/config.yml', '**/.wrangler/config/', '**/.config/netlify/', '**/com.vercel.cli/auth.json',
  '**/.config/configstore/firebase-tools.json', '**/.circleci/cli.yml', '**/.snowflake/connections.toml', '**/.snowsql/config', 'ngrok.yml',
  '.vault-token', 'credentials.json', 'service-account*.json', 'serviceAccount*.json', '*-adminsdk-*.json',
  // OAuth tokens cached by client libraries, netrc-style logins, editor upload configs with passwords
  'token.json', 'token.pickle', '.authinfo', '.authinfo.gpg', 'sftp-config.json', '**/.vscode/sftp.json', '.ftpconfig',
  '**/.ivy2/.credentials', '**/.sbt/.credentials', '**/.config/glab-cli/config.yml',
  // databases
  '.pgpass', 'pgpass.conf', '.my.cnf', '.mylogin.cnf', '**/.dbeaver/credentials-config.json', '**/.dbt/profiles.yml',
  // applications that always keep their database password in one file
  'wp-config.php',
];

const envName = z.string().regex(ENV_NAME, 'must be a variable name (letters, digits, underscore)');

const setupLine = z.string().min(1, 'a setup command cannot be empty');

export const taskPolicySourceSchema = z
  .object({
    /** The repository policy file the task was started under, if any. */
    file: z.string().optional(),
    digest: z.string().optional(),
    accepted: z.boolean(),
    trusted: z.boolean(),
    /** The user's layer as it was at start (flags and settings), re-used when the file changes. */
    user: z.record(z.string(), z.unknown()),
    /** Loosening parts of the repository policy left out because nobody accepted it. */
    ignored: z.array(z.object({ field: z.string(), value: z.string(), why: z.string() })).default([]),
    notes: z.array(z.string()).default([]),
  })
  .strict();
export type TaskPolicySource = z.infer<typeof taskPolicySourceSchema>;

/** A tmpfs scratch mount is the only extra mount a task may have; host paths and volumes are refused. */
const mountSchema = z.object({
  type: z.string(),
  target: z.string(),
  source: z.string().optional(),
  size: byteSizeSchema('size').optional(),
});

export const taskOptionsSchema = z
  .object({
    workspace: z.string().min(1),
    image: z.string().min(1).default(DEFAULT_IMAGE),
    runtime: z.enum(['runc', 'runsc']).default('runc'),
    ttlSeconds: z.number().int().min(5).max(7 * 24 * 3600).default(4 * 3600),
    memory: byteSizeSchema('memory').default(2 * 1024 ** 3),
    cpus: z.number().min(0.1).max(256).default(2),
    pids: z.number().int().min(16).max(65536).default(512),
    user: z.string().regex(/^\d+(:\d+)?$/, 'must be UID or UID:GID (numbers)').default('1000:1000'),
    allowRoot: z.boolean().default(false),
    readOnlyRoot: z.boolean().default(false),
    tmpSize: byteSizeSchema('tmpSize').default(512 * 1024 ** 2),
    /** Keep the workspace copy in memory (a tmpfs volume of this size): faster to fill, size-bounded. */
    workspaceTmpfs: byteSizeSchema('workspaceTmpfs').optional(),
    /**
     * Carry host edits into the box while the task runs (changes/hostMirror.ts), for agents that
     * edit the host's files and run their commands in the box. The user's Airlock daemon does it.
     */
    mirrorHostEdits: z.boolean().default(false),
    /** Host variables copied in by name. */
    envPassthrough: z.array(envName).default([]),
    /** Variables set to explicit values. */
    env: z.record(envName, z.string()).default({}),
    /** Secret-looking names the user has explicitly allowed in. */
    allowSecretEnv: z.array(envName).default([]),
    secretFilePatterns: z.array(z.string().min(1)).default(DEFAULT_SECRET_FILE_PATTERNS),
    /** Commits of history to copy; undefined copies the whole history. */
    gitDepth: z.number().int().positive().optional(),
    /**
     * deny: loopback only. allowlist: only destinations the egress rules allow, through the relay
     * (unset: allowlist when any allow rule is given, else deny).
     */
    network: z.enum(['deny', 'allowlist']).optional(),
    egress: egressSettingsSchema.default(() => egressSettingsSchema.parse({})),
    /** Which commands run, which wait for a reviewer, which are refused. */
    commands: commandSettingsSchema.default(() => commandSettingsSchema.parse({})),
    /**
     * Shell command lines run before the agent phase, under the setup network rules. A plain line is
     * the user's own and runs as given; one marked `gate` (from a repository policy nobody accepted)
     * passes the command rules first, like an agent command.
     */
    setupCommands: z.array(z.union([setupLine, z.object({ command: setupLine, field: z.string(), gate: z.boolean() }).strict()])).default([]),
    /** Globs whose changes review flags as risky, on top of the built-in list. */
    riskyPaths: z.array(z.string().min(1)).default([]),
    /** Where the policy came from, so a running task can follow tightenings of the repository file. */
    policy: taskPolicySourceSchema.optional(),
    mounts: z.array(mountSchema).default([]),
  })
  .strict();

export type TaskOptionsInput = z.input<typeof taskOptionsSchema>;
export type TaskOptions = Omit<z.output<typeof taskOptionsSchema>, 'network'> & { network: 'deny' | 'allowlist' };

/** One readable line per problem, naming the field: "memory: memory must be a size like 512m or 2g". */
export function formatZodError(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((issue) => {
      // Keys and messages can quote a repository's text: one printable line per issue.
      const where = printableLine(prefix + issue.path.join('.'));
      if (issue.code === 'unrecognized_keys') return `${where || 'options'}: unknown field(s) ${issue.keys.map(printableLine).join(', ')}`;
      return `${where || 'options'}: ${printableLine(issue.message)}`;
    })
    .join('\n');
}

function fieldOf(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return '';
  if (issue.code === 'unrecognized_keys') return [...issue.path, issue.keys[0]].join('.');
  return issue.path.join('.');
}

export function parseTaskOptions(input: TaskOptionsInput): TaskOptions {
  const result = taskOptionsSchema.safeParse(input);
  if (!result.success) throw new AirlockError(formatZodError(result.error), { code: 'options.invalid', hint: 'Fix the named option and try again.', field: fieldOf(result.error.issues[0]) });
  const options = { ...result.data, network: networkMode(result.data) };
  refuseHostAccess(options);
  return options;
}

function networkMode(options: z.output<typeof taskOptionsSchema>): 'deny' | 'allowlist' {
  const { setup, agent } = options.egress;
  const rules = [...setup.allow, ...setup.allowCidr, ...agent.allow, ...agent.allowCidr].length > 0 || options.egress.ask;
  if (options.network === 'deny' && rules) {
    throw new AirlockError('network: allow rules (or ask) were given with network "deny", which would ignore them', { code: 'options.networkRulesDenied', hint: 'Set the network to "allowlist", or drop the allow rules (and ask).', field: 'network', actions: [{ kind: 'changeSetting', setting: 'network', value: 'allowlist' }] });
  }
  return options.network ?? (rules ? 'allowlist' : 'deny');
}

const HOST_SOCKET = /docker\.sock|podman\.sock|containerd\.sock|\/var\/run\/|\/run\/(user\/\d+\/)?(docker|podman|containerd)/;

/** A task never sees the engine socket or any host path; requests for either are refused by field. */
function refuseHostAccess(options: TaskOptions): void {
  options.mounts.forEach((mount, index) => {
    const field = `mounts.${index}`;
    const text = `${mount.source ?? ''} ${mount.target}`;
    if (HOST_SOCKET.test(text)) {
      throw new AirlockError(`${field}: mounting the container engine socket is never allowed (it would give the sandbox control of the host)`, { code: 'options.engineSocketMount', hint: 'Remove this mount.', field });
    }
    if (mount.type !== 'tmpfs') {
      throw new AirlockError(`${field}: ${mount.type} mounts are refused; a task sees only its private workspace copy (type "tmpfs" is the only mount allowed)`, { code: 'options.hostMount', hint: 'Remove this mount, or use a tmpfs scratch mount.', field });
    }
    if (mount.source) throw new AirlockError(`${field}.source: a tmpfs mount takes no source`, { code: 'options.invalidMount', hint: 'Remove "source".', field: `${field}.source` });
    if (!mount.target.startsWith('/') || mount.target === '/' || mount.target.split('/').includes('..') || mount.target.startsWith('/workspace')) {
      throw new AirlockError(`${field}.target: must be an absolute path outside /workspace, without ".."`, { code: 'options.invalidMount', hint: 'Pick a path such as /cache.', field: `${field}.target` });
    }
  });
  if (options.workspaceTmpfs && options.runtime === 'runsc') {
    throw new AirlockError('workspaceTmpfs: an in-memory workspace is not available with runsc (gVisor does not see a tmpfs volume filled after start)', { code: 'options.tmpfsWithRunsc', hint: 'Keep the workspace on disk, or run the task with runc.', field: 'workspaceTmpfs', actions: [{ kind: 'changeSetting', setting: 'workspaceTmpfs' }, { kind: 'useRuntime', runtime: 'runc' }] });
  }
  const uid = Number(options.user.split(':')[0]);
  if (uid === 0 && !options.allowRoot) {
    throw new AirlockError('user: running the sandbox as root (uid 0) needs allowRoot', { code: 'options.rootNeedsAllowRoot', hint: 'Allow root if you really need it; it is still without capabilities.', field: 'user', actions: [{ kind: 'changeSetting', setting: 'allowRoot', value: 'true' }] });
  }
}
