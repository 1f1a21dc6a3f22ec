import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, embeddedIPv4, parseAddress, parseCidr, specialAddressReason, type Address } from '../../src/core/egress/addressPolicy.js';
import { formatTarget, normalizeHost, parseAuthority, parsePort, printableHost, TargetError } from '../../src/core/egress/hostTarget.js';

const address = (text: string): Address => {
  const parsed = parseAddress(text);
  assert.ok(parsed, `${text} should parse as an address`);
  return parsed;
};
const cidr = (text: string) => {
  const parsed = parseCidr(text);
  assert.ok(parsed, `${text} should parse as a CIDR`);
  return parsed;
};

describe('normalizeHost: names', () => {
  const cases: Array<[string, string]> = [
    ['Example.TEST', 'example.test'],
    ['API.Example.Test', 'api.example.test'],
    ['example.test.', 'example.test'],
    ['bücher.test', 'xn--bcher-kva.test'],
    ['BÜCHER.test', 'xn--bcher-kva.test'],
    ['xn--bcher-kva.test', 'xn--bcher-kva.test'],
    // Full-width letters fold to ASCII, as in a browser.
    ['ＥＸＡＭＰＬＥ.test', 'example.test'],
    ['under_score.test', 'under_score.test'],
    ['localhost', 'localhost'],
  ];
  for (const [raw, host] of cases) {
    test(`${JSON.stringify(raw)} → ${host}`, () => {
      assert.deepEqual(normalizeHost(raw), { host, kind: 'name' });
    });
  }

  test('only one trailing dot is removed', () => {
    assert.throws(() => normalizeHost('example.test..'), TargetError);
  });

  test('labels may not start or end with a hyphen, be empty, or exceed 63 characters', () => {
    for (const raw of ['-a.test', 'a-.test', 'a..b', '.', `${'x'.repeat(64)}.test`]) {
      assert.throws(() => normalizeHost(raw), TargetError, raw);
    }
    assert.deepEqual(normalizeHost(`${'x'.repeat(63)}.test`), { host: `${'x'.repeat(63)}.test`, kind: 'name' });
  });

  test('a host over 300 characters is refused before parsing', () => {
    assert.throws(() => normalizeHost('a.'.repeat(151)), /empty or too long/);
  });
});

describe('normalizeHost: IPv4 spellings become one canonical address', () => {
  for (const raw of ['127.0.0.1', '127.1', '0x7f.1', '2130706433', '017700000001', '0x7f000001', '127.0.0.1.', '0177.0.0.1', '0x7F.0.0.1']) {
    test(`${raw} → 127.0.0.1`, () => {
      assert.deepEqual(normalizeHost(raw), { host: '127.0.0.1', kind: 'ipv4' });
    });
  }

  test('other short forms expand like a URL parser expands them', () => {
    assert.deepEqual(normalizeHost('10.1'), { host: '10.0.0.1', kind: 'ipv4' });
    assert.deepEqual(normalizeHost('169.254.43518'), { host: '169.254.169.254', kind: 'ipv4' });
    assert.deepEqual(normalizeHost('0'), { host: '0.0.0.0', kind: 'ipv4' });
  });

  test('out-of-range and over-long dotted forms are refused', () => {
    for (const raw of ['1.2.3.4.5', '256.1.1.1', '999999999999', '08.1.1.1']) {
      assert.throws(() => normalizeHost(raw), TargetError, raw);
    }
  });
});

