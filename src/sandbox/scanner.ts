/**
 * The in-container change scanner, run with `node -e` as the sandbox user. It makes the cost of a
 * diff grow with what changed rather than with the workspace: every entry is lstat'ed (the floor
 * for any exact answer), but only entries that may differ from the base snapshot are reported
 * and hashed, and only the files the host then asks for are read.
 *
 * "May differ": not in the base, a different kind, size, exec bit or link target, or a status
 * change time (ctime) at or after the moment the workspace copy was complete. Every write,
 * rename, chmod or utime sets ctime to "now", and nothing without CAP_SYS_TIME can set it back,
 * so an untouched entry is proven untouched without reading it. Children of a moved folder keep
 * their ctime but not their path, so they are not in the base under their new path and are
 * reported as new. Folders moved onto each other's paths (mv a t; mv b a; mv t b) leave every
 * path as it was in the base with its old ctime, so folders are also checked by identity: the
 * inode each base folder had when the copy was complete (taken by baseline mode at start) must
 * be the one at its path now, or everything under it is reported and hashed.
 *
 * The protocol is in src/core/changes/scannerProtocol.ts.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Dirent, type Stats } from 'node:fs';
import { BASE_RECORD_FIELDS, type FileHeader, type FolderInodeLine, type ReadRequest, type ScanHeader, type ScanKind, type ScannedEntry, type ScanRecord } from '../core/changes/scannerProtocol.js';
import { WORKSPACE_PATH } from '../core/ground/sandboxPaths.js';
import { readStdin } from './stdinReader.js';

const ROOT = process.argv[1] || WORKSPACE_PATH;
/** Names per listing line, in characters: well under the host's line limit. */
const LISTING_CHARS = 16 * 1024;
const stdin = readStdin();

interface BaseEntry {
  k: string;
  m: number;
  s: number;
  t: string;
  seen?: boolean;
}

function write(data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(data)) resolve();
    else process.stdout.once('drain', resolve);
  });
}

const fileHeader = (header: FileHeader) => JSON.stringify(header) + '\n';
const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code || String(error);

