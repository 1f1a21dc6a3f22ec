import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * OpenSSH's known_hosts, read so that an engine reached over ssh:// is the machine the user
 * already trusts. ssh2 (under dockerode) accepts any host key unless told otherwise, and whoever
 * answers as the engine host gets the engine API: root on that machine's containers and every
 * workspace copy sent there. The docker CLI gets this check from the ssh binary; we give the same.
 */

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  patterns: string[];
  keyType: string;
  key: Buffer;
  file: string;
  line: number;
}

export type HostKeyVerdict =
  | { ok: true; entry: KnownHostEntry }
  | { ok: false; reason: 'unknown' | 'mismatch' | 'revoked'; entry?: KnownHostEntry };

/** The files ssh reads by default, the user's first. */
export function knownHostsFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || os.homedir();
  return [path.join(home, '.ssh', 'known_hosts'), path.join(home, '.ssh', 'known_hosts2'), '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];
}

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) return;
    const marker = fields[0] === '@revoked' || fields[0] === '@cert-authority' ? (fields.shift() as KnownHostEntry['marker']) : undefined;
    const [hosts, keyType, encoded] = fields;
    if (!hosts || !keyType || !encoded || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return;
    entries.push({ marker, patterns: hosts.split(','), keyType, key: Buffer.from(encoded, 'base64'), file, line: index + 1 });
  });
  return entries;
}

export function readKnownHosts(files: string[]): KnownHostEntry[] {
  return files.flatMap((file) => {
    try {
      return parseKnownHosts(fs.readFileSync(file, 'utf8'), file);
    } catch {
      return [];
    }
  });
}

/** How known_hosts names a host: bare on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatches(pattern: string, name: string): boolean {
  const expression = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${expression}$`, 'i').test(name);
}

function hashedMatches(pattern: string, name: string): boolean {
  const [, kind, salt, hash] = pattern.split('|');
  if (kind !== '1' || !salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

/** ssh's pattern-list rule: a match of a negated pattern rules the name out whatever else matches. */
function hostMatches(patterns: string[], name: string): boolean {
  let matched = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('|')) matched ||= hashedMatches(pattern, name);
    else if (pattern.startsWith('!')) {
      if (globMatches(pattern.slice(1), name)) return false;
    } else matched ||= globMatches(pattern, name);
  }
  return matched;
}

/** Checks a host key blob (the SSH wire encoding, as ssh2 hands it over) against the entries. */
export function verifyHostKey(entries: KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostName(host, port);
  const forHost = entries.filter((entry) => entry.marker === undefined && hostMatches(entry.patterns, name));
  // Stricter than ssh, which revokes a key only for the hosts its line names: a key someone revoked
  // anywhere is not one to hand an engine API to.
  const revoked = entries.find((entry) => entry.marker === '@revoked' && entry.key.equals(key));
  if (revoked) return { ok: false, reason: 'revoked', entry: revoked };
  const same = forHost.find((entry) => entry.key.equals(key));
  if (same) return { ok: true, entry: same };
  if (forHost.length > 0) return { ok: false, reason: 'mismatch', entry: forHost[0] };
  return { ok: false, reason: 'unknown' };
}
