import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAddresses, compileRules, decideName, hostRuleMatches, parseHostRule, phaseRulesSchema, type CompiledRules, type PhaseRulesInput } from '../../src/core/egress/egressRules.js';
import { EGRESS_PROXY_PORT, egressLimitsSchema, egressSettingsSchema, proxyEnv } from '../../src/core/egress/egressSettings.js';
import { parseAuthority, TargetError } from '../../src/core/egress/hostTarget.js';

const rules = (input: PhaseRulesInput): CompiledRules => compileRules(phaseRulesSchema.parse(input));
const target = (authority: string) => parseAuthority(authority);

describe('parseHostRule', () => {
  const canonical: Array<[string, string]> = [
    ['Example.TEST.:443', 'example.test:443'],
    ['example.test', 'example.test'],
    ['  example.test  ', 'example.test'],
    ['*.Example.test', '*.example.test'],
    ['*.example.test:8443', '*.example.test:8443'],
    ['*.example.test.', '*.example.test'],
    ['bücher.test', 'xn--bcher-kva.test'],
    ['127.1', '127.0.0.1'],
    ['0x7f.1:80', '127.0.0.1:80'],
    ['::1', '[::1]'],
    ['[::1]', '[::1]'],
    ['[0:0::1]:443', '[::1]:443'],
  ];
  for (const [text, expected] of canonical) {
    test(`${JSON.stringify(text)} → ${expected}`, () => {
      assert.equal(parseHostRule(text).text, expected);
    });
  }

  test('fields of a wildcard rule with a port', () => {
    assert.deepEqual(parseHostRule('*.Example.TEST:443'), { text: '*.example.test:443', host: 'example.test', wildcard: true, kind: 'name', port: 443 });
  });

  test('fields of an IPv6 rule', () => {
    assert.deepEqual(parseHostRule('[::ffff:127.0.0.1]:80'), { text: '[::ffff:7f00:1]:80', host: '::ffff:7f00:1', wildcard: false, kind: 'ipv6', port: 80 });
  });

  const refused: Array<[string, RegExp]> = [
    ['*', /wildcard is only allowed as a leading/],
    ['*.test', /whole top-level domain/],
    ['*.TEST.', /whole top-level domain/],
    ['a.*.test', /wildcard is only allowed as a leading/],
    ['*foo.test', /wildcard is only allowed as a leading/],
    ['foo*.test', /wildcard is only allowed as a leading/],
    ['*.*.a.test', /wildcard is only allowed as a leading/],
    ['**.a.test', /wildcard is only allowed as a leading/],
    ['*.127.0.0.1', /wildcard needs a domain name/],
    ['example.test:0', /out of range/],
    ['example.test:65536', /out of range/],
    ['example.test:http', /not a number/],
    ['[::1]:70000', /out of range/],
    ['user@example.test', /not allowed/],
    ['http://example.test', /not a number|not allowed/],
    ['10.0.0.0/8', /not allowed/],
    ['', /empty/],
  ];
  for (const [text, message] of refused) {
    test(`${JSON.stringify(text)} is refused`, () => {
      assert.throws(() => parseHostRule(text), (error: Error) => error instanceof TargetError && message.test(error.message));
    });
  }
});

describe('hostRuleMatches', () => {
  const wildcard = parseHostRule('*.example.test');
  const cases: Array<[string, boolean]> = [
    ['a.example.test:443', true],
    ['a.b.example.test:443', true],
    ['A.Example.Test.:80', true],
    ['example.test:443', false],
    ['evil-example.test:443', false],
    ['evilexample.test:443', false],
    ['example.test.evil.test:443', false],
    ['a.example.test.evil.test:443', false],
  ];
  for (const [authority, expected] of cases) {
    test(`*.example.test ${expected ? 'matches' : 'does not match'} ${authority}`, () => {
      assert.equal(hostRuleMatches(wildcard, target(authority)), expected);
    });
  }

  test('an exact rule matches only that name, on any port', () => {
    const exact = parseHostRule('example.test');
    assert.equal(hostRuleMatches(exact, target('example.test:443')), true);
    assert.equal(hostRuleMatches(exact, target('EXAMPLE.test.:8080')), true);
    assert.equal(hostRuleMatches(exact, target('a.example.test:443')), false);
    assert.equal(hostRuleMatches(exact, target('example.test.evil.test:443')), false);
  });

  test('a rule with a port matches only that port', () => {
    assert.equal(hostRuleMatches(parseHostRule('example.test:443'), target('example.test:443')), true);
    assert.equal(hostRuleMatches(parseHostRule('example.test:443'), target('example.test:80')), false);
    assert.equal(hostRuleMatches(parseHostRule('*.example.test:443'), target('a.example.test:443')), true);
    assert.equal(hostRuleMatches(parseHostRule('*.example.test:443'), target('a.example.test:8443')), false);
  });

  test('IP rules match any spelling of the same address, never a name', () => {
    const ip = parseHostRule('127.0.0.1');
    assert.equal(hostRuleMatches(ip, target('0x7f.1:80')), true);
    assert.equal(hostRuleMatches(ip, target('2130706433:80')), true);
    assert.equal(hostRuleMatches(parseHostRule('[::1]'), target('[0:0:0:0:0:0:0:1]:80')), true);
    assert.equal(hostRuleMatches(parseHostRule('*.example.test'), { host: '1.example.test', port: 80, kind: 'ipv4' }), false);
  });
});

