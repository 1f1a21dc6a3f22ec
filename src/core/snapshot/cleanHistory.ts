import type { FilteredHistory, HistoryInput } from './filteredHistory.js';
import { GitObjectReader } from './gitObjectReader.js';

/** What the filter takes, less its object reader: this path reads no tree. */
export type CleanHistoryInput = Omit<HistoryInput, 'reader'>;

/**
 * The common case, fast: when no commit the box would get ever held a path that the secret rules
 * exclude or judge by content, the history goes across as it is, same objects and ids. That takes
 * one path scan (`git log`, every path any commit added or changed, merges against each parent)
 * and one object list (`rev-list --objects`) instead of reading every tree of every commit.
 * Returns undefined whenever anything would need the filter (filteredHistory.ts), which then
 * decides path by path.
 *
 * Why the scan sees every path: each path of a commit's tree is either in a parent's tree or
 * shows in the diff against that parent; root commits show all their paths.
 */
export async function historyIfClean(input: CleanHistoryInput): Promise<FilteredHistory | undefined> {
  const { repo, rules, signal } = input;
  // Depth cuts and inherited shallow boundaries are the filter's work: it knows where history stops.
  if (input.depth !== undefined || input.hostShallow.size > 0) return undefined;
  const branches = input.refs.filter((ref) => ref.name.startsWith('refs/heads/') && ref.type === 'commit');
  const tips = [...new Set([...(input.head ? [input.head] : []), ...branches.map((ref) => ref.id)])];
  if (tips.length === 0) return undefined;

  const changed = await repo.git(['log', '--root', '-m', '--no-renames', '--name-only', '--format=', '-z', ...tips, '--'], { signal });
  for (const rel of new Set(changed.stdout.toString('utf8').split('\0'))) {
    if (!rel) continue;
    if (rules.excludesFile(rel) || rules.needsContentCheck(rel)) return undefined;
    for (let cut = rel.indexOf('/'); cut > 0; cut = rel.indexOf('/', cut + 1)) if (rules.excludesDir(rel.slice(0, cut))) return undefined;
  }

  const commitIds = (await repo.git(['rev-list', ...tips], { signal })).stdout.toString('latin1').split('\n').filter(Boolean);
  const inHistory = new Set(commitIds);
  // Tags come along only when they name a commit of this history, directly or through one tag object.
  const tags: Array<{ name: string; id: string }> = [];
  const annotated = input.refs.filter((ref) => ref.name.startsWith('refs/tags/') && ref.type === 'tag');
  const tagBodies = await GitObjectReader.readAll(repo, annotated.map((ref) => ref.id), 'tag', signal);
  for (const ref of input.refs) if (ref.name.startsWith('refs/tags/') && ref.type === 'commit' && inHistory.has(ref.id)) tags.push({ name: ref.name, id: ref.id });
  const tagObjects: string[] = [];
  annotated.forEach((ref, index) => {
    const header = /^object ([0-9a-f]+)\ntype (\w+)\n/.exec(tagBodies[index].toString('latin1'));
    if (header?.[2] !== 'commit' || !inHistory.has(header[1])) return;
    tags.push({ name: ref.name, id: ref.id });
    tagObjects.push(ref.id);
  });

  const objects = new Map<string, string>();
  const listed = await repo.git(['rev-list', '--objects', ...tips], { signal });
  for (const line of listed.stdout.toString('utf8').split('\n')) {
    if (!line) continue;
    const space = line.indexOf(' ');
    objects.set(space < 0 ? line : line.slice(0, space), space < 0 ? '' : line.slice(space + 1));
  }
  for (const id of tagObjects) objects.set(id, '');
  const headTree = input.head ? (await repo.git(['rev-parse', `${input.head}^{tree}`], { signal })).stdout.toString('latin1').trim() : undefined;
  return {
    objects,
    refs: [...branches.map((ref) => ({ name: ref.name, id: ref.id })), ...tags],
    head: input.head,
    headTree,
    shallow: [],
    removed: [],
    commits: commitIds.length,
    rewritten: 0,
  };
}