function hashFile(file: string): string {
  const hash = createHash('sha256');
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    let count: number;
    while ((count = readSync(fd, buffer, 0, buffer.length, null)) > 0) hash.update(buffer.subarray(0, count));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

const kindOf = (st: Stats): ScanKind => (st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'o');

/** A folder's entries, or undefined when it cannot be read (gone, or not ours to read): the walk skips it. */
function entriesOf(absDir: string): Dirent[] | undefined {
  try {
    return readdirSync(absDir, { withFileTypes: true });
  } catch {
    return undefined;
  }
}

function baseline(): void {
  const out: string[] = [];
  const line = (record: FolderInodeLine) => out.push(JSON.stringify(record));
  const walkDirs = (relDir: string, absDir: string) => {
    const dirents = entriesOf(absDir);
    if (!dirents) return;
    for (const dirent of dirents) {
      if (!dirent.isDirectory()) continue;
      const rel = relDir ? relDir + '/' + dirent.name : dirent.name;
      if (!relDir && dirent.name === '.git') continue;
      const abs = absDir + '/' + dirent.name;
      let st;
      try {
        st = lstatSync(abs, { bigint: true });
      } catch {
        continue;
      }
      line({ b: rel, i: String(st.ino) });
      walkDirs(rel, abs);
    }
  };
  walkDirs('', ROOT);
  line({ done: { entries: out.length } });
  process.stdin.destroy();
  process.stdout.write(out.join('\n') + '\n', () => process.exit(0));
}

async function main(): Promise<void> {
  const first = JSON.parse(await stdin.line()) as ScanHeader;
  if ('baseline' in first && first.baseline) return baseline();
  // A serving scanner answers one scan after another on the same exec, until the host lets go
  // (stdin ends: readStdin exits 0), so a repeat diff does not pay for starting node.
  for (let header = first as ScanRequestHeader; ; header = JSON.parse(await stdin.line()) as ScanRequestHeader) {
    await scan(header);
    if (!header.serve) break;
    await write(fileHeader({ end: true }));
  }
  // Exit only once the last line has reached the pipe: stdout to a pipe is asynchronous, and
  // exiting right after write() can drop it.
  process.stdin.destroy();
  process.stdout.write(fileHeader({ end: true }), () => process.exit(0));
}

type ScanRequestHeader = Exclude<ScanHeader, { baseline: true }>;

async function scan(header: ScanRequestHeader): Promise<void> {
  const fields = (await stdin.bytes(header.baselineBytes)).toString('utf8').split('\0');
  const base = new Map<string, BaseEntry>();
  for (let i = 0; i + BASE_RECORD_FIELDS - 1 < fields.length; i += BASE_RECORD_FIELDS) base.set(fields[i + 4], { k: fields[i], m: Number(fields[i + 1]), s: Number(fields[i + 2]), t: fields[i + 3] });
  const inodes = new Map<string, string>();
  const pairs = header.inodeBytes ? (await stdin.bytes(header.inodeBytes)).toString('utf8').split('\0') : [];
  for (let i = 0; i + 1 < pairs.length; i += 2) inodes.set(pairs[i], pairs[i + 1]);
  const readyAt = header.readyAtMs;
  // Layered: the host sends no baseline. Its folders are the ones whose inode was taken (the
  // mirror keeps that list with the base), and gone paths are the host's to find, from the names
  // of every folder listed here.
  const layered = Boolean(header.layer);
  const baseFolder = (rel: string) => (layered ? inodes.has(rel) : base.get(rel)?.k === 'd');
  const inBase = (rel: string) => (layered ? (rel === '.git' ? Boolean(header.gitInBase) : inodes.has(rel)) : base.has(rel));
  const out: string[] = [];
  const line = (record: ScanRecord) => out.push(JSON.stringify(record));
  const listing = (rel: string, names: string[]) => {
    if (!layered) return;
    let start = 0;
    let chars = 0;
    for (let at = 0; at < names.length; at++) {
      chars += JSON.stringify(names[at]).length + 1;
      if (chars < LISTING_CHARS) continue;
      line({ ls: rel, c: names.slice(start, at + 1) });
      start = at + 1;
      chars = 0;
    }
    // An empty folder is listed too: whatever the base had in it is gone.
    if (start < names.length || names.length === 0) line({ ls: rel, c: names.slice(start) });
  };
  let entries = 0;
  const report = (rel: string, abs: string, st: Stats, kind: ScanKind) => {
    const rec: ScannedEntry = { n: rel, k: kind, m: st.mode & 0o7777, s: st.size };
    if (kind === 'l') rec.t = readlinkSync(abs);
    if (kind === 'f') {
      rec.l = st.nlink;
      if (st.size <= header.maxHashBytes) {
        try {
          rec.h = hashFile(abs);
        } catch (e) {
          rec.e = errorCode(e);
        }
      }
    }
    line(rec);
  };
  const visit = (rel: string, abs: string, st: Stats, moved: boolean) => {
    entries++;
    const kind = kindOf(st);
    if (layered) {
      // Anything written, renamed or chmod'ed since the copy has a new ctime; the host compares.
      if (moved || kind === 'o' || st.ctimeMs >= readyAt || (kind === 'f' && st.mode & 0o7000)) report(rel, abs, st, kind);
      return;
    }
    const was = base.get(rel);
    if (was) was.seen = true;
    if (!was || was.k !== kind || (moved && kind === 'f')) return report(rel, abs, st, kind);
    if (kind === 'l') {
      const target = readlinkSync(abs);
      if (target !== was.t) report(rel, abs, st, kind);
      return;
    }
    if (kind === 'f' && (st.size !== was.s || (st.mode & 0o111 ? 1 : 0) !== (was.m & 0o111 ? 1 : 0) || st.mode & 0o7000 || st.ctimeMs >= readyAt)) report(rel, abs, st, kind);
  };
  // moved: this folder (or one above it) is not the folder the base had at its path.
  const walk = (relDir: string, absDir: string, onlyChanged: boolean, moved = false) => {
    const dirents = entriesOf(absDir);
    if (!dirents) return;
    if (!onlyChanged) listing(relDir, dirents.map((dirent) => dirent.name));
    walkEntries(relDir, absDir, dirents, onlyChanged, moved);
  };
  function walkEntries(relDir: string, absDir: string, dirents: Dirent[], onlyChanged: boolean, moved: boolean): void {
    for (const dirent of dirents) {
      const name = dirent.name;
      const rel = relDir ? relDir + '/' + name : name;
      const abs = absDir + '/' + name;
      if (name.indexOf('\uFFFD') !== -1) {
        line({ u: Buffer.from(rel).toString('base64') });
        continue;
      }
      if (!onlyChanged && dirent.isDirectory()) {
        // A folder that was a folder needs no stat of its own: what matters is what is in it.
        if (baseFolder(rel)) {
          entries++;
          const was = base.get(rel);
          if (was) was.seen = true;
          let swapped = moved;
          const ino = inodes.get(rel);
          if (!swapped && ino !== undefined) {
            try {
              swapped = String(lstatSync(abs, { bigint: true }).ino) !== ino;
            } catch {
              swapped = true;
            }
          }
          walk(rel, abs, false, swapped);
          continue;
        }
      }
      let st;
      try {
        st = lstatSync(abs);
      } catch {
        continue;
      }
      if (onlyChanged) {
        // Inside .git only hooks and config matter to a reviewer; they are shown, never applied.
        if (st.ctimeMs >= readyAt && !st.isDirectory()) {
          entries++;
          report(rel, abs, st, kindOf(st));
        }
        if (st.isDirectory()) walk(rel, abs, true, false);
        continue;
      }
      if (st.isDirectory() && name === '.git' && !inBase(rel)) {
        if (!relDir) {
          try {
            const cst = lstatSync(abs + '/config');
            if (cst.ctimeMs >= readyAt) report('.git/config', abs + '/config', cst, kindOf(cst));
          } catch {
            // no config: nothing to show
          }
          walk('.git/hooks', abs + '/hooks', true);
        }
        continue;
      }
      visit(rel, abs, st, moved);
      if (st.isDirectory()) walk(rel, abs, false, moved);
    }
  }
  // Layered: a path the upper folder lacks is the base's own, untouched (every write, removal,
  // chmod or rename in the box puts the path, and so its folder, into the upper folder). Folders
  // there are listed whole, so what went from them is found; a swapped one is walked whole.
  const guided = (relDir: string, absDir: string, upperDir: string) => {
    const upperNames = entriesOf(upperDir);
    // An upper folder the box made unreadable proves nothing: everything in it is compared.
    if (!upperNames) return walk(relDir, absDir, false, false);
    const inUpper = new Set(upperNames.map((dirent) => dirent.name));
    const dirents = entriesOf(absDir);
    if (!dirents) return;
    listing(relDir, dirents.map((dirent) => dirent.name));
    for (const dirent of dirents) {
      const name = dirent.name;
      const rel = relDir ? relDir + '/' + name : name;
      if (!inUpper.has(name)) continue;
      const abs = absDir + '/' + name;
      if (dirent.isDirectory() && baseFolder(rel) && !(!relDir && name === '.git')) {
        entries++;
        const ino = inodes.get(rel);
        let swapped: boolean;
        try {
          swapped = ino !== undefined && String(lstatSync(abs, { bigint: true }).ino) !== ino;
        } catch {
          swapped = true;
        }
        if (swapped) walk(rel, abs, false, true);
        else guided(rel, abs, upperDir + '/' + name);
        continue;
      }
      walkEntries(relDir, absDir, [dirent], false, false);
    }
  };
  if (header.layer) guided('', ROOT, header.layer);
  else walk('', ROOT, false, false);
  for (const [rel, was] of base) if (!was.seen) line({ g: rel });
  line({ done: { entries } });
  await write(out.join('\n') + '\n');

  const request = JSON.parse(await stdin.line()) as ReadRequest;
  for (const rel of request.read || []) {
    let fd: number | undefined;
    try {
      fd = openSync(ROOT + '/' + rel, constants.O_RDONLY | constants.O_NOFOLLOW);
      const st = fstatSync(fd);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
      await write(fileHeader({ p: rel, s: st.size }));
      let left = st.size;
      const buffer = Buffer.allocUnsafe(1 << 20);
      while (left > 0) {
        let count = 0;
        try {
          count = readSync(fd, buffer, 0, Math.min(buffer.length, left), null);
        } catch {
          count = 0;
        }
        // A file that shrank (or failed) mid-read still delivers exactly the announced size; the host's hash check rejects it.
        if (count === 0) {
          await write(Buffer.alloc(left));
          left = 0;
          break;
        }
        await write(Buffer.from(buffer.subarray(0, count)));
        left -= count;
      }
    } catch (e) {
      await write(fileHeader({ p: rel, e: errorCode(e) }));
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(String((e as Error | undefined)?.stack || e));
  process.exit(3);
});
