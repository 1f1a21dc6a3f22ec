import { GitObjectReader } from './gitObjectReader.js';
import type { ScratchRepository } from './scratchRepository.js';
import { CREDENTIAL_CONFIG_MAX_BYTES, credentialConfigIsClean } from './credentialConfigs.js';
import type { SecretRules } from './secretRules.js';

/** A branch or tag of the workspace, as for-each-ref reports it. */
export interface HostRef {
  name: string;
  id: string;
  type: string;
}

export interface HistoryInput {
  repo: ScratchRepository;
  reader: GitObjectReader;
  /** The workspace's HEAD commit (undefined on an unborn branch). */
  head?: string;
  refs: HostRef[];
  /** Commits the workspace itself has without parents (its .git/shallow). */
  hostShallow: Set<string>;
  /** Generations of history per branch tip, as `git clone --depth`; undefined for all of it. */
  depth?: number;
  rules: SecretRules;
  signal?: AbortSignal;
}

export interface FilteredHistory {
  /** Every object the sandbox gets, each with a path hint for delta search. */
  objects: Map<string, string>;
  /** Branch and tag refs, pointing at rewritten objects. */
  refs: Array<{ name: string; id: string }>;
  /** HEAD as the sandbox sees it: the rewritten commit of the workspace's HEAD. */
  head?: string;
  headTree?: string;
  /** Rewritten ids of the commits whose parents the sandbox does not get. */
  shallow: string[];
  /** Paths removed from at least one commit's tree. */
  removed: string[];
  commits: number;
  rewritten: number;
}

interface Commit {
  tree: string;
  parents: string[];
  raw: Buffer;
}

interface TreeEntry {
  mode: string;
  name: string;
  id: string;
  raw: Buffer;
}

/** Headers that certify the original bytes; a rewritten object would carry a signature that no longer verifies. */
const SIGNATURE_HEADERS = new Set(['gpgsig', 'gpgsig-sha256', 'mergetag']);
const FILE_MODE = /^10[0-7]{4}$/;
const TREE_MODE = '40000';
const SYMLINK_MODE = '120000';
const GITLINK_MODE = '160000';

function parseHeaders(raw: Buffer): { headers: Array<{ key: string; lines: string[] }>; body: string } {
  // latin1 maps bytes to characters one to one, so names in any encoding survive the round trip.
  const text = raw.toString('latin1');
  const end = text.indexOf('\n\n');
  const headerText = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end + 1);
  const headers: Array<{ key: string; lines: string[] }> = [];
  for (const line of headerText.split('\n')) {
    if (line.startsWith(' ') && headers.length) headers[headers.length - 1].lines.push(line);
    else headers.push({ key: line.slice(0, line.indexOf(' ')), lines: [line] });
  }
  return { headers, body };
}

const headerValue = (header: { lines: string[] }) => header.lines[0].slice(header.lines[0].indexOf(' ') + 1);

function parseCommit(raw: Buffer): Commit {
  const { headers } = parseHeaders(raw);
  const tree = headers.find((header) => header.key === 'tree');
  if (!tree) throw new Error('commit without a tree');
  return { tree: headerValue(tree), parents: headers.filter((header) => header.key === 'parent').map(headerValue), raw };
}

function parseTree(content: Buffer, hashBytes: number): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let offset = 0;
  while (offset < content.length) {
    const space = content.indexOf(32, offset);
    const nul = content.indexOf(0, space + 1);
    if (space < 0 || nul < 0 || nul + 1 + hashBytes > content.length) throw new Error('malformed tree object');
    const end = nul + 1 + hashBytes;
    entries.push({
      mode: content.subarray(offset, space).toString('latin1'),
      name: content.subarray(space + 1, nul).toString('utf8'),
      id: content.subarray(nul + 1, end).toString('hex'),
      raw: content.subarray(offset, end),
    });
    offset = end;
  }
  return entries;
}

/** A commit or tag object with new target ids and without its (now invalid) signature. */
function rewriteHeaders(raw: Buffer, replace: (key: string, value: string) => string | undefined, stripSignedBody: boolean): Buffer {
  const { headers, body } = parseHeaders(raw);
  const out: string[] = [];
  for (const header of headers) {
    if (SIGNATURE_HEADERS.has(header.key)) continue;
    const value = replace(header.key, headerValue(header));
    if (value === undefined) out.push(...header.lines);
    else out.push(`${header.key} ${value}`);
  }
  // A tag's signature is the tail of its message.
  const message = stripSignedBody ? body.replace(/\n?-----BEGIN (PGP|SSH) SIGNATURE-----[\s\S]*$/, '\n') : body;
  return Buffer.from(`${out.join('\n')}\n${message}`, 'latin1');
}

/**
 * The workspace's history as the sandbox may see it: every commit reachable from HEAD and the
 * branches (to `depth` generations), each tree with every path the secret rules exclude removed
 * at every level, and package-manager configs that carry a credential removed by content. Commits
 * and trees that lose nothing keep their ids (and signatures); a commit whose tree or parents
 * changed is written anew with the same author, committer, message and other headers. Tags are kept
 * when the commit they name is in that history. Nothing else — stash, reflogs, the index, other
 * refs, unreachable or loose objects — is part of the result.
 */