describe('decideName', () => {
  test('deny beats allow for the same host', () => {
    const verdict = decideName(rules({ allow: ['api.example.test'], deny: ['api.example.test'] }), target('api.example.test:443'));
    assert.deepEqual(verdict, { decision: 'deny', rule: 'deny api.example.test', reason: 'matches deny rule api.example.test' });
  });

  test('a deny wildcard beats an exact allow', () => {
    const verdict = decideName(rules({ allow: ['api.example.test'], deny: ['*.example.test'] }), target('api.example.test:443'));
    assert.equal(verdict.decision, 'deny');
    assert.equal((verdict as { rule: string }).rule, 'deny *.example.test');
  });

  test('a deny rule with a port only denies that port', () => {
    const compiled = rules({ allow: ['api.example.test'], deny: ['api.example.test:80'] });
    assert.equal(decideName(compiled, target('api.example.test:80')).decision, 'deny');
    assert.deepEqual(decideName(compiled, target('api.example.test:443')), { decision: 'allow', rule: 'allow api.example.test' });
  });

  test('an allowed name gives the rule that matched', () => {
    const compiled = rules({ allow: ['other.test', '*.example.test:443'] });
    assert.deepEqual(decideName(compiled, target('a.example.test:443')), { decision: 'allow', rule: 'allow *.example.test:443' });
    assert.equal(decideName(compiled, target('a.example.test:80')).decision, 'unknown');
  });

  test('an unlisted name is unknown', () => {
    assert.deepEqual(decideName(rules({ allow: ['api.example.test'] }), target('other.example.test:443')), { decision: 'unknown', reason: 'no rule matches this destination' });
    assert.equal(decideName(rules({}), target('api.example.test:443')).decision, 'unknown');
  });

  test('a name allowed only through allowCidr is still unknown (names are not resolved to decide)', () => {
    assert.equal(decideName(rules({ allowCidr: ['0.0.0.0/0'] }), target('api.example.test:443')).decision, 'unknown');
  });

  test('an IP literal is allowed by an exact IP allow rule', () => {
    const compiled = rules({ allow: ['10.1.2.3'] });
    assert.deepEqual(decideName(compiled, target('10.1.2.3:80')), { decision: 'allow', rule: 'allow 10.1.2.3' });
    assert.deepEqual(decideName(compiled, target('0xa.1.2.3:80')), { decision: 'allow', rule: 'allow 10.1.2.3' });
    assert.equal(decideName(compiled, target('10.1.2.4:80')).decision, 'unknown');
  });

  test('an IP literal is allowed by an allowCidr that contains it, in any spelling', () => {
    const compiled = rules({ allowCidr: ['10.1.0.0/16'] });
    assert.deepEqual(decideName(compiled, target('10.1.200.7:80')), { decision: 'allow', rule: 'allow-cidr 10.1.0.0/16' });
    assert.deepEqual(decideName(compiled, target('[::ffff:10.1.2.3]:80')), { decision: 'allow', rule: 'allow-cidr 10.1.0.0/16' });
    assert.equal(decideName(compiled, target('10.2.0.1:80')).decision, 'unknown');
  });

  test('an allowCidr admits the IPv4-mapped form of a literal but not NAT64, 6to4 or IPv4-compatible forms', () => {
    const compiled = rules({ allowCidr: ['10.0.0.0/8'] });
    assert.equal(decideName(compiled, target('[::ffff:10.0.0.1]:80')).decision, 'allow');
    for (const literal of ['[64:ff9b::a00:1]:80', '[2002:a00:1::]:80', '[::10.0.0.1]:80']) {
      assert.equal(decideName(compiled, target(literal)).decision, 'unknown', literal);
    }
  });

  test('a deny CIDR refuses every IPv6 form that carries an address in it', () => {
    const compiled = rules({ allowCidr: ['::/0'], deny: ['10.0.0.0/8'] });
    for (const literal of ['[::ffff:10.0.0.1]:80', '[64:ff9b::a00:1]:80', '[64:ff9b:1::a00:1]:80', '[2002:a00:1::]:80', '[::10.0.0.1]:80']) {
      assert.deepEqual(decideName(compiled, target(literal)), { decision: 'deny', rule: 'deny 10.0.0.0/8', reason: 'address is in denied range 10.0.0.0/8' }, literal);
    }
  });

  test('an IP literal is not allowed by a name rule', () => {
    assert.equal(decideName(rules({ allow: ['*.example.test'] }), target('127.0.0.1:80')).decision, 'unknown');
  });

  test('a deny CIDR refuses an IP literal even when it is allowed exactly', () => {
    const compiled = rules({ allow: ['192.168.1.10'], allowCidr: ['192.168.0.0/16'], deny: ['192.168.1.0/24'] });
    assert.deepEqual(decideName(compiled, target('192.168.1.10:80')), { decision: 'deny', rule: 'deny 192.168.1.0/24', reason: 'address is in denied range 192.168.1.0/24' });
    assert.deepEqual(decideName(compiled, target('[::ffff:192.168.1.10]:80')).decision, 'deny');
    assert.deepEqual(decideName(compiled, target('192.168.2.10:80')), { decision: 'allow', rule: 'allow-cidr 192.168.0.0/16' });
  });

  test('a denied IP without a port is also a deny CIDR (it covers other spellings)', () => {
    const compiled = rules({ allowCidr: ['10.0.0.0/8'], deny: ['10.9.9.9'] });
    assert.deepEqual(compiled.denyCidrs.map((cidr) => cidr.text), ['10.9.9.9/32']);
    assert.equal(decideName(compiled, target('[::ffff:10.9.9.9]:80')).decision, 'deny');
    // With a port it stays a host rule only.
    assert.deepEqual(rules({ deny: ['10.9.9.9:443'] }).denyCidrs, []);
  });
});

