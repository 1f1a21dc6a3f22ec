import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AirlockError, throwIfAborted } from '../ground/errors.js';
import { git } from '../ground/runHost.js';
import { type FilteredHistory, filterHistory, type HostRef } from './filteredHistory.js';
import { GitObjectReader } from './gitObjectReader.js';
import { ScratchRepository } from './scratchRepository.js';
import { secretRules } from './secretRules.js';
import { readUntrustedText } from '../ground/untrustedFile.js';
import { historyIfClean } from './cleanHistory.js';

/** One file of the sandbox's fresh .git: inline content, or a host file streamed as is. */
export type GitEntry = { name: string; content: Buffer } | { name: string; file: string; size: number };

export interface GitMetadata {
  /** The workspace's HEAD commit, on the host: what a push builds on. */
  head?: string;
  /**
   * HEAD inside the sandbox: the same id as `head` unless some commit lost a secret path, then
   * the id of HEAD's rewritten commit.
   */
  sandboxHead?: string;
  branch?: string;
  shallow: boolean;
  /** Paths removed from at least one commit's tree by the secret rules. */
  removedFromHistory: string[];
  commits: number;
  rewrittenCommits: number;
  /** `as-is`: no commit ever held a secret path, so the history crossed unchanged without reading every tree. */
  historyCopy: 'as-is' | 'filtered';
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
  let ok: boolean;
  try {
    ok = fs.lstatSync(own).isDirectory() && fs.realpathSync(commonDir) === fs.realpathSync(own) && fs.lstatSync(objects).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new AirlockError('workspace: its .git is not a plain repository folder inside the workspace (a linked worktree, a gitdir file or a symlinked object store)', { code: 'workspace.unsupportedGitLayout', hint: 'Start from the main checkout of the repository.', field: 'workspace' });
  }
}

const SHALLOW_FILE_LIMIT = 64 * 1024 * 1024;

/** The shallow list, only from a regular file of commit ids (never through a symlink). */
function readShallowFile(file: string): Buffer | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return undefined;
  }
  // One id per boundary commit: far below the limit for any real repository; a FIFO or a growing file is refused.
  const content = stat.isFile() ? (readUntrustedText(file, { maxBytes: SHALLOW_FILE_LIMIT, followSymlinks: false, what: 'workspace: .git/shallow' }) ?? '') : '';
  if (!/^([0-9a-f]{40}([0-9a-f]{24})?\n)*$/.test(content)) {
    throw new AirlockError('workspace: .git/shallow is not a list of commit ids', { code: 'workspace.invalidShallowFile', hint: 'Repair the repository (git fetch --unshallow) and try again.', field: 'workspace' });
  }
  return Buffer.from(content, 'utf8');
}

/**
 * A fresh .git for the sandbox, holding only history the secret rules allow: every commit
 * reachable from HEAD and the branches (to `depth` generations), each tree with every path the
 * secret rules exclude removed, packed from an explicit object list (filteredHistory.ts). Refs are
 * the branches and the tags of those commits, HEAD, an index matching the rewritten HEAD (so host
 * edits show as uncommitted changes) and a generated config. Nothing else from the host's .git comes
 * along: no config (remotes, credential helpers, url rewrites), hooks, info/, logs, stash, index,
 * loose or unreachable objects.
 */