export async function filterHistory(input: HistoryInput): Promise<FilteredHistory> {
  const { repo, reader, rules } = input;
  const hashBytes = repo.hexLength / 2;
  const objects = new Map<string, string>();
  const removed = new Set<string>();

  const commits = new Map<string, Commit>();
  // Commits whose parents the walk did not follow: the sandbox treats them as roots, as git does after clone --depth.
  const boundary = new Set<string>();
  const tips = [...new Set([...(input.head ? [input.head] : []), ...input.refs.filter((ref) => ref.name.startsWith('refs/heads/') && ref.type === 'commit').map((ref) => ref.id)])];
  const keep = (id: string, commit: Commit, followParents: boolean) => {
    commits.set(id, commit);
    if (!followParents && commit.parents.length) boundary.add(id);
  };
  if (input.depth === undefined) {
    // The whole history: one rev-list (it stops at the workspace's own shallow boundary, which the
    // scratch repository shares), then every commit read at once through the pipelined reader.
    const listed = tips.length ? (await repo.git(['rev-list', ...tips])).stdout.toString('latin1').split('\n').filter(Boolean) : [];
    const raw = await GitObjectReader.readAll(repo, listed, 'commit', input.signal);
    listed.forEach((id, index) => keep(id, parseCommit(raw[index]), !input.hostShallow.has(id)));
  } else {
    let frontier = tips;
    for (let generation = 0; frontier.length; generation++) {
      const read = await Promise.all(frontier.map(async (id) => [id, parseCommit(await reader.require(id, 'commit'))] as const));
      const next = new Set<string>();
      for (const [id, commit] of read) {
        const follow = !input.hostShallow.has(id) && generation + 1 < input.depth;
        keep(id, commit, follow);
        if (follow) for (const parent of commit.parents) if (!commits.has(parent)) next.add(parent);
      }
      frontier = [...next].filter((id) => !commits.has(id));
    }
  }

  // Every tree of those commits, read level by level (one git process per folder depth), kept as
  // raw bytes: parsed entries of every tree in a long history would take several times the memory.
  const treeObjects = new Map<string, Buffer>();
  let level = [...new Set([...commits.values()].map((commit) => commit.tree))];
  while (level.length) {
    const read = await GitObjectReader.readAll(repo, level, 'tree', input.signal);
    const next = new Set<string>();
    for (const [index, id] of level.entries()) {
      treeObjects.set(id, read[index]);
      for (const entry of parseTree(read[index], hashBytes)) if (entry.mode === TREE_MODE && !treeObjects.has(entry.id)) next.add(entry.id);
    }
    level = [...next].filter((id) => !treeObjects.has(id));
  }

  // Configs judged by content are found by path (some rules name a folder too), then read at once.
  const configBlobs = new Set<string>();
  const seen = new Set<string>();
  const findConfigs = (id: string, dir: string) => {
    const key = `${id} ${dir}`;
    if (seen.has(key)) return;
    seen.add(key);
    for (const entry of parseTree(treeObjects.get(id)!, hashBytes)) {
      const rel = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.mode === TREE_MODE) {
        if (!rules.excludesDir(rel)) findConfigs(entry.id, rel);
      } else if (FILE_MODE.test(entry.mode) && rules.needsContentCheck(rel)) configBlobs.add(`${entry.id} ${rel}`);
    }
  };
  for (const commit of commits.values()) findConfigs(commit.tree, '');
  // Sizes first: a config blob over the limit is not clean, and is never read (a repository can hold
  // gigabyte-sized, highly compressible blobs at such paths in old commits).
  const configIds = [...new Set([...configBlobs].map((key) => key.slice(0, key.indexOf(' '))))];
  const sizes = new Map<string, number>();
  if (configIds.length) {
    const checked = await repo.git(['cat-file', '--batch-check=%(objectname) %(objectsize)'], { input: configIds.join('\n') + '\n', signal: input.signal });
    for (const line of checked.stdout.toString('latin1').split('\n')) {
      const [id, size] = line.split(' ');
      if (id && /^\d+$/.test(size ?? '')) sizes.set(id, Number(size));
    }
  }
  const configKeys = [...configBlobs].filter((key) => (sizes.get(key.slice(0, key.indexOf(' '))) ?? Infinity) <= CREDENTIAL_CONFIG_MAX_BYTES);
  const configs = await GitObjectReader.readAll(repo, configKeys.map((key) => key.slice(0, key.indexOf(' '))), 'blob', input.signal);
  const cleanConfig = new Set(configKeys.filter((key, index) => credentialConfigIsClean(key.slice(key.indexOf(' ') + 1), configs[index])));

  // Keyed by tree and folder: patterns anchored at the root judge the same tree differently elsewhere.
  // '' stands for a folder left empty, which is dropped as git itself never records one.
  const filtered = new Map<string, string>();
  const filterTree = (id: string, dir: string): string => {
    const key = `${id} ${dir}`;
    let result = filtered.get(key);
    if (result !== undefined) return result;
    const entries = parseTree(treeObjects.get(id)!, hashBytes);
    const kept: Buffer[] = [];
    let changed = false;
    for (const entry of entries) {
      const rel = dir ? `${dir}/${entry.name}` : entry.name;
      let keep: Buffer | undefined;
      let emptied = false;
      // Git refuses to check out a .git entry; it could only be an attack on the sandbox's git.
      if (entry.name.toLowerCase() === '.git') keep = undefined;
      else if (entry.mode === TREE_MODE) {
        if (!rules.excludesDir(rel)) {
          const child = filterTree(entry.id, rel);
          if (child === entry.id) keep = entry.raw;
          else if (child) keep = Buffer.concat([entry.raw.subarray(0, entry.raw.length - hashBytes), Buffer.from(child, 'hex')]);
          else emptied = true;
        }
      } else if (entry.mode === GITLINK_MODE) {
        // A submodule entry is only a commit id; its content is never copied.
        keep = entry.raw;
      } else if ((FILE_MODE.test(entry.mode) || entry.mode === SYMLINK_MODE) && !rules.excludesFile(rel)) {
        // A package-manager config is kept only as a regular file without a credential.
        const config = rules.needsContentCheck(rel);
        if (!config || (entry.mode !== SYMLINK_MODE && cleanConfig.has(`${entry.id} ${rel}`))) {
          keep = entry.raw;
          if (!objects.has(entry.id)) objects.set(entry.id, rel);
        }
      }
      if (keep !== undefined) kept.push(keep);
      else if (!emptied) removed.add(rel);
      if (keep !== entry.raw) changed = true;
    }
    result = !changed ? id : kept.length === 0 && dir ? '' : repo.writeObject('tree', Buffer.concat(kept));
    if (result && !objects.has(result)) objects.set(result, dir);
    filtered.set(key, result);
    return result;
  };
  const newTrees = new Map<string, string>();
  for (const commit of commits.values()) if (!newTrees.has(commit.tree)) newTrees.set(commit.tree, filterTree(commit.tree, ''));

  // Parents before children, without recursion: histories can be far deeper than the stack.
  const order: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  for (const tip of tips) {
    const stack: string[] = [tip];
    while (stack.length) {
      const id = stack[stack.length - 1];
      if (state.get(id) === 'done') {
        stack.pop();
        continue;
      }
      if (state.get(id) === 'open') {
        state.set(id, 'done');
        order.push(id);
        stack.pop();
        continue;
      }
      state.set(id, 'open');
      for (const parent of commits.get(id)!.parents) if (commits.has(parent) && !state.has(parent)) stack.push(parent);
    }
  }

  const mapped = new Map<string, string>();
  const shallow: string[] = [];
  let rewritten = 0;
  for (const id of order) {
    const commit = commits.get(id)!;
    const tree = newTrees.get(commit.tree)!;
    // A parent outside the copied history keeps its original id; the commit is then a shallow boundary.
    const parents = commit.parents.map((parent) => mapped.get(parent) ?? parent);
    let result = id;
    if (tree !== commit.tree || parents.some((parent, index) => parent !== commit.parents[index])) {
      let parentIndex = 0;
      result = repo.writeObject('commit', rewriteHeaders(commit.raw, (key) => (key === 'tree' ? tree : key === 'parent' ? parents[parentIndex++] : undefined), false));
      rewritten++;
    }
    mapped.set(id, result);
    objects.set(result, '');
    if (boundary.has(id) || commit.parents.some((parent) => !commits.has(parent))) shallow.push(result);
  }

  const refs: Array<{ name: string; id: string }> = [];
  for (const ref of input.refs) {
    if (ref.type === 'commit') {
      const id = mapped.get(ref.id);
      if (id) refs.push({ name: ref.name, id });
      continue;
    }
    // Annotated tags naming a copied commit; a tag of a tree, a blob or another tag is left out.
    if (ref.type !== 'tag' || !ref.name.startsWith('refs/tags/')) continue;
    const raw = await reader.require(ref.id, 'tag');
    const { headers } = parseHeaders(raw);
    const object = headers.find((header) => header.key === 'object');
    const type = headers.find((header) => header.key === 'type');
    const target = object && mapped.get(headerValue(object));
    if (!target || !type || headerValue(type) !== 'commit') continue;
    const id = target === headerValue(object) ? ref.id : repo.writeObject('tag', rewriteHeaders(raw, (key) => (key === 'object' ? target : undefined), true));
    objects.set(id, '');
    refs.push({ name: ref.name, id });
  }

  const head = input.head ? mapped.get(input.head) : undefined;
  return {
    objects,
    refs,
    head,
    headTree: input.head ? newTrees.get(commits.get(input.head)!.tree) : undefined,
    shallow: [...new Set(shallow)].sort(),
    removed: [...removed].sort(),
    commits: commits.size,
    rewritten,
  };
}
