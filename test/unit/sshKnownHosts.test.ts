import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { knownHostName, parseKnownHosts, verifyHostKey } from '../../src/core/engine/sshKnownHosts.js';

/** An ed25519 host key blob as ssh2 hands it over (the SSH wire encoding), from a 32-byte seed byte. */
const blob = (fill: number) => Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, fill)]);
const line = (hosts: string, fill: number, marker = '') => `${marker ? marker + ' ' : ''}${hosts} ssh-ed25519 ${blob(fill).toString('base64')}`;
const hashed = (name: string, salt = Buffer.alloc(20, 9)) => `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;

describe('known_hosts for ssh:// engines', () => {
  test('names a host as ssh does: bare on port 22, [host]:port otherwise', () => {
    assert.equal(knownHostName('build.example.test', 22), 'build.example.test');
    assert.equal(knownHostName('127.0.0.1', 2222), '[127.0.0.1]:2222');
  });

  test('accepts the listed key, for plain, comma-listed, wildcard and hashed names', () => {
    const entries = parseKnownHosts([
      '# a comment', '',
      line('alpha.example.test,10.0.0.1', 1),
      line('*.build.example.test', 2),
      line(hashed('[127.0.0.1]:2222'), 3),
    ].join('\n'), 'known_hosts');
    assert.equal(entries.length, 3);
    assert.equal(verifyHostKey(entries, 'alpha.example.test', 22, blob(1)).ok, true);
    assert.equal(verifyHostKey(entries, '10.0.0.1', 22, blob(1)).ok, true);
    assert.equal(verifyHostKey(entries, 'one.build.example.test', 22, blob(2)).ok, true);
    assert.equal(verifyHostKey(entries, '127.0.0.1', 2222, blob(3)).ok, true);
  });

  test('a host it lists with another key is a mismatch, naming the line; one it does not list is unknown', () => {
    const entries = parseKnownHosts(`${line('alpha.example.test', 1)}\n${line('[127.0.0.1]:2222', 3)}\n`, '/home/u/.ssh/known_hosts');
    assert.deepEqual(verifyHostKey(entries, 'alpha.example.test', 22, blob(9)), { ok: false, reason: 'mismatch', entry: entries[0] });
    assert.equal(entries[0].line, 1);
    assert.deepEqual(verifyHostKey(entries, 'beta.example.test', 22, blob(1)), { ok: false, reason: 'unknown' });
    // The same address on another port is another host to ssh.
    assert.deepEqual(verifyHostKey(entries, '127.0.0.1', 22, blob(3)), { ok: false, reason: 'unknown' });
  });

  test('a negated pattern rules a name out; a revoked key is refused wherever it is listed', () => {
    const entries = parseKnownHosts(`${line('*.example.test,!evil.example.test', 1)}\n${line('*', 5, '@revoked')}\n${line('gamma.example.test', 5)}\n`, 'known_hosts');
    assert.equal(verifyHostKey(entries, 'good.example.test', 22, blob(1)).ok, true);
    assert.equal(verifyHostKey(entries, 'evil.example.test', 22, blob(1)).ok, false);
    assert.equal((verifyHostKey(entries, 'gamma.example.test', 22, blob(5)) as { reason: string }).reason, 'revoked');
  });

  test('lines it cannot read are skipped, never trusted; @cert-authority lines are not host keys', () => {
    const entries = parseKnownHosts(`alpha.example.test ssh-ed25519 not*base64\nalpha.example.test\n${line('alpha.example.test', 4, '@cert-authority')}\n`, 'known_hosts');
    assert.equal(entries.length, 1);
    assert.equal(verifyHostKey(entries, 'alpha.example.test', 22, blob(4)).ok, false);
  });
});
