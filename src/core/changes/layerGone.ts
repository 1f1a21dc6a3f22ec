import type { BaseSnapshot } from '../snapshot/snapshotManifest.js';
import type { ScannedNode } from './buildChangeSet.js';

/**
 * The base paths a layered scan no longer finds, from the names of the folders it listed. Only
 * those folders can have lost anything: a folder the box never touched is not in the upper folder
 * and is not listed. The host does this from its index, so a diff reads the base's entries for
 * the listed folders only, never all of them.
 *
 * Gone: a base child missing from its listed folder, with everything below it; and what was below
 * a base folder that is now a file or a link (reported among the nodes) and so holds nothing.
 */
export function goneFromListings(base: BaseSnapshot, listed: ReadonlyMap<string, ReadonlySet<string>>, nodes: readonly ScannedNode[]): string[] {
  const kindNow = new Map(nodes.map((node) => [node.path, node.kind]));
  const gone = new Set<string>();
  const below = (folder: string) => {
    for (const child of base.children(folder)) {
      gone.add(child.path);
      if (child.type === 'dir') below(child.path);
    }
  };
  for (const [folder, names] of listed) {
    for (const child of base.children(folder)) {
      const name = child.path.slice(folder ? folder.length + 1 : 0);
      if (!names.has(name)) {
        gone.add(child.path);
        if (child.type === 'dir') below(child.path);
      } else if (child.type === 'dir' && !listed.has(child.path) && kindNow.has(child.path) && kindNow.get(child.path) !== 'dir') {
        below(child.path);
      }
    }
  }
  return [...gone];
}