export async function buildGitMetadata(root: string, commonDir: string, depth: number | undefined, secretPatterns: readonly string[], signal?: AbortSignal): Promise<GitMetadata> {
  assertOwnGitDir(root, commonDir);
  const hostEnv = { env: { GIT_NO_REPLACE_OBJECTS: '1' }, signal };
  const promisor = await git(root, ['config', '--get-regexp', '^(remote\\..*\\.promisor|extensions\\.partialclone)$'], { ...hostEnv, allowFailure: true });
  if (promisor.stdout.toString().trim()) {
    throw new AirlockError('workspace: partial clones (promisor remotes) are not supported: reading them could make git fetch through the repository\'s own remote settings', { code: 'workspace.partialClone', hint: 'Run `git fetch --refetch` (or clone without --filter) first.', field: 'workspace' });
  }
  const headResult = await git(root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}'], { ...hostEnv, allowFailure: true });
  const head = headResult.code === 0 ? headResult.stdout.toString().trim() : undefined;
  const branchResult = await git(root, ['symbolic-ref', '-q', 'HEAD'], { ...hostEnv, allowFailure: true });
  const branchRef = branchResult.code === 0 ? branchResult.stdout.toString().trim() : undefined;
  const formatResult = await git(root, ['rev-parse', '--show-object-format'], { ...hostEnv, allowFailure: true });
  const objectFormat = formatResult.code === 0 ? formatResult.stdout.toString().trim() : 'sha1';
  if (objectFormat !== 'sha1' && objectFormat !== 'sha256') {
    throw new AirlockError(`workspace: the repository uses object format "${objectFormat}", which Airlock cannot filter`, { code: 'workspace.unsupportedObjectFormat', hint: 'Use a sha1 or sha256 repository.', field: 'workspace' });
  }
  const refLines = await git(root, ['for-each-ref', '--format=%(objectname) %(objecttype) %(refname)', 'refs/heads', 'refs/tags'], hostEnv);
  const refs: HostRef[] = refLines.stdout.toString().split('\n').filter(Boolean).map((line) => {
    const [id, type, ...name] = line.split(' ');
    return { id, type, name: name.join(' ') };
  });
  const hostShallowFile = readShallowFile(path.join(commonDir, 'shallow'));
  const hostShallow = new Set((hostShallowFile?.toString('utf8') ?? '').split('\n').filter(Boolean));

  const cleanup = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-git-'));
  try {
    const repo = new ScratchRepository(path.join(cleanup, 'repo.git'), path.join(commonDir, 'objects'), objectFormat, hostShallowFile);
    const reader = new GitObjectReader(repo, signal);
    let history: FilteredHistory;
    let clean: FilteredHistory | undefined;
    try {
      const rules = secretRules(secretPatterns);
      clean = await historyIfClean({ repo, head, refs, hostShallow, depth, rules, signal });
      history = clean ?? (await filterHistory({ repo, reader, head, refs, hostShallow, depth, rules, signal }));
    } finally {
      reader.close();
    }
    throwIfAborted(signal);
    await repo.storeWritten(signal);

    const entries: GitEntry[] = [];
    entries.push({ name: 'HEAD', content: text(branchRef ? `ref: ${branchRef}\n` : `${history.head}\n`) });
    const extensions = objectFormat === 'sha1' ? '' : `[extensions]\n\tobjectformat = ${objectFormat}\n`;
    const version = objectFormat === 'sha1' ? 0 : 1;
    entries.push({ name: 'config', content: text(`[core]\n\trepositoryformatversion = ${version}\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n${extensions}`) });
    const refText = history.refs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((ref) => `${ref.id} ${ref.name}\n`).join('');
    entries.push({ name: 'packed-refs', content: text(`# pack-refs with: sorted\n${refText}`) });
    if (history.shallow.length) entries.push({ name: 'shallow', content: text(history.shallow.map((id) => `${id}\n`).join('')) });

    if (history.objects.size) {
      // Exactly these objects; a path hint (no newline) helps pack-objects find deltas.
      const list = [...history.objects].map(([id, hint]) => `${id} ${hint.replace(/[\r\n]/g, '')}\n`).join('');
      fs.mkdirSync(path.join(cleanup, 'pack'));
      const base = path.join(cleanup, 'pack', 'pack');
      const name = (await repo.git(['pack-objects', '-q', '--delta-base-offset', base], { input: list, signal })).stdout.toString().trim();
      if (!/^[0-9a-f]+$/.test(name)) throw new Error(`git pack-objects gave no pack name: ${name}`);
      for (const ext of ['pack', 'idx']) {
        const file = `${base}-${name}.${ext}`;
        entries.push({ name: `objects/pack/pack-${name}.${ext}`, file, size: fs.statSync(file).size });
      }
    }
    if (history.headTree) {
      const indexFile = path.join(cleanup, 'index');
      await repo.git(['read-tree', history.headTree], { env: { GIT_INDEX_FILE: indexFile }, signal });
      entries.push({ name: 'index', content: fs.readFileSync(indexFile) });
    }
    return {
      head,
      sandboxHead: history.head,
      branch: branchRef?.replace(/^refs\/heads\//, ''),
      shallow: history.shallow.length > 0,
      removedFromHistory: history.removed,
      commits: history.commits,
      rewrittenCommits: history.rewritten,
      historyCopy: clean ? 'as-is' : 'filtered',
      entries,
      dirs: ['refs', 'refs/heads', 'refs/tags', 'objects', 'objects/info', 'objects/pack'],
      cleanup,
    };
  } catch (error) {
    fs.rmSync(cleanup, { recursive: true, force: true });
    throw error;
  }
}
