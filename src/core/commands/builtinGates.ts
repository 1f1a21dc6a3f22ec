import * as path from 'node:path';
import { positionals, type Positional } from './commandRules.js';
import type { Token } from './shellWords.js';

/**
 * Irreversible actions every task asks about before running them. The sandbox already makes them
 * fail (no credentials, no route); asking first tells a person while the agent is trying.
 */
export const BUILTIN_ASK_RULES: Array<{ pattern: string; why: string }> = [
  ...['git push', 'git send-email', 'git send-pack', 'git http-push', 'git svn dcommit', 'git lfs push', 'git subtree push', 'hub push'].map((pattern) => ({ pattern, why: 'pushes to a remote; push from the host instead, where Airlock pushes with your credentials after a review' })),
  ...['npm publish', 'npm unpublish', 'npm deprecate', 'npm dist-tag', 'pnpm publish', 'yarn publish', 'yarn npm publish', 'bun publish', 'cargo publish', 'cargo yank', 'twine upload', 'uv publish', 'poetry publish', 'flit publish', 'hatch publish', 'gem push', 'gem yank', 'docker push', 'docker image push', 'docker buildx build --push', 'podman push',
    // the same pushes in other words: pnpm 10 and older hand these to npm; docker's aliases and build frontends
    'pnpm unpublish', 'pnpm deprecate', 'pnpm dist-tag', 'yarn tag add', 'yarn tag remove', 'yarn npm tag add', 'yarn npm tag remove',
    'docker build --push', 'docker image build --push', 'docker builder build --push', 'docker buildx b --push', 'docker buildx bake --push', 'docker compose push', 'docker-compose push', 'docker manifest push', 'docker plugin push', 'docker trust sign', 'docker buildx imagetools create',
    'podman image push', 'podman manifest push', 'buildah push', 'gh release new', 'gh release create', 'gh release upload', 'gh pr merge', 'gh repo delete', 'glab release create', 'glab release upload', 'glab mr merge', 'glab repo delete'].map((pattern) => ({ pattern, why: 'publishes or releases outside the task' })),
  ...['apply', 'delete', 'patch', 'scale', 'create', 'replace', 'edit', 'rollout', 'set', 'label', 'annotate', 'drain', 'cordon', 'uncordon', 'taint', 'expose', 'run', 'autoscale'].map((verb) => ({ pattern: `kubectl ${verb}`, why: 'changes a Kubernetes cluster' })),
  ...['install', 'upgrade', 'uninstall', 'delete', 'del', 'un', 'rollback'].map((verb) => ({ pattern: `helm ${verb}`, why: 'changes a Kubernetes cluster' })),
  ...['terraform', 'tofu'].flatMap((tool) => ['apply', 'destroy', 'import', 'state rm', 'state mv', 'state push', 'taint', 'force-unlock'].map((verb) => ({ pattern: `${tool} ${verb}`, why: 'changes infrastructure or its state' }))),
  ...['up', 'update', 'destroy', 'down', 'import', 'refresh', 'cancel', 'state delete', 'stack rm'].map((verb) => ({ pattern: `pulumi ${verb}`, why: 'changes infrastructure or its state' })),
  ...['fly', 'flyctl'].flatMap((tool) => ['deploy', 'apps destroy', 'secrets set', 'scale'].map((verb) => ({ pattern: `${tool} ${verb}`, why: 'deploys or changes a Fly.io app' }))),
  ...['vercel --prod', 'vercel promote', 'vercel rollback', 'vercel remove', 'netlify deploy --prod', 'wrangler deploy', 'wrangler publish', 'firebase deploy', 'serverless deploy', 'sls deploy', 'cdk deploy', 'cdk destroy', 'heroku releases:rollback'].map((pattern) => ({ pattern, why: 'deploys to production' })),
  ...['git reset --hard', 'git clean -f', 'git clean --force', 'git branch -D', 'git branch -d -f', 'git branch -d --force', 'git branch --delete --force', 'git branch --delete -f', 'git checkout -f', 'git checkout --force', 'git stash clear', 'git stash drop', 'git reflog expire', 'git gc --prune'].map((pattern) => ({ pattern, why: 'discards work, reversible only by undoing the task' })),
];

export interface GateFinding {
  rule: string;
  why: string;
  /** `maybe`: depends on words the parser cannot see. */
  certain: boolean;
}

export interface GateContext {
  cwd: string;
  home: string;
  workspace: string;
  /** False when the script changes directory before this command, so relative paths are unknown. */
  cwdKnown: boolean;
}

/** `rm -r` of the workspace itself, anything above it, or anything outside it (but inside /tmp). */
function rmGate(args: Token[], context: GateContext): GateFinding | undefined {
  const options = args.filter((token, index) => token.kind === 'exact' && token.text.startsWith('-') && token.text !== '-' && !args.slice(0, index).some((before) => before.kind === 'exact' && before.text === '--'));
  const recursive = options.some((token) => token.text === '--recursive' || (/^-[^-]/.test(token.text) && /[rR]/.test(token.text)));
  const unknown = args.some((token) => token.kind === 'unknown');
  if (!recursive && !unknown) return undefined;
  const rule = 'rm -r outside the workspace';
  for (const operand of positionals('rm', args, false)) {
    if (operand.kind === 'any') return { rule, why: 'rm removes a path the parser cannot see', certain: false };
    if (!recursive) continue;
    const resolved = resolveOperand(operand, context);
    if (resolved === undefined) return { rule, why: `rm removes "${operand.text}" relative to a folder the script changed to`, certain: false };
    const { target, pattern } = resolved;
    const { workspace } = context;
    const under = (folder: string) => target === folder || target.startsWith(`${folder === '/' ? '' : folder}/`);
    // A pattern matches entries strictly inside its fixed folder; a plain path is the entry itself.
    const itself = pattern ? workspace.startsWith(`${target === '/' ? '' : target}/`) : target === workspace || workspace.startsWith(`${target === '/' ? '' : target}/`);
    if (itself) return { rule, why: `${pattern ? 'can match' : 'removes'} the workspace itself (${operand.text})`, certain: true };
    const inside = pattern ? under(workspace) || under('/tmp') : target.startsWith(`${workspace}/`) || target.startsWith('/tmp/');
    if (!inside) return { rule, why: `removes ${target}${pattern ? '/…' : ''}, outside the workspace`, certain: true };
  }
  return undefined;
}

