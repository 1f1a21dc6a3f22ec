/**
 * The change scanner's protocol, over one engine exec's stdin/stdout, between the host
 * (workspaceScanner.ts) and the scanner in the task (src/sandbox/scanner.ts). No imports: the
 * scanner is bundled from it and runs on whatever node the image ships.
 *
 * Baseline mode (captureFolderInodes, right after the copy):
 *   host → {baseline: true}
 *   scanner → one FolderInodeLine {b: path, i: inode} per folder (not under the root's .git), then {done}
 * Scan mode:
 *   host → one ScanHeader line, then baselineBytes of NUL-separated records kind, mode, size,
 *          target, path (kind f|d|l, target empty unless a symlink), then inodeBytes of
 *          NUL-separated folder path, inode pairs (both lists end with a NUL)
 *   scanner → ScanRecord lines: may-differ entries, base paths gone, names that are not UTF-8, {done}
 *   Layered (header.layer): baselineBytes is 0. The scanner reports every entry with a ctime at or
 *   after readyAtMs (or under a swapped folder) and, for each folder it lists, that folder's names
 *   ({ls, c}, split over several lines for a large folder); the host finds what is gone from those.
 *   host → one ReadRequest line (may be empty)
 *   scanner → per path: FileHeader {p, s} then exactly s bytes, or {p, e: reason}; then {end: true}
 *   With serve: true, the scanner then waits for the next scan's header; the host ends it by
 *   closing stdin (or by going away).
 * Half-closing stdin is not relied on (gVisor does not always pass it on).
 * The scanner walks /workspace, or the folder named by its only argument (tests pass a temp folder).
 */

/** Fields per base record: kind, mode, size, target, path. */
export const BASE_RECORD_FIELDS = 5;

/** f file, d folder, l symlink, o anything else (the base has no `o`). */
export type ScanKind = 'f' | 'd' | 'l' | 'o';

export type ScanHeader =
  | { baseline: true }
  | {
      /** Engine-clock ms by which the copy was complete: an entry with an older ctime is untouched. 0 trusts no ctime. */
      readyAtMs: number;
      /** Files larger than this are reported without a hash. */
      maxHashBytes: number;
      baselineBytes: number;
      inodeBytes: number;
      /**
       * A layered workspace's upper folder, as the box sees it: only paths there (and the folders
       * holding them) can differ from the base, so the walk follows it instead of the whole tree.
       */
      layer?: string;
      /** Layered only: the base has a .git folder at the root (the inode list leaves it out). */
      gitInBase?: boolean;
      /** After {end: true}, wait for the next ScanHeader on the same exec instead of exiting. */
      serve?: boolean;
    };

export interface ScanDone {
  done: { entries: number };
}

/** Inodes are decimal strings: they may be past 2^53. */
export type FolderInodeLine = { b: string; i: string } | ScanDone;

/** An entry that may differ from the base: mode is permission bits only; h is the SHA-256 (hex), t a link target, l the link count, e why there is no hash. */
export interface ScannedEntry {
  n: string;
  k: ScanKind;
  m: number;
  s: number;
  h?: string;
  t?: string;
  l?: number;
  e?: string;
}

/** g: a base path that is gone; u: a name that is not UTF-8, its bytes in base64; ls: names a listed folder ('' the root) holds. */
export type ScanRecord = ScannedEntry | { g: string } | { u: string } | { ls: string; c: string[] } | ScanDone;

export interface ReadRequest {
  read: string[];
}

export type FileHeader = { p: string; s: number } | { p: string; e: string } | { end: true };