describe('normalizeHost: IPv6', () => {
  test('bracketed and bare forms give the same canonical text', () => {
    assert.deepEqual(normalizeHost('[::ffff:7f00:1]'), { host: '::ffff:7f00:1', kind: 'ipv6' });
    assert.deepEqual(normalizeHost('::ffff:127.0.0.1'), { host: '::ffff:7f00:1', kind: 'ipv6' });
    assert.deepEqual(normalizeHost('[::1]'), { host: '::1', kind: 'ipv6' });
    assert.deepEqual(normalizeHost('0:0:0:0:0:0:0:1'), { host: '::1', kind: 'ipv6' });
    assert.deepEqual(normalizeHost('[2606:4700:0:0:0:0:0:1111]'), { host: '2606:4700::1111', kind: 'ipv6' });
    assert.deepEqual(normalizeHost('FE80::ABCD'), { host: 'fe80::abcd', kind: 'ipv6' });
  });

  test('IPv4-compatible text keeps its meaning (ipaddr.js alone would read it as IPv4-mapped)', () => {
    assert.deepEqual(normalizeHost('::127.0.0.1'), { host: '::7f00:1', kind: 'ipv6' });
    assert.deepEqual(normalizeHost('[::127.0.0.1]'), { host: '::7f00:1', kind: 'ipv6' });
    assert.deepEqual(normalizeHost('::0.0.0.1'), { host: '::1', kind: 'ipv6' });
  });

  test('invalid IPv6 text is refused', () => {
    for (const raw of ['::g', '1:2:3:4:5:6:7:8:9', '[1::2::3]', 'fe80::1%eth0', '[fe80::1%25eth0]', '1:2', '[]', '[:]']) {
      assert.throws(() => normalizeHost(raw), TargetError, raw);
    }
  });

  test('unbalanced or doubled brackets are refused', () => {
    for (const raw of ['[::1', '::1]', '[[::1]]', '[::1]]']) {
      assert.throws(() => normalizeHost(raw), TargetError, raw);
    }
    assert.throws(() => parseAuthority('[[::1]]:443'), TargetError);
  });
});

describe('normalizeHost: characters that change what a URL parser sees are refused', () => {
  const refused: Array<[string, string]> = [
    ['NUL', 'a\u0000b.test'],
    ['tab', 'a\tb.test'],
    ['CR', 'a\rb.test'],
    ['LF', 'a\nb.test'],
    ['ESC', 'a\u001bb.test'],
    ['DEL', 'a\u007fb.test'],
    ['space', 'a b.test'],
    ['userinfo', 'user@host.test'],
    ['slash', 'host.test/path'],
    ['backslash', 'host.test\\path'],
    ['question mark', 'host.test?x'],
    ['hash', 'host.test#x'],
    ['percent', 'host%2etest'],
    ['empty', ''],
  ];
  for (const [name, raw] of refused) {
    test(name, () => {
      assert.throws(() => normalizeHost(raw), TargetError);
    });
  }

  test('the message shows control characters escaped', () => {
    assert.throws(() => normalizeHost('a\u0000b'), (error: Error) => error instanceof TargetError && error.message.includes('a\\u0000b') && !error.message.includes('\u0000'));
  });
});

describe('parsePort', () => {
  test('accepts 1 to 65535', () => {
    assert.equal(parsePort('1'), 1);
    assert.equal(parsePort('443'), 443);
    assert.equal(parsePort('65535'), 65535);
  });

  test('refuses 0, 65536, non-digits, signs, empty and more than five digits', () => {
    for (const text of ['0', '65536', '99999', 'abc', '', '+80', '-1', '8 0', '000443', '80.0']) {
      assert.throws(() => parsePort(text), TargetError, text);
    }
  });
});

describe('parseAuthority', () => {
  test('host:port, normalised', () => {
    assert.deepEqual(parseAuthority('API.Example.TEST.:443'), { host: 'api.example.test', kind: 'name', port: 443 });
    assert.deepEqual(parseAuthority('0x7f.1:8080'), { host: '127.0.0.1', kind: 'ipv4', port: 8080 });
  });

  test('[v6]:port', () => {
    assert.deepEqual(parseAuthority('[::1]:443'), { host: '::1', kind: 'ipv6', port: 443 });
    assert.deepEqual(parseAuthority('[::FFFF:127.0.0.1]:80'), { host: '::ffff:7f00:1', kind: 'ipv6', port: 80 });
  });

  test('the default port applies only when none is given', () => {
    assert.deepEqual(parseAuthority('api.example.test', 80), { host: 'api.example.test', kind: 'name', port: 80 });
    assert.deepEqual(parseAuthority('[::1]', 80), { host: '::1', kind: 'ipv6', port: 80 });
    assert.deepEqual(parseAuthority('api.example.test:8080', 80), { host: 'api.example.test', kind: 'name', port: 8080 });
  });

  test('bad ports are refused', () => {
    for (const text of ['a.test:0', 'a.test:65536', 'a.test:abc', 'a.test:', '[::1]:', '[::1]:0']) {
      assert.throws(() => parseAuthority(text), TargetError, text);
      assert.throws(() => parseAuthority(text, 80), TargetError, text);
    }
  });

  test('a missing port without a default is refused', () => {
    assert.throws(() => parseAuthority('a.test'), /needs a port/);
    assert.throws(() => parseAuthority('[::1]'), /needs a port/);
  });

  test('an unbracketed IPv6 address is refused', () => {
    assert.throws(() => parseAuthority('::1:443'), /must be in \[brackets\]/);
    assert.throws(() => parseAuthority('::1', 80), /must be in \[brackets\]/);
    assert.throws(() => parseAuthority('fe80::1:80'), TargetError);
  });

  test('text after the bracketed address or an unclosed bracket is refused', () => {
    assert.throws(() => parseAuthority('[::1]x'), /text after the IPv6 address/);
    assert.throws(() => parseAuthority('[::1'), /unclosed/);
  });

  test('userinfo in the authority is refused', () => {
    assert.throws(() => parseAuthority('user@a.test:443'), TargetError);
    assert.throws(() => parseAuthority('user:pw@a.test:443'), TargetError);
  });
});

