import { z } from 'zod';
import { cidrContains, parseCidr, specialAddressReason, type Address, type Cidr } from './addressPolicy.js';
import { normalizeHost, parsePort, TargetError, type HostTarget } from './hostTarget.js';

/** `example.com`, `example.com:443`, `*.example.com`, `*.example.com:443`, or an IP literal. */
export interface HostRule {
  text: string;
  host: string;
  wildcard: boolean;
  kind: HostTarget['kind'];
  port?: number;
}

export function parseHostRule(text: string): HostRule {
  let body = text.trim();
  let port: number | undefined;
  const bracketed = body.match(/^\[([^\]]+)\](?::(\d+))?$/);
  if (bracketed) {
    body = bracketed[1];
    if (bracketed[2] !== undefined) port = parsePort(bracketed[2]);
  } else if ((body.match(/:/g) ?? []).length === 1) {
    const colon = body.lastIndexOf(':');
    port = parsePort(body.slice(colon + 1));
    body = body.slice(0, colon);
  }
  const wildcard = body.startsWith('*.');
  if (body.includes('*') && (!wildcard || body.indexOf('*', 1) >= 0)) throw new TargetError(`"${text}": a wildcard is only allowed as a leading "*." (e.g. *.example.com)`);
  const normalized = normalizeHost(wildcard ? body.slice(2) : body);
  if (wildcard && normalized.kind !== 'name') throw new TargetError(`"${text}": a wildcard needs a domain name after "*."`);
  if (wildcard && !normalized.host.includes('.')) throw new TargetError(`"${text}": "*.${normalized.host}" would match a whole top-level domain; name the domain`);
  const canonical = `${wildcard ? '*.' : ''}${normalized.kind === 'ipv6' ? `[${normalized.host}]` : normalized.host}${port ? `:${port}` : ''}`;
  return { text: canonical, host: normalized.host, wildcard, kind: normalized.kind, port };
}

export function hostRuleMatches(rule: HostRule, target: HostTarget): boolean {
  if (rule.port !== undefined && rule.port !== target.port) return false;
  // A label boundary is required: *.example.test never matches example.test or evil-example.test.
  return rule.wildcard ? target.kind === 'name' && target.host.endsWith(`.${rule.host}`) : rule.host === target.host;
}

const ruleText = (parse: (text: string) => unknown) =>
  z.string().superRefine((text, ctx) => {
    try {
      parse(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
    }
  });

export const cidrText = ruleText((text) => {
  if (!parseCidr(text)) throw new Error(`"${text}" is not an IP address or CIDR range (e.g. 10.1.2.0/24)`);
});
export const hostRuleText = ruleText(parseHostRule);
export const denyText = ruleText((text) => {
  if (!text.includes('/')) return parseHostRule(text);
  if (!parseCidr(text)) throw new Error(`"${text}" is not a CIDR range (e.g. 10.0.0.0/8)`);
});

export const phaseRulesSchema = z
  .object({
    /** Destinations this phase may reach: exact hosts or *.suffix, optional :port. */
    allow: z.array(hostRuleText).default([]),
    /** Address ranges this phase may reach: IP literals inside them, and allowed names that resolve into them. */
    allowCidr: z.array(cidrText).default([]),
    /** Hosts or CIDRs refused even when an allow rule matches. */
    deny: z.array(denyText).default([]),
  })
  .strict();
export type PhaseRulesInput = z.input<typeof phaseRulesSchema>;
export type PhaseRules = z.output<typeof phaseRulesSchema>;

export const NETWORK_PHASES = ['setup', 'agent'] as const;
export type NetworkPhase = (typeof NETWORK_PHASES)[number];

export interface CompiledRules {
  allow: HostRule[];
  allowCidr: Cidr[];
  denyHosts: HostRule[];
  denyCidrs: Cidr[];
}

export function compileRules(rules: PhaseRules): CompiledRules {
  const compiled: CompiledRules = { allow: rules.allow.map(parseHostRule), allowCidr: rules.allowCidr.map((text) => parseCidr(text)!), denyHosts: [], denyCidrs: [] };
  for (const text of rules.deny) {
    if (text.includes('/')) {
      compiled.denyCidrs.push(parseCidr(text)!);
      continue;
    }
    const rule = parseHostRule(text);
    compiled.denyHosts.push(rule);
    // A denied IP is also denied as an answer to a name: a name must not reach it by resolving there.
    if (rule.kind !== 'name' && rule.port === undefined) compiled.denyCidrs.push(parseCidr(rule.host)!);
  }
  return compiled;
}

export type NameVerdict = { decision: 'allow'; rule: string } | { decision: 'deny'; rule: string; reason: string } | { decision: 'unknown'; reason: string };

/**
 * The decision that needs no DNS: deny rules first, then allow rules. A name no rule decides is
 * "unknown" and is never looked up (the lookup itself would leak it to a resolver).
 */
export function decideName(rules: CompiledRules, target: HostTarget): NameVerdict {
  const denied = rules.denyHosts.find((rule) => hostRuleMatches(rule, target));
  if (denied) return { decision: 'deny', rule: `deny ${denied.text}`, reason: `matches deny rule ${denied.text}` };
  if (target.kind !== 'name') {
    const address = parseAddressOf(target);
    const deniedCidr = rules.denyCidrs.find((cidr) => cidrContains(cidr, address, 'deny'));
    if (deniedCidr) return { decision: 'deny', rule: `deny ${deniedCidr.text}`, reason: `address is in denied range ${deniedCidr.text}` };
  }
  const allowed = rules.allow.find((rule) => hostRuleMatches(rule, target));
  if (allowed) return { decision: 'allow', rule: `allow ${allowed.text}` };
  if (target.kind !== 'name') {
    const cidr = rules.allowCidr.find((range) => cidrContains(range, parseAddressOf(target), 'allow'));
    if (cidr) return { decision: 'allow', rule: `allow-cidr ${cidr.text}` };
  }
  return { decision: 'unknown', reason: 'no rule matches this destination' };
}

function parseAddressOf(target: HostTarget): Address {
  return parseCidr(target.host)!.range[0];
}

export type AddressVerdict = { ok: true; address: string; cidrRule?: string } | { ok: false; address?: string; rule?: string; reason: string };

/**
 * Checks every address a name resolved to, and picks the one to dial. Any special address (loopback,
 * private, metadata…) refuses the whole name unless a CIDR rule admits it: a mixed answer is how a
 * rebinding attack starts.
 */
export function checkAddresses(rules: CompiledRules, addresses: string[]): AddressVerdict {
  if (addresses.length === 0) return { ok: false, reason: 'the name did not resolve to any address' };
  let cidrRule: string | undefined;
  for (const text of addresses) {
    const address = parseCidr(text)?.range[0];
    if (!address) return { ok: false, address: text, reason: `the resolver returned "${text}", which is not an address` };
    const denied = rules.denyCidrs.find((cidr) => cidrContains(cidr, address, 'deny'));
    if (denied) return { ok: false, address: address.toString(), rule: `deny ${denied.text}`, reason: `resolves to ${address.toString()}, in denied range ${denied.text}` };
    const special = specialAddressReason(address);
    if (!special) continue;
    const admitted = rules.allowCidr.find((cidr) => cidrContains(cidr, address, 'allow'));
    if (!admitted) return { ok: false, address: address.toString(), reason: `resolves to ${address.toString()}, ${special}; only a CIDR rule (allowCidr) admits it` };
    cidrRule ??= `allow-cidr ${admitted.text}`;
  }
  return { ok: true, address: parseCidr(addresses[0])!.range[0].toString(), cidrRule };
}
