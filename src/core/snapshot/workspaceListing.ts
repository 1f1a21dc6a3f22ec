import * as fs from 'node:fs';
import * as path from 'node:path';
import ignore from 'ignore';
import { AirlockError } from '../ground/errors.js';
import { git } from '../ground/runHost.js';
import { readUntrustedFile, readUntrustedText, UntrustedFileError } from '../ground/untrustedFile.js';
import { CREDENTIAL_CONFIG_MAX_BYTES, credentialConfigIsClean } from './credentialConfigs.js';
import { secretRules } from './secretRules.js';

/** The most Airlock reads of a config or ignore file; far above any real one. */
const CONFIG_READ_LIMIT = CREDENTIAL_CONFIG_MAX_BYTES;

export interface WorkspaceListing {
  root: string;
  /** Set when `root` is the top of a git work tree. */
  git?: { gitDir: string; commonDir: string };
  /** Workspace-relative paths (posix) of files and symlinks to copy. */
  files: Set<string>;
  /** Every ancestor directory of a copied file, so the walk can prune everything else. */
  dirs: Set<string>;
  /** Paths left out because they look like secrets (file or directory patterns). */
  excluded: string[];
}

function ancestors(rel: string): string[] {
  const parts = rel.split('/');
  return parts.slice(0, -1).map((_, index) => parts.slice(0, index + 1).join('/'));
}

async function gitFiles(root: string, signal?: AbortSignal): Promise<{ files: string[]; gitDir: string; commonDir: string } | undefined> {
  const probe = await git(root, ['rev-parse', '--show-toplevel', '--absolute-git-dir', '--git-common-dir'], { signal, allowFailure: true });
  if (probe.code !== 0) return undefined;
  const [top, gitDir, commonDir] = probe.stdout.toString('utf8').trim().split('\n');
  const inRepo = await git(root, ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { signal });
  const files = inRepo.stdout.toString('utf8').split('\0').filter(Boolean);
  if (fs.realpathSync(top) !== fs.realpathSync(root)) return { files, gitDir: '', commonDir: '' };
  return { files, gitDir, commonDir: path.resolve(root, commonDir) };
}

/**
 * A plain folder: everything except .git folders and what a root .gitignore names. The .gitignore
 * decides what stays out of the box, so one that cannot be read safely (a FIFO, a device, a link
 * out of the workspace, a huge file) stops the listing instead of being skipped.
 */
function walkFolder(root: string): string[] {
  const rootIgnore = ignore();
  let text: string | undefined;
  try {
    text = readUntrustedText(path.join(root, '.gitignore'), { maxBytes: CONFIG_READ_LIMIT, within: root, what: 'workspace: .gitignore' });
  } catch (error) {
    if (error instanceof UntrustedFileError) throw new AirlockError(error.message, { code: 'workspace.refusedGitignore', hint: 'Make the workspace .gitignore a regular file inside the workspace, or remove it.', field: 'workspace' });
    throw error;
  }
  if (text !== undefined) rootIgnore.add(text);
  const files: string[] = [];
  const visit = (relDir: string) => {
    for (const entry of fs.readdirSync(path.join(root, relDir), { withFileTypes: true })) {
      const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
      if (entry.name === '.git') continue;
      if (entry.isDirectory()) {
        if (!rootIgnore.ignores(`${rel}/`)) visit(rel);
      } else if (!rootIgnore.ignores(rel)) {
        files.push(rel);
      }
    }
  };
  visit('');
  return files;
}

export function assertWorkspaceFolder(root: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(root);
  } catch {
    throw new AirlockError(`workspace: ${root} does not exist`, { code: 'workspace.notFound', hint: 'Choose an existing folder as the workspace.', field: 'workspace', actions: [{ kind: 'chooseWorkspace' }] });
  }
  if (!stat.isDirectory()) throw new AirlockError(`workspace: ${root} is not a folder`, { code: 'workspace.notAFolder', hint: 'Choose a folder as the workspace.', field: 'workspace', actions: [{ kind: 'chooseWorkspace' }] });
}

/** Credential-prone configs are copied only when they are small regular files without a credential. */
function carriesCredentials(root: string, rel: string): boolean {
  try {
    // Not followed: a config that is a symlink (to /dev/zero, a FIFO, or a file outside) stays out.
    const content = readUntrustedFile(path.join(root, rel), { maxBytes: CONFIG_READ_LIMIT, followSymlinks: false });
    return content === undefined || !credentialConfigIsClean(rel, content);
  } catch {
    return true;
  }
}

/**
 * What goes into the private copy: in a git work tree the tracked files plus untracked files that
 * are not ignored; elsewhere the folder's files. Secret-looking files are always left out.
 */
export async function listWorkspace(root: string, secretPatterns: readonly string[], signal?: AbortSignal): Promise<WorkspaceListing> {
  assertWorkspaceFolder(root);

  // The same rule the history filter applies to every commit, so the copy and its history never differ.
  const secrets = secretRules(secretPatterns);
  const fromGit = await gitFiles(root, signal);
  const candidates = fromGit ? fromGit.files : walkFolder(root);
  const files = new Set<string>();
  const dirs = new Set<string>();
  const excluded: string[] = [];
  for (const rel of candidates) {
    if (rel.split('/').includes('.git')) continue;
    if (secrets.excludesFile(rel) || (secrets.needsContentCheck(rel) && carriesCredentials(root, rel))) {
      excluded.push(rel);
      continue;
    }
    files.add(rel);
    for (const dir of ancestors(rel)) dirs.add(dir);
  }
  // History comes along only from a plain .git folder; a linked worktree is copied as files.
  const ownGitFolder = fs.lstatSync(path.join(root, '.git'), { throwIfNoEntry: false })?.isDirectory() ?? false;
  const git = fromGit?.gitDir && ownGitFolder ? { gitDir: fromGit.gitDir, commonDir: fromGit.commonDir } : undefined;
  return { root, git, files, dirs, excluded: excluded.sort() };
}
