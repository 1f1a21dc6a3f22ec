import { spawn } from 'node:child_process';

export interface HostResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs a host program (git) without a shell and collects its output; never throws for a non-zero exit. */
export function runHost(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; signal?: AbortSignal; input?: string } = {}): Promise<HostResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, signal: options.signal, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    // A child that exits before reading its input must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Variables that point git at another repository, index or object store. Airlock is often run from
 * inside git (a hook sets GIT_DIR and GIT_INDEX_FILE), and git must read the workspace it was given.
 */
const GIT_LOCATION = /^GIT_(DIR|WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|COMMON_DIR|NAMESPACE|PREFIX|QUARANTINE_PATH|SHALLOW_FILE|REPLACE_REF_BASE|GRAFT_FILE)$/;

export function hostEnvForGit(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !GIT_LOCATION.test(name)));
}

/**
 * git with the repository's config neutralised wherever it could run a program on the host:
 * fsmonitor, hooks, credential helpers, and every transport (a promisor remote would otherwise
 * lazily fetch through an attacker's upload-pack or ssh command).
 */
export async function git(cwd: string, args: string[], options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; allowFailure?: boolean; input?: string } = {}): Promise<HostResult> {
  const env = { ...hostEnvForGit(), GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', GIT_ALLOW_PROTOCOL: 'none', GIT_NO_LAZY_FETCH: '1', GIT_ASKPASS: '/bin/false', SSH_ASKPASS: '/bin/false', ...options.env };
  const result = await runHost('git', ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '-c', 'credential.helper=', '-c', 'core.sshCommand=/bin/false', ...args], { cwd, env, signal: options.signal, input: options.input });
  if (result.code !== 0 && !options.allowFailure) throw new Error(`git ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result;
}