/** A stand-in for one folder a pattern part matches; no path holds a NUL. */
const MATCHED = '\0';

/**
 * An operand's absolute path (`pattern` false), or for a pattern the fixed folder its matches are in.
 * Each pattern part matches one folder level, so a later `..` climbs back out of it: `src/?/../../..`
 * is the workspace's parent, not something inside src.
 */
function resolveOperand(operand: Exclude<Positional, { kind: 'any' }>, context: GateContext): { target: string; pattern: boolean } | undefined {
  let text = operand.text;
  if (text === '~' || text.startsWith('~/')) text = `${context.home}/${text.slice(2)}`;
  // ~user: some other home, outside the workspace whoever it is
  else if (text.startsWith('~')) return { target: '/home', pattern: operand.kind === 'pattern' };
  if (!text.startsWith('/') && !context.cwdKnown) return undefined;
  if (operand.kind !== 'pattern') return { target: path.posix.resolve(context.cwd, text), pattern: false };
  const parts = text.split('/');
  const last = text.replace(/\/+$/, '').split('/').length - 1;
  // `.*` and `.?` can match `..` itself (dash, and bash before 5.2): read them so when a part follows
  const standIn = parts.map((part, index) => (!/[*?[]/.test(part) ? part : index < last && /^\.[*?[]/.test(part) ? '..' : MATCHED));
  const resolved = path.posix.resolve(context.cwd, standIn.join('/'));
  const at = resolved.indexOf(MATCHED);
  if (at === -1) return { target: resolved, pattern: false };
  return { target: resolved.slice(0, at).replace(/\/$/, '') || '/', pattern: true };
}

const AWS_READ = /^(describe|list|get|head|select|query|scan|lookup|search|filter|preview|view|show|validate|estimate|simulate|test|batch-get|check|detect|ls|presign|wait|help|decode|verify|generate-presigned)/;
const GCLOUD_READ = /^(list|describe|info|version|help|get-|print-|read|search|explain|config|auth|components|topic|cheat-sheet|feedback|interactive)/;
const AZ_READ = /^(list|show|get|version|help|account|login|logout|find|wait|exists|check|search|query|browse|config|configure|feedback|interactive|upgrade|extension)/;

/** aws, gcloud and az: anything but a reading verb may change cloud resources. */
function cloudGate(tool: string, args: Token[]): GateFinding | undefined {
  const words = positionals(tool, args, false);
  const rule = `${tool} (mutating subcommand)`;
  if (words.length === 0 || args.some((token) => token.kind === 'exact' && (token.text === '--help' || token.text === 'help'))) return undefined;
  if (words.some((word) => word.kind !== 'word')) return { rule, why: `${tool} with a subcommand the parser cannot see may change cloud resources`, certain: false };
  const texts = words.map((word) => (word.kind === 'word' ? word.text : ''));
  if (tool === 'aws') {
    if (['configure', 'sts', 'help', 'history'].includes(texts[0]) || (texts[1] !== undefined && AWS_READ.test(texts[1]))) return undefined;
    if (texts.length < 2) return undefined;
    return { rule, why: `aws ${texts[0]} ${texts[1]} may change cloud resources`, certain: true };
  }
  const read = tool === 'gcloud' ? GCLOUD_READ : AZ_READ;
  if (texts.some((word) => read.test(word))) return undefined;
  return { rule, why: `${tool} ${texts.join(' ')} may change cloud resources`, certain: true };
}

/** `docker build -o type=registry` / `--output type=image,push=true` (and bake's `--set *.output=…`): a build that pushes. */
function imageOutputGate(tool: string, args: Token[]): GateFinding | undefined {
  const pushes = (value: string) => /(^|[,=])(type=registry|push=true)(,|$)/.test(value);
  for (let index = 0; index < args.length; index++) {
    const token = args[index];
    if (token.kind !== 'exact') continue;
    const [name, glued] = token.text.split(/=(.*)/s, 2);
    const next = args[index + 1];
    const text = glued ?? (next?.kind === 'exact' ? next.text : undefined);
    if (['-o', '--output', '--set'].includes(name) && text !== undefined && pushes(text)) return { rule: `${tool} build --output type=registry`, why: 'builds an image and pushes it to a registry', certain: true };
    if (/^-o./.test(token.text) && pushes(token.text.slice(2))) return { rule: `${tool} build --output type=registry`, why: 'builds an image and pushes it to a registry', certain: true };
  }
  return undefined;
}

/** Gates that need more than an argv pattern. */
export function builtinGate(tool: string, args: Token[], context: GateContext): GateFinding | undefined {
  if (tool === 'rm') return rmGate(args, context);
  if (tool === 'docker' || tool === 'podman' || tool === 'buildah' || tool === 'docker-buildx') return imageOutputGate(tool, args);
  if (tool === 'aws' || tool === 'gcloud' || tool === 'az') return cloudGate(tool, args);
  return undefined;
}
