import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AirlockError } from '../errors.js';
import { git } from '../process/runHost.js';

/** One file of the sandbox's fresh .git: inline content, or a host file streamed as is. */
export type GitEntry = { name: string; content: Buffer } | { name: string; file: string; size: number };

export interface GitMetadata {
  head?: string;
  branch?: string;
  shallow: boolean;
  entries: GitEntry[];
  /** Folders git expects even when empty. */
  dirs: string[];
  /** Temporary folder to delete once the entries have been streamed. */
  cleanup?: string;
}

const text = (value: string) => Buffer.from(value, 'utf8');

/**
 * The objects we copy must be this workspace's own: a `.git` file or `commondir` pointing at
 * another repository, or a symlinked objects folder, would carry someone else's history in.
 */
function assertOwnGitDir(root: string, commonDir: string): void {
  const own = path.join(root, '.git');
  const objects = path.join(commonDir, 'objects');
  let ok = false;
  try {
    ok = fs.lstatSync(own).isDirectory() && fs.realpathSync(commonDir) === fs.realpathSync(own) && fs.lstatSync(objects).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new AirlockError('workspace: its .git is not a plain repository folder inside the workspace (a linked worktree, a gitdir file or a symlinked object store)', 'Start from the main checkout of the repository.', 'workspace');
  }
}

/** The shallow list, only from a regular file of commit ids (never through a symlink). */
function readShallowFile(file: string): Buffer | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return undefined;
  }
  const content = stat.isFile() ? fs.readFileSync(file, 'utf8') : '';
  if (!/^([0-9a-f]{40}([0-9a-f]{24})?\n)*$/.test(content)) {
    throw new AirlockError('workspace: .git/shallow is not a list of commit ids', 'Repair the repository (git fetch --unshallow) and try again.', 'workspace');
  }
  return Buffer.from(content, 'utf8');
}

/** Object files we never copy: alternates point at host paths, locks and temp files are transient. */
function isCopyableObjectFile(rel: string): boolean {
  return !/^info\/(alternates|http-alternates)$/.test(rel) && !rel.endsWith('.lock') && !/(^|\/)tmp_/.test(rel);
}

function objectFiles(objectsDir: string): GitEntry[] {
  const entries: GitEntry[] = [];
  const visit = (rel: string) => {
    for (const dirent of fs.readdirSync(path.join(objectsDir, rel), { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${dirent.name}` : dirent.name;
      if (dirent.isDirectory()) visit(childRel);
      else if (dirent.isFile() && isCopyableObjectFile(childRel)) {
        const file = path.join(objectsDir, childRel);
        entries.push({ name: `objects/${childRel}`, file, size: fs.statSync(file).size });
      }
    }
  };
  visit('');
  return entries;
}

/**
 * A fresh .git for the sandbox: the repository's objects and branch/tag refs, HEAD, and an index
 * matching HEAD (so host edits show as uncommitted changes). Nothing else from the host's .git
 * comes along: no config (remotes, credential helpers, url rewrites), hooks, info/ or logs.
 * With `depth`, or when the host objects depend on alternates, a shallow/self-contained bare clone
 * made on the host supplies the objects instead.
 */
export async function buildGitMetadata(root: string, commonDir: string, depth: number | undefined, signal?: AbortSignal): Promise<GitMetadata> {
  assertOwnGitDir(root, commonDir);
  const promisor = await git(root, ['config', '--get-regexp', '^(remote\\..*\\.promisor|extensions\\.partialclone)$'], { signal, allowFailure: true });
  if (promisor.stdout.toString().trim()) {
    throw new AirlockError('workspace: partial clones (promisor remotes) are not supported: reading them could make git fetch through the repository\'s own remote settings', 'Run `git fetch --refetch` (or clone without --filter) first.', 'workspace');
  }
  const headResult = await git(root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}'], { signal, allowFailure: true });
  const head = headResult.code === 0 ? headResult.stdout.toString().trim() : undefined;
  const branchResult = await git(root, ['symbolic-ref', '-q', 'HEAD'], { signal, allowFailure: true });
  const branchRef = branchResult.code === 0 ? branchResult.stdout.toString().trim() : undefined;
  const formatResult = await git(root, ['rev-parse', '--show-object-format'], { signal, allowFailure: true });
  const objectFormat = formatResult.code === 0 ? formatResult.stdout.toString().trim() : 'sha1';

  const hostShallow = fs.existsSync(path.join(commonDir, 'shallow'));
  const hasAlternates = fs.existsSync(path.join(commonDir, 'objects', 'info', 'alternates'));
  let source = commonDir;
  let cleanup: string | undefined;
  if (head && (depth !== undefined || hasAlternates)) {
    cleanup = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-git-'));
    source = path.join(cleanup, 'repo.git');
    const depthArgs = depth !== undefined ? ['--depth', String(depth), '--no-single-branch'] : [];
    await git(root, ['clone', '--quiet', '--bare', '--no-local', '--no-hardlinks', ...depthArgs, `file://${root}`, source], { signal, env: { GIT_ALLOW_PROTOCOL: 'file' } });
  }
  const refs = await git(source, ['for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads', 'refs/tags'], { signal });

  const entries: GitEntry[] = [];
  entries.push({ name: 'HEAD', content: text(branchRef ? `ref: ${branchRef}\n` : `${head}\n`) });
  const extensions = objectFormat === 'sha1' ? '' : `[extensions]\n\tobjectformat = ${objectFormat}\n`;
  const version = objectFormat === 'sha1' ? 0 : 1;
  entries.push({ name: 'config', content: text(`[core]\n\trepositoryformatversion = ${version}\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n${extensions}`) });
  entries.push({ name: 'packed-refs', content: text(`# pack-refs with: sorted\n${refs.stdout.toString().split('\n').filter(Boolean).sort((a, b) => (a.split(' ')[1] < b.split(' ')[1] ? -1 : 1)).join('\n')}\n`) });

  const shallowContent = readShallowFile(path.join(source, 'shallow'));
  const shallow = shallowContent !== undefined;
  if (shallowContent) entries.push({ name: 'shallow', content: shallowContent });

  if (head) {
    const indexFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-index-')), 'index');
    try {
      await git(root, ['read-tree', head], { env: { GIT_INDEX_FILE: indexFile }, signal });
      entries.push({ name: 'index', content: fs.readFileSync(indexFile) });
    } finally {
      fs.rmSync(path.dirname(indexFile), { recursive: true, force: true });
    }
    entries.push(...objectFiles(path.join(source, 'objects')));
  }
  return { head, branch: branchRef?.replace(/^refs\/heads\//, ''), shallow: shallow || hostShallow, entries, dirs: ['refs', 'refs/heads', 'refs/tags', 'objects', 'objects/info', 'objects/pack'], cleanup };
}