describe('checkAddresses', () => {
  const open = rules({ allow: ['api.example.test'] });

  test('a public answer is admitted and the first address is the one to dial', () => {
    // Parsed values only: nothing here connects anywhere.
    assert.deepEqual(checkAddresses(open, ['8.8.8.8', '8.8.4.4']), { ok: true, address: '8.8.8.8', cidrRule: undefined });
    assert.deepEqual(checkAddresses(open, ['2606:4700:0:0::1111']), { ok: true, address: '2606:4700::1111', cidrRule: undefined });
  });

  test('a mixed public and loopback answer is refused as a whole', () => {
    const verdict = checkAddresses(open, ['8.8.8.8', '127.0.0.1']);
    assert.equal(verdict.ok, false);
    assert.equal(verdict.address, '127.0.0.1');
    assert.match((verdict as { reason: string }).reason, /loopback/);
    assert.equal(checkAddresses(open, ['8.8.8.8', '::ffff:169.254.169.254']).ok, false);
    assert.equal(checkAddresses(open, ['10.0.0.1', '8.8.8.8']).ok, false);
  });

  test('every special class is refused without a CIDR rule', () => {
    for (const special of ['127.0.0.1', '::1', '10.1.2.3', '172.16.0.1', '192.168.0.1', '169.254.169.254', 'fd00:ec2::254', '::ffff:127.0.0.1', '64:ff9b::7f00:1', '2002:7f00:1::', '0.0.0.0', '::']) {
      assert.equal(checkAddresses(open, [special]).ok, false, special);
    }
  });

  test('a special address is admitted only when an allowCidr contains it', () => {
    const withCidr = rules({ allow: ['api.example.test'], allowCidr: ['127.0.0.1/32'] });
    assert.deepEqual(checkAddresses(withCidr, ['127.0.0.1']), { ok: true, address: '127.0.0.1', cidrRule: 'allow-cidr 127.0.0.1/32' });
    assert.deepEqual(checkAddresses(withCidr, ['::ffff:127.0.0.1']), { ok: true, address: '::ffff:7f00:1', cidrRule: 'allow-cidr 127.0.0.1/32' });
    assert.equal(checkAddresses(withCidr, ['127.0.0.2']).ok, false);
    assert.equal(checkAddresses(withCidr, ['127.0.0.1', '10.0.0.1']).ok, false);
  });

  test('an IPv4 allowCidr does not admit NAT64, 6to4 or IPv4-compatible answers (they are dialled elsewhere)', () => {
    const withCidr = rules({ allow: ['api.example.test'], allowCidr: ['127.0.0.0/8'] });
    for (const answer of ['64:ff9b::7f00:1', '2002:7f00:1::', '::127.0.0.1', '::7f00:1']) {
      const verdict = checkAddresses(withCidr, [answer]);
      assert.equal(verdict.ok, false, answer);
      assert.match((verdict as { reason: string }).reason, /IPv6 form of 127\.0\.0\.1/);
    }
  });

  test('a deny CIDR refuses NAT64 and 6to4 answers that carry an address in it', () => {
    const compiled = rules({ allow: ['api.example.test'], deny: ['8.8.8.0/24'] });
    for (const answer of ['64:ff9b::808:808', '2002:808:808::', '::ffff:8.8.8.8']) {
      const verdict = checkAddresses(compiled, [answer]);
      assert.equal(verdict.ok, false, answer);
      assert.equal((verdict as { rule?: string }).rule, 'deny 8.8.8.0/24', answer);
    }
  });

  test('the address to dial is canonical text', () => {
    const withCidr = rules({ allowCidr: ['127.0.0.0/8'] });
    assert.deepEqual(checkAddresses(withCidr, ['127.1']), { ok: true, address: '127.0.0.1', cidrRule: 'allow-cidr 127.0.0.0/8' });
    assert.deepEqual(checkAddresses(withCidr, ['::FFFF:127.0.0.1']), { ok: true, address: '::ffff:7f00:1', cidrRule: 'allow-cidr 127.0.0.0/8' });
  });

  test('a deny CIDR refuses, public or not, and names the rule', () => {
    const compiled = rules({ allow: ['api.example.test'], allowCidr: ['10.0.0.0/8'], deny: ['10.9.0.0/16', '8.8.8.0/24'] });
    assert.deepEqual(checkAddresses(compiled, ['10.9.1.1']), { ok: false, address: '10.9.1.1', rule: 'deny 10.9.0.0/16', reason: 'resolves to 10.9.1.1, in denied range 10.9.0.0/16' });
    const publicDenied = checkAddresses(compiled, ['8.8.8.8']);
    assert.equal(publicDenied.ok, false);
    assert.equal((publicDenied as { rule?: string }).rule, 'deny 8.8.8.0/24');
  });

  test('a denied IP rule refuses a name that resolves to it', () => {
    assert.equal(checkAddresses(rules({ allow: ['api.example.test'], deny: ['8.8.8.8'] }), ['8.8.8.8']).ok, false);
  });

  test('an empty answer is refused', () => {
    assert.deepEqual(checkAddresses(open, []), { ok: false, reason: 'the name did not resolve to any address' });
  });

  test('text that is not an address is refused', () => {
    for (const text of ['nope', 'example.test', '', '1.2.3.4.5']) {
      const verdict = checkAddresses(open, ['8.8.8.8', text]);
      assert.equal(verdict.ok, false, JSON.stringify(text));
      assert.match((verdict as { reason: string }).reason, /not an address/);
    }
  });
});