describe('formatTarget and printableHost', () => {
  test('IPv6 targets are bracketed', () => {
    assert.equal(formatTarget({ host: '::1', port: 443, kind: 'ipv6' }), '[::1]:443');
    assert.equal(formatTarget({ host: '127.0.0.1', port: 80, kind: 'ipv4' }), '127.0.0.1:80');
    assert.equal(formatTarget({ host: 'a.test', port: 8080, kind: 'name' }), 'a.test:8080');
  });

  test('printableHost escapes controls and bidi overrides and bounds the length', () => {
    assert.equal(printableHost('a\u0000b\u001b\u202ec'), 'a\\u0000b\\u001b\\u202ec');
    const long = printableHost('x'.repeat(500));
    assert.equal(long, `${'x'.repeat(120)}…`);
  });
});

describe('specialAddressReason', () => {
  const special: Array<[string, RegExp]> = [
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['::1', /loopback/],
    ['10.0.0.1', /RFC 1918/],
    ['10.255.255.255', /RFC 1918/],
    ['172.16.0.1', /RFC 1918/],
    ['172.31.255.255', /RFC 1918/],
    ['192.168.1.1', /RFC 1918/],
    ['fc00::1', /fc00::\/7/],
    ['fd12:3456::1', /fc00::\/7/],
    ['169.254.1.1', /link-local/],
    ['fe80::1', /link-local/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.255', /carrier-grade NAT/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['169.254.169.254', /metadata/],
    ['fd00:ec2::254', /metadata/],
    ['100.100.100.200', /metadata/],
    ['168.63.129.16', /metadata/],
    ['192.0.0.192', /metadata/],
    // IPv6 forms that carry an IPv4 address are judged by that address.
    ['::ffff:127.0.0.1', /IPv6 form of 127\.0\.0\.1 \(a loopback address\)/],
    ['::ffff:7f00:1', /IPv6 form of 127\.0\.0\.1 \(a loopback address\)/],
    ['::ffff:169.254.169.254', /IPv6 form of 169\.254\.169\.254 \(a cloud metadata address\)/],
    ['::ffff:10.1.2.3', /IPv6 form of 10\.1\.2\.3 \(a private/],
    // The IPv4-compatible form, dotted and in hex.
    ['::127.0.0.1', /IPv6 form of 127\.0\.0\.1 \(a loopback address\)/],
    ['::7f00:1', /IPv6 form of 127\.0\.0\.1 \(a loopback address\)/],
    ['::a9fe:a9fe', /IPv6 form of 169\.254\.169\.254 \(a cloud metadata address\)/],
    ['::ffff:0:7f00:1', /IPv6 form of 127\.0\.0\.1/],
    ['64:ff9b::7f00:1', /IPv6 form of 127\.0\.0\.1 \(a loopback address\)/],
    ['64:ff9b::a9fe:a9fe', /IPv6 form of 169\.254\.169\.254 \(a cloud metadata address\)/],
    ['64:ff9b:1::a00:1', /IPv6 form of 10\.0\.0\.1 \(a private/],
    ['2002:7f00:1::', /IPv6 form of 127\.0\.0\.1 \(a loopback address\)/],
    ['2002:a9fe:a9fe::', /IPv6 form of 169\.254\.169\.254 \(a cloud metadata address\)/],
    ['2002:c0a8:101::1', /IPv6 form of 192\.168\.1\.1/],
  ];
  for (const [text, reason] of special) {
    test(`${text} is refused`, () => {
      const found = specialAddressReason(address(text));
      assert.ok(found, `${text} should be special`);
      assert.match(found, reason);
    });
  }

  // Parsed values only: nothing here connects anywhere.
  for (const text of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::']) {
    test(`${text} is public unicast`, () => {
      assert.equal(specialAddressReason(address(text)), undefined);
    });
  }
});

describe('embeddedIPv4', () => {
  const embedded: Array<[string, string | undefined]> = [
    ['::ffff:7f00:1', '127.0.0.1'],
    ['::7f00:1', '127.0.0.1'],
    ['64:ff9b::a9fe:a9fe', '169.254.169.254'],
    ['64:ff9b:1::a00:1', '10.0.0.1'],
    ['2002:a9fe:a9fe::', '169.254.169.254'],
    ['::1', undefined],
    ['::', undefined],
    ['2606:4700::1111', undefined],
  ];
  for (const [text, inner] of embedded) {
    test(`${text} → ${inner ?? 'none'}`, () => {
      const found = embeddedIPv4(address(text) as Parameters<typeof embeddedIPv4>[0]);
      assert.equal(found?.toString(), inner);
    });
  }
});

describe('parseCidr and cidrContains', () => {
  test('parseCidr canonicalises and treats a bare address as a host range', () => {
    assert.equal(cidr('10.0.0.0/8').text, '10.0.0.0/8');
    assert.equal(cidr('127.0.0.1').text, '127.0.0.1/32');
    assert.equal(cidr('::1').text, '::1/128');
    assert.equal(cidr('FD00:0::/8').text, 'fd00::/8');
    assert.equal(cidr('[::1]').text, '::1/128');
    assert.equal(cidr('::127.0.0.1').text, '::7f00:1/128');
    for (const bad of ['nope', '10.0.0.0/33', '::/129', '10.0.0.0/', '/8', '', '10.0.0.0/ 8', 'example.test/8']) assert.equal(parseCidr(bad), undefined, bad);
  });

  test('parseCidr refuses text after the prefix length', () => {
    for (const bad of ['10.0.0.0/8/8', '10.0.0.0/8/garbage', '1.2.3.4/32/0']) assert.equal(parseCidr(bad)?.text, undefined, bad);
  });

  test('parseAddress reads IPv6 text as a URL parser does', () => {
    assert.equal(address('::127.0.0.1').toString(), '::7f00:1');
    assert.equal(address('::ffff:127.0.0.1').toString(), '::ffff:7f00:1');
    assert.equal(address('[::1]').toString(), '::1');
    assert.equal(parseAddress('not an address'), undefined);
  });

  test('an IPv4 CIDR matches the IPv4-mapped IPv6 form, for allow and deny', () => {
    for (const purpose of ['allow', 'deny'] as const) {
      assert.equal(cidrContains(cidr('127.0.0.0/8'), address('::ffff:127.0.0.1'), purpose), true, purpose);
      assert.equal(cidrContains(cidr('10.0.0.0/8'), address('::ffff:10.1.2.3'), purpose), true, purpose);
      assert.equal(cidrContains(cidr('10.0.0.0/8'), address('::ffff:11.1.2.3'), purpose), false, purpose);
    }
  });

  test('NAT64, 6to4 and IPv4-compatible forms count for a deny CIDR only', () => {
    const forms: Array<[string, string]> = [
      ['10.0.0.0/8', '64:ff9b::a00:1'],
      ['10.0.0.0/8', '64:ff9b:1::a00:1'],
      ['169.254.169.254/32', '2002:a9fe:a9fe::'],
      ['127.0.0.0/8', '::127.0.0.1'],
      ['127.0.0.0/8', '::7f00:1'],
    ];
    for (const [range, text] of forms) {
      assert.equal(cidrContains(cidr(range), address(text), 'deny'), true, `deny ${range} ∋ ${text}`);
      assert.equal(cidrContains(cidr(range), address(text), 'allow'), false, `allow ${range} ∌ ${text}`);
    }
  });

  test('plain containment and family mismatch', () => {
    for (const purpose of ['allow', 'deny'] as const) {
      assert.equal(cidrContains(cidr('192.168.0.0/16'), address('192.168.44.1'), purpose), true);
      assert.equal(cidrContains(cidr('192.168.0.0/16'), address('192.169.0.1'), purpose), false);
      assert.equal(cidrContains(cidr('fd00::/8'), address('fd12::1'), purpose), true);
      assert.equal(cidrContains(cidr('127.0.0.0/8'), address('::1'), purpose), false);
      assert.equal(cidrContains(cidr('::1/128'), address('127.0.0.1'), purpose), false);
      assert.equal(cidrContains(cidr('::ffff:0:0/96'), address('127.0.0.1'), purpose), false);
    }
  });
});
