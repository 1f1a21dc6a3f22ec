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
 * inode each base folder had when the copy was complete (taken by `baseline` mode at start) must
 * be the one at its path now, or everything under it is reported and hashed.
 *
 * Baseline mode (host sends {baseline: true}): one line {b: path, i: inode} per folder, then {done}.
 *
 * Protocol over stdin/stdout (the exec's streams):
 *   host → one JSON line {readyAtMs, maxHashBytes, baselineBytes, inodeBytes}, then baselineBytes of
 *          NUL-separated records kind, mode, size, target, path (kind f|d|l), then inodeBytes
 *          of NUL-separated folder path, inode pairs
 *   scanner → JSON lines: {n: path, k: f|d|l|o, m, s, h?, t?, l?} may-differ entries,
 *          {g: path} base paths gone, {u: base64} names that are not UTF-8, {done: {entries}}
 *   host → one JSON line {read: [paths]} (may be empty)
 *   scanner → per path: JSON line {p, s} then exactly s bytes, or {p, e: reason}; then {end: true}
 * Half-closing stdin is not relied on (gVisor does not always pass it on).
 *
 * Plain ES2018 CommonJS on purpose: it runs on whatever node the image ships (Debian's is 18).
 */
export const SCANNER_SOURCE = String.raw`
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const ROOT = '/workspace';
let input = Buffer.alloc(0);
let wake = null;
process.stdin.on('data', (chunk) => { input = Buffer.concat([input, chunk]); if (wake) { const w = wake; wake = null; w(); } });
let ended = false;
process.stdin.on('end', () => { ended = true; if (wake) { const w = wake; wake = null; w(); } });
// The host went away: nothing left to answer.
const more = () => ended ? process.exit(0) : new Promise((resolve) => { wake = resolve; });
async function readLine() {
  for (;;) {
    const at = input.indexOf(10);
    if (at >= 0) { const line = input.subarray(0, at).toString('utf8'); input = input.subarray(at + 1); return line; }
    await more();
  }
}
async function readBytes(count) {
  while (input.length < count) await more();
  const out = input.subarray(0, count); input = input.subarray(count); return out;
}
function write(data) {
  return new Promise((resolve) => { if (process.stdout.write(data)) resolve(); else process.stdout.once('drain', resolve); });
}
function hashFile(file) {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    let count;
    while ((count = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0) hash.update(buffer.subarray(0, count));
  } finally { fs.closeSync(fd); }
  return hash.digest('hex');
}
const kindOf = (st) => st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'o';

function baseline() {
  const out = [];
  const walkDirs = (relDir, absDir) => {
    let dirents;
    try { dirents = fs.readdirSync(absDir, { withFileTypes: true }); } catch (e) { return; }
    for (const dirent of dirents) {
      if (!dirent.isDirectory()) continue;
      const rel = relDir ? relDir + '/' + dirent.name : dirent.name;
      if (!relDir && dirent.name === '.git') continue;
      const abs = absDir + '/' + dirent.name;
      let st;
      try { st = fs.lstatSync(abs, { bigint: true }); } catch (e) { continue; }
      out.push(JSON.stringify({ b: rel, i: String(st.ino) }));
      walkDirs(rel, abs);
    }
  };
  walkDirs('', ROOT);
  out.push(JSON.stringify({ done: { entries: out.length } }));
  process.stdin.destroy();
  process.stdout.write(out.join('\n') + '\n', () => process.exit(0));
}

async function main() {
  const header = JSON.parse(await readLine());
  if (header.baseline) return baseline();
  const fields = (await readBytes(header.baselineBytes)).toString('utf8').split('\0');
  const base = new Map();
  for (let i = 0; i + 4 < fields.length; i += 5) base.set(fields[i + 4], { k: fields[i], m: Number(fields[i + 1]), s: Number(fields[i + 2]), t: fields[i + 3] });
  const inodes = new Map();
  const pairs = header.inodeBytes ? (await readBytes(header.inodeBytes)).toString('utf8').split('\0') : [];
  for (let i = 0; i + 1 < pairs.length; i += 2) inodes.set(pairs[i], pairs[i + 1]);
  const readyAt = header.readyAtMs;
  const out = [];
  let entries = 0;
  const report = (rel, abs, st, kind) => {
    const rec = { n: rel, k: kind, m: st.mode & 0o7777, s: st.size };
    if (kind === 'l') rec.t = fs.readlinkSync(abs);
    if (kind === 'f') {
      rec.l = st.nlink;
      if (st.size <= header.maxHashBytes) { try { rec.h = hashFile(abs); } catch (e) { rec.e = e.code || String(e); } }
    }
    out.push(JSON.stringify(rec));
  };
  const visit = (rel, abs, st, moved) => {
    entries++;
    const kind = kindOf(st);
    const was = base.get(rel);
    if (was) was.seen = true;
    if (!was || was.k !== kind || (moved && kind === 'f')) return report(rel, abs, st, kind);
    if (kind === 'l') { const target = fs.readlinkSync(abs); if (target !== was.t) report(rel, abs, st, kind); return; }
    if (kind === 'f' && (st.size !== was.s || (st.mode & 0o111 ? 1 : 0) !== (was.m & 0o111 ? 1 : 0) || (st.mode & 0o7000) || st.ctimeMs >= readyAt)) report(rel, abs, st, kind);
  };
  // moved: this folder (or one above it) is not the folder the base had at its path.
  const walk = (relDir, absDir, onlyChanged, moved) => {
    let dirents;
    try { dirents = fs.readdirSync(absDir, { withFileTypes: true }); } catch (e) { return; }
    for (const dirent of dirents) {
      const name = dirent.name;
      const rel = relDir ? relDir + '/' + name : name;
      const abs = absDir + '/' + name;
      if (name.indexOf('\uFFFD') !== -1) { out.push(JSON.stringify({ u: Buffer.from(rel).toString('base64') })); continue; }
      if (!onlyChanged && dirent.isDirectory()) {
        // A folder that was a folder needs no stat of its own: what matters is what is in it.
        const was = base.get(rel);
        if (was && was.k === 'd') {
          entries++; was.seen = true;
          let swapped = moved;
          const ino = inodes.get(rel);
          if (!swapped && ino !== undefined) { try { swapped = String(fs.lstatSync(abs, { bigint: true }).ino) !== ino; } catch (e) { swapped = true; } }
          walk(rel, abs, false, swapped);
          continue;
        }
      }
      let st;
      try { st = fs.lstatSync(abs); } catch (e) { continue; }
      if (onlyChanged) {
        // Inside .git only hooks and config matter to a reviewer; they are shown, never applied.
        if (st.ctimeMs >= readyAt && !st.isDirectory()) { entries++; report(rel, abs, st, kindOf(st)); }
        if (st.isDirectory()) walk(rel, abs, true, false);
        continue;
      }
      if (st.isDirectory() && name === '.git' && !base.has(rel)) {
        if (!relDir) {
          try { const cst = fs.lstatSync(abs + '/config'); if (cst.ctimeMs >= readyAt) report('.git/config', abs + '/config', cst, kindOf(cst)); } catch (e) {}
          walk('.git/hooks', abs + '/hooks', true);
        }
        continue;
      }
      visit(rel, abs, st, moved);
      if (st.isDirectory()) walk(rel, abs, false, moved);
    }
  };
  walk('', ROOT, false, false);
  for (const [rel, was] of base) if (!was.seen) out.push(JSON.stringify({ g: rel }));
  out.push(JSON.stringify({ done: { entries } }));
  await write(out.join('\n') + '\n');

  const request = JSON.parse(await readLine());
  for (const rel of request.read || []) {
    let fd;
    try {
      fd = fs.openSync(ROOT + '/' + rel, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
      await write(JSON.stringify({ p: rel, s: st.size }) + '\n');
      let left = st.size;
      const buffer = Buffer.allocUnsafe(1 << 20);
      while (left > 0) {
        let count = 0;
        try { count = fs.readSync(fd, buffer, 0, Math.min(buffer.length, left), null); } catch (e) { count = 0; }
        // A file that shrank (or failed) mid-read still delivers exactly the announced size; the host's hash check rejects it.
        if (count === 0) { await write(Buffer.alloc(left)); left = 0; break; }
        await write(Buffer.from(buffer.subarray(0, count)));
        left -= count;
      }
    } catch (e) {
      await write(JSON.stringify({ p: rel, e: e.code || String(e) }) + '\n');
    } finally { if (fd !== undefined) fs.closeSync(fd); }
  }
  // Exit only once the last line has reached the pipe: stdout to a pipe is asynchronous, and
  // exiting right after write() can drop it.
  process.stdin.destroy();
  process.stdout.write(JSON.stringify({ end: true }) + '\n', () => process.exit(0));
}
main().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(3); });
`;