describe('phaseRulesSchema', () => {
  test('defaults to no rules', () => {
    assert.deepEqual(phaseRulesSchema.parse({}), { allow: [], allowCidr: [], deny: [] });
  });

  test('invalid rule text gives an issue at the field', () => {
    const result = phaseRulesSchema.safeParse({ allow: ['ok.test', '*'], allowCidr: ['nope'], deny: ['10.0.0.0/33', 'a.*.test'] });
    assert.equal(result.success, false);
    const issues = result.error.issues.map((issue) => ({ path: issue.path, message: issue.message }));
    assert.deepEqual(issues.map((issue) => issue.path), [['allow', 1], ['allowCidr', 0], ['deny', 0], ['deny', 1]]);
    assert.match(issues[0].message, /wildcard is only allowed as a leading/);
    assert.match(issues[1].message, /not an IP address or CIDR range/);
    assert.match(issues[2].message, /not a CIDR range/);
  });

  test('unknown keys are rejected', () => {
    const result = phaseRulesSchema.safeParse({ allow: [], alow: ['x.test'] });
    assert.equal(result.success, false);
    assert.equal(result.error.issues[0].code, 'unrecognized_keys');
  });

  test('rule text is kept as written (compileRules canonicalises)', () => {
    const parsed = phaseRulesSchema.parse({ allow: ['Example.TEST'] });
    assert.deepEqual(parsed.allow, ['Example.TEST']);
    assert.equal(compileRules(parsed).allow[0].text, 'example.test');
  });
});

