// Packages the extension, rewriting dist/ for production: in the integration suite, whose files run one at a time, so no test reads dist/ meanwhile.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

const ROOT = process.cwd();
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  activationEvents: string[];
  capabilities: { untrustedWorkspaces: { supported: string } };
  contributes: { commands: { command: string; title: string; category?: string; icon?: string }[]; configuration: { properties: Record<string, { description?: string; markdownDescription?: string }> }; views: Record<string, { id: string }[]> };
};

/** Every file under src/extension, for finding which commands have an implementation. */
function extensionSources(dir = path.join(ROOT, 'src/extension')): string {
  return fs.readdirSync(dir, { withFileTypes: true }).map((entry) => (entry.isDirectory() ? extensionSources(path.join(dir, entry.name)) : fs.readFileSync(path.join(dir, entry.name), 'utf8'))).join('\n');
}

describe('the VS Code package', () => {
  test('npm run package builds airlock.vsix, under 15 MB, with the README and every file it links to, and nothing of the sources', () => {
    fs.rmSync(path.join(ROOT, 'airlock.vsix'), { force: true });
    execFileSync('npm', ['run', '--silent', 'package'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const vsix = path.join(ROOT, 'airlock.vsix');
    const size = fs.statSync(vsix).size;
    assert.ok(size < 15 * 1024 * 1024, `airlock.vsix is ${size} bytes`);
    const files = execFileSync('unzip', ['-Z1', vsix], { encoding: 'utf8' }).trim().split('\n');
    for (const needed of ['extension/package.json', 'extension/readme.md', 'extension/dist/extension.js', 'extension/dist/core.js', 'extension/dist/cli.js', 'extension/dist/airlock', 'extension/dist/airlock-policy.schema.json', 'extension/media/airlock.svg']) {
      assert.ok(files.some((file) => file.toLowerCase() === needed.toLowerCase()), `${needed} is in the package`);
    }
    assert.deepEqual(files.filter((file) => /^extension\/(src|test|node_modules|scripts|\.e2e)\//.test(file) || file.endsWith('.map')), [], 'no sources, tests, packages or source maps');
    // Relative links in the README resolve inside the installed extension, so what they name ships with it.
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)/g)].map((match) => match[1]).filter((link) => !/^[a-z]+:/i.test(link));
    for (const link of links) assert.ok(files.includes(`extension/${link}`), `the README links to ${link}, which the package must hold`);
  });

  test('activation is on Airlock\'s views, commands, the policy file and the review\'s documents only, never *', () => {
    assert.ok(!manifest.activationEvents.includes('*'));
    for (const event of manifest.activationEvents) assert.match(event, /^(workspaceContains:\.airlock\.json|onView:airlock\.(tasks|approvals)|onFileSystem:airlock-review)$/);
  });

  test('every command is in the Airlock category with a codicon, and has an implementation', () => {
    const sources = extensionSources();
    for (const command of manifest.contributes.commands) {
      assert.equal(command.category, 'Airlock', command.command);
      assert.match(command.icon ?? '', /^\$\([a-z-]+\)$/, `${command.command} has a codicon`);
      const id = command.command.replace(/\./g, '\\.');
      assert.match(sources, new RegExp(`(register|command)\\(\\s*'${id}'`), `${command.command} is implemented in src/extension`);
    }
  });

  test('every setting has a description; untrusted workspaces get limited support', () => {
    for (const [name, setting] of Object.entries(manifest.contributes.configuration.properties)) assert.ok(setting.description || setting.markdownDescription, `${name} has a description`);
    assert.equal(manifest.capabilities.untrustedWorkspaces.supported, 'limited');
    assert.deepEqual(manifest.contributes.views.airlock.map((view) => view.id), ['airlock.tasks', 'airlock.approvals']);
  });
});