describe('egressSettingsSchema', () => {
  test('defaults: no rules in either phase, no asking, the documented limits', () => {
    assert.deepEqual(egressSettingsSchema.parse({}), {
      setup: { allow: [], allowCidr: [], deny: [] },
      agent: { allow: [], allowCidr: [], deny: [] },
      ask: false,
      approvalTimeoutSeconds: 120,
      limits: { maxConnections: 64, idleTimeoutSeconds: 300, maxBytes: 8 * 1024 ** 3, connectTimeoutSeconds: 10 },
    });
  });

  test('the agent phase has no allow rules by default even when setup has some', () => {
    const settings = egressSettingsSchema.parse({ setup: { allow: ['registry.example.test'] } });
    assert.deepEqual(settings.setup.allow, ['registry.example.test']);
    assert.deepEqual(settings.agent, { allow: [], allowCidr: [], deny: [] });
  });

  test('partial limits are filled with defaults; maxBytes accepts a size text', () => {
    const settings = egressSettingsSchema.parse({ limits: { maxConnections: 2, maxBytes: '1m' } });
    assert.deepEqual(settings.limits, { maxConnections: 2, idleTimeoutSeconds: 300, maxBytes: 1024 ** 2, connectTimeoutSeconds: 10 });
  });

  test('an invalid rule names its path from the top', () => {
    const result = egressSettingsSchema.safeParse({ agent: { allow: ['*'] } });
    assert.equal(result.success, false);
    assert.deepEqual(result.error.issues.map((issue) => issue.path), [['agent', 'allow', 0]]);
    const setup = egressSettingsSchema.safeParse({ setup: { allowCidr: ['10.0.0.0/8', 'x'] } });
    assert.deepEqual(setup.error!.issues.map((issue) => issue.path), [['setup', 'allowCidr', 1]]);
  });

  test('unknown keys are rejected at every level', () => {
    for (const input of [{ bogus: 1 }, { agent: { allow: [], extra: 1 } }, { limits: { maxConns: 3 } }]) {
      const result = egressSettingsSchema.safeParse(input);
      assert.equal(result.success, false, JSON.stringify(input));
      assert.equal(result.error.issues[0].code, 'unrecognized_keys');
    }
  });

  test('limits out of range are rejected with their path', () => {
    const cases: Array<[object, Array<string | number>]> = [
      [{ limits: { maxConnections: 0 } }, ['limits', 'maxConnections']],
      [{ limits: { maxConnections: 4097 } }, ['limits', 'maxConnections']],
      [{ limits: { maxConnections: 1.5 } }, ['limits', 'maxConnections']],
      [{ limits: { idleTimeoutSeconds: 0 } }, ['limits', 'idleTimeoutSeconds']],
      [{ limits: { connectTimeoutSeconds: 121 } }, ['limits', 'connectTimeoutSeconds']],
      [{ limits: { maxBytes: 'lots' } }, ['limits', 'maxBytes']],
      [{ limits: { maxBytes: 0 } }, ['limits', 'maxBytes']],
      [{ approvalTimeoutSeconds: 0 }, ['approvalTimeoutSeconds']],
      [{ ask: 'yes' }, ['ask']],
    ];
    for (const [input, path] of cases) {
      const result = egressSettingsSchema.safeParse(input);
      assert.equal(result.success, false, JSON.stringify(input));
      assert.deepEqual(result.error.issues[0].path, path, JSON.stringify(input));
    }
  });

  test('the limits schema alone has the same defaults', () => {
    assert.deepEqual(egressLimitsSchema.parse({}), { maxConnections: 64, idleTimeoutSeconds: 300, maxBytes: 8 * 1024 ** 3, connectTimeoutSeconds: 10 });
  });
});

describe('proxyEnv', () => {
  test('points every proxy variable at the relay port and keeps loopback direct', () => {
    const env = proxyEnv();
    const url = `http://127.0.0.1:${EGRESS_PROXY_PORT}`;
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) assert.equal(env[name], url, name);
    assert.equal(env.NO_PROXY, 'localhost,127.0.0.1,::1');
    assert.equal(env.no_proxy, 'localhost,127.0.0.1,::1');
    assert.equal(proxyEnv(9999).HTTPS_PROXY, 'http://127.0.0.1:9999');
  });
});
