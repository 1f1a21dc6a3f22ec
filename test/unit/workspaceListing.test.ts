import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_SECRET_FILE_PATTERNS } from '../../src/core/config/taskOptions.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import { listWorkspace } from '../../src/core/snapshot/workspaceListing.js';
import { initRepo, makeTempDir, removeTempDirs, runGit, writeFiles } from '../helpers/tempWorkspace.js';

// Until runHost handles stdin EPIPE itself (see runHost.test.ts), keep that crash out of these tests.
after(removeTempDirs);

const SECRET_FILES = ['.env', '.env.local', 'key.pem', 'id_rsa', '.ssh/config', '.aws/credentials'];
const sorted = (values: Iterable<string>) => [...values].sort();

/** A folder workspace with ordinary files, secret-looking files and a root .gitignore. */
function plainFolder(): string {
  const root = makeTempDir('airlock-folder-');
  writeFiles(root, {
    'README.md': '# hi\n',
    'src/index.ts': 'export {};\n',
    'src/lib/util.ts': 'export const x = 1;\n',
    '.gitignore': 'node_modules/\n*.log\n',
    'node_modules/dep/index.js': 'module.exports = 1;\n',
    'debug.log': 'noise\n',
    ...Object.fromEntries(SECRET_FILES.map((file) => [file, 'secret\n'])),
  });
  return root;
}

describe('listWorkspace on a plain folder', () => {
  test('ordinary files are listed with their ancestor folders and no git info', async () => {
    const listing = await listWorkspace(plainFolder(), DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(sorted(listing.files), ['.gitignore', 'README.md', 'src/index.ts', 'src/lib/util.ts']);
    assert.deepEqual(sorted(listing.dirs), ['src', 'src/lib']);
    assert.equal(listing.git, undefined);
  });

  test('.env, .env.local, key.pem, id_rsa, .ssh/config and .aws/credentials are left out and reported', async () => {
    const listing = await listWorkspace(plainFolder(), DEFAULT_SECRET_FILE_PATTERNS);
    for (const file of SECRET_FILES) assert.ok(!listing.files.has(file), `${file} must not be copied`);
    assert.deepEqual(listing.excluded, sorted(SECRET_FILES));
  });

  test('the root .gitignore is honoured for files and folders', async () => {
    const listing = await listWorkspace(plainFolder(), DEFAULT_SECRET_FILE_PATTERNS);
    assert.ok(!listing.files.has('debug.log'));
    assert.ok(![...listing.files].some((file) => file.startsWith('node_modules/')));
    assert.ok(!listing.dirs.has('node_modules'));
  });

  test('a stray .git folder inside a plain folder is never listed', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'a.txt': 'a', 'vendor/.git/config': '[core]\n' });
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(sorted(listing.files), ['a.txt']);
  });
});

describe('listWorkspace on a git repository', () => {
  function repo(): string {
    const root = makeTempDir('airlock-repo-');
    initRepo(root, { 'tracked.txt': 'tracked\n', 'src/main.ts': 'main\n', '.gitignore': 'ignored.txt\nbuild/\n' });
    writeFiles(root, { 'untracked.txt': 'new\n', 'ignored.txt': 'ignored\n', 'build/out.js': 'out\n', '.env': 'TOKEN=x\n' });
    return root;
  }

  test('tracked and untracked-not-ignored files are listed', async () => {
    const listing = await listWorkspace(repo(), DEFAULT_SECRET_FILE_PATTERNS);
    for (const file of ['tracked.txt', 'src/main.ts', '.gitignore', 'untracked.txt']) assert.ok(listing.files.has(file), `${file} is listed`);
    assert.ok(listing.dirs.has('src'));
  });

  test('ignored files are not listed', async () => {
    const listing = await listWorkspace(repo(), DEFAULT_SECRET_FILE_PATTERNS);
    assert.ok(!listing.files.has('ignored.txt'));
    assert.ok(!listing.files.has('build/out.js'));
  });

  test('secret files are left out of a repository too, and nothing under .git is listed', async () => {
    const listing = await listWorkspace(repo(), DEFAULT_SECRET_FILE_PATTERNS);
    assert.ok(!listing.files.has('.env'));
    assert.deepEqual(listing.excluded, ['.env']);
    assert.ok(![...listing.files].some((file) => file.split('/').includes('.git')));
  });

  test('git info names the repository, with commonDir ending in .git', async () => {
    const root = repo();
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    assert.ok(listing.git, 'git info is set');
    assert.equal(path.basename(listing.git.commonDir), '.git');
    assert.equal(fs.realpathSync(listing.git.commonDir), path.join(root, '.git'));
    assert.equal(fs.realpathSync(listing.git.gitDir), path.join(root, '.git'));
  });

  test('a subfolder of a repository is listed relative to itself, without git info', async () => {
    const root = repo();
    const listing = await listWorkspace(path.join(root, 'src'), DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(sorted(listing.files), ['main.ts']);
    assert.equal(listing.git, undefined);
  });
});

describe('listWorkspace and package-manager config files', () => {
  const PATTERNS_WITHOUT_NPMRC = DEFAULT_SECRET_FILE_PATTERNS.filter((pattern) => pattern !== '.npmrc');

  function withNpmrc(content: string): string {
    const root = makeTempDir();
    writeFiles(root, { 'package.json': '{}\n', '.npmrc': content, 'sub/.npmrc': content });
    return root;
  }

  test('an .npmrc holding only a registry is copied when no file pattern names it', async () => {
    const listing = await listWorkspace(withNpmrc('registry=https://registry.npmjs.org/\n'), PATTERNS_WITHOUT_NPMRC);
    assert.ok(listing.files.has('.npmrc'));
    assert.ok(listing.files.has('sub/.npmrc'));
    assert.deepEqual(listing.excluded, []);
  });

  test('an .npmrc holding an auth token is left out even when no file pattern names it', async () => {
    const listing = await listWorkspace(withNpmrc('//registry.npmjs.org/:_authToken=abc\n'), PATTERNS_WITHOUT_NPMRC);
    assert.ok(!listing.files.has('.npmrc'));
    assert.ok(!listing.files.has('sub/.npmrc'));
    assert.deepEqual(listing.excluded, ['.npmrc', 'sub/.npmrc']);
  });

  test('an .npmrc holding only a registry is copied with the default patterns', async () => {
    const listing = await listWorkspace(withNpmrc('registry=https://registry.npmjs.org/\n'), DEFAULT_SECRET_FILE_PATTERNS);
    assert.ok(listing.files.has('.npmrc'));
  });

  test('an .npmrc holding an auth token is left out with the default patterns', async () => {
    const listing = await listWorkspace(withNpmrc('//registry.npmjs.org/:_authToken=abc\n'), DEFAULT_SECRET_FILE_PATTERNS);
    assert.ok(!listing.files.has('.npmrc'));
    assert.ok(listing.excluded.includes('.npmrc'));
  });
});

describe('listWorkspace options and errors', () => {
  test('an extra secret pattern such as private/ excludes that folder', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'a.txt': 'a', 'private/notes.txt': 'n', 'private/deep/more.txt': 'm' });
    const listing = await listWorkspace(root, [...DEFAULT_SECRET_FILE_PATTERNS, 'private/']);
    assert.deepEqual(sorted(listing.files), ['a.txt']);
    assert.deepEqual(listing.excluded, ['private/deep/more.txt', 'private/notes.txt']);
    assert.ok(!listing.dirs.has('private'));
  });

  test('an extra secret pattern applies inside a git repository too', async () => {
    const root = makeTempDir();
    initRepo(root, { 'a.txt': 'a', 'private/notes.txt': 'n' });
    const listing = await listWorkspace(root, [...DEFAULT_SECRET_FILE_PATTERNS, 'private/']);
    assert.deepEqual(sorted(listing.files), ['a.txt']);
    assert.deepEqual(listing.excluded, ['private/notes.txt']);
  });

  test('a workspace that does not exist is refused with an error naming workspace', async () => {
    const missing = path.join(makeTempDir(), 'nope');
    await assert.rejects(listWorkspace(missing, DEFAULT_SECRET_FILE_PATTERNS), (error: unknown) => {
      assert.ok(error instanceof AirlockError, `expected AirlockError, got ${String(error)}`);
      assert.equal(error.field, 'workspace');
      assert.equal(error.message, `workspace: ${missing} does not exist`);
      return true;
    });
  });

  test('a workspace that is a file is refused with an error naming workspace', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'file.txt': 'x' });
    await assert.rejects(listWorkspace(path.join(root, 'file.txt'), DEFAULT_SECRET_FILE_PATTERNS), (error: unknown) => {
      assert.ok(error instanceof AirlockError);
      assert.equal(error.field, 'workspace');
      assert.match(error.message, /is not a folder/);
      return true;
    });
  });

  test('the repository helper leaves a clean tree after the initial commit', () => {
    const root = makeTempDir();
    initRepo(root, { 'a.txt': 'a' });
    assert.equal(runGit(root, 'status', '--porcelain'), '');
  });
});

describe('secret patterns reach nested folders', () => {
  test('a nested .docker/config.json, .kube/config and gcloud folder are left out', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'home/.docker/config.json': '{}', 'home/.kube/config': 'x', 'home/.config/gcloud/creds.json': '{}', 'keep.txt': 'k' });
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual([...listing.files], ['keep.txt']);
    assert.deepEqual(listing.excluded, ['home/.config/gcloud/creds.json', 'home/.docker/config.json', 'home/.kube/config']);
  });
});

describe('credential files of common tools stay out of the box (issue 13 §10)', () => {
  const RED_TEAM = ['.pgpass', '.my.cnf', '.cargo/credentials.toml', '.config/gh/hosts.yml', 'terraform.tfvars.json'];
  const MORE = [
    '_netrc', '.config/git/credentials', '.cargo/credentials', '.gem/credentials', '.composer/auth.json', '.config/hub', '.config/github-copilot/apps.json',
    '.s3cfg', '.boto', 'rclone.conf', '.config/rclone/rclone.conf', '.mc/config.json', '.oci/config', '.databrickscfg', 'application_default_credentials.json',
    'client_secret_123.apps.googleusercontent.com.json', '.pulumi/credentials.json', '.terraform.d/credentials.tfrc.json', 'prod.auto.tfvars',
    '.config/doctl/config.yaml', '.fly/config.yml', '.wrangler/config/default.toml', '.config/netlify/config.json', '.circleci/cli.yml', 'ngrok.yml',
    '.dbt/profiles.yml', '.mylogin.cnf', 'pgpass.conf', '.dbeaver/credentials-config.json', 'wp-config.php', 'client.ovpn', 'AuthKey_ABC.p8', 'key.ppk',
    'release.bks', 'cert.pkcs12', '.gnupg/private-keys-v1.d/x.key', 'firebase-adminsdk-abc12.json', 'my-app-firebase-adminsdk-x1.json', '.dev.vars',
    'local.settings.json', '.streamlit/secrets.toml', 'home/.kube/config', 'k8s.kubeconfig', 'settings-security.xml', '.claude/.credentials.json',
  ];

  test('the red team files (.pgpass, .my.cnf, .cargo/credentials.toml, .config/gh/hosts.yml, terraform.tfvars.json) and the other tools\' credential files are left out and named', async () => {
    const root = makeTempDir();
    const all = [...RED_TEAM, ...MORE].flatMap((rel) => [rel, `nested/${rel}`]);
    writeFiles(root, { 'keep.txt': 'k\n', 'src/auth.json': '{"password": "Password", "login": "Log in"}\n', ...Object.fromEntries(all.map((rel) => [rel, 'secret\n'])) });
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    for (const rel of all) assert.ok(!listing.files.has(rel), `${rel} must not be copied`);
    assert.deepEqual(listing.excluded, sorted(all));
    // An app's own auth.json (translations) is not composer's and is copied.
    assert.deepEqual(sorted(listing.files), ['keep.txt', 'src/auth.json']);
  });

  test('the same files are left out of a git repository, tracked or not', async () => {
    const root = makeTempDir();
    initRepo(root, { 'keep.txt': 'k\n', ...Object.fromEntries(RED_TEAM.map((rel) => [rel, 'secret\n'])) });
    writeFiles(root, { 'untracked/.pgpass': 'x\n', 'untracked/.config/gh/hosts.yml': 'x\n' });
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(sorted(listing.files), ['keep.txt']);
    assert.deepEqual(listing.excluded, sorted([...RED_TEAM, 'untracked/.pgpass', 'untracked/.config/gh/hosts.yml']));
  });

  const CONFIGS: Array<[string, string, string]> = [
    ['gradle.properties', 'org.gradle.jvmargs=-Xmx2g\n', 'ossrhPassword=hunter2\n'],
    ['NuGet.config', '<configuration><packageSources><add key="n" value="https://api.nuget.org/v3/index.json" /></packageSources></configuration>\n', '<packageSourceCredentials><n><add key="ClearTextPassword" value="x" /></n></packageSourceCredentials>\n'],
    ['.m2/settings.xml', '<settings><localRepository>/tmp/m2</localRepository></settings>\n', '<settings><servers><server><id>x</id><password>p</password></server></servers></settings>\n'],
    ['.terraformrc', 'plugin_cache_dir = "/tmp/tf"\n', 'credentials "app.terraform.io" {\n  token = "abc"\n}\n'],
    ['profiles.yml', 'demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: dev.duckdb\n', 'demo:\n  outputs:\n    dev:\n      type: postgres\n      password: hunter2\n'],
    ['.sentryclirc', '[defaults]\norg = demo\n', '[auth]\ntoken = abc\n'],
    ['.pg_service.conf', '[dev]\nhost=localhost\ndbname=app\n', '[dev]\nhost=localhost\npassword=hunter2\n'],
    ['pip.conf', '[global]\nindex-url = https://pypi.org/simple\n', '[global]\nindex-url = https://user:s3cret@pypi.example/simple\n'],
    ['.bundle/config', '---\nBUNDLE_PATH: "vendor/bundle"\n', '---\nBUNDLE_GEMS__CONTRIBSYS__COM: "user:pass"\n'],
    ['auth.json', '{"greeting": "hi"}\n', '{"http-basic": {"repo.example": {"username": "u", "password": "p"}}}\n'],
  ];
  for (const [rel, clean, withCredential] of CONFIGS) {
    test(`${rel} is copied without a credential and left out with one`, async () => {
      const root = makeTempDir();
      writeFiles(root, { [`clean/${rel}`]: clean, [`dirty/${rel}`]: withCredential });
      const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
      assert.deepEqual(sorted(listing.files), [`clean/${rel}`]);
      assert.deepEqual(listing.excluded, [`dirty/${rel}`]);
    });
  }
});

describe('reading workspace config files cannot hang or exhaust the host', () => {
  test('an .npmrc that is a symlink to /dev/zero is left out at once', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'a.txt': 'a' });
    fs.symlinkSync('/dev/zero', path.join(root, '.npmrc'));
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(sorted(listing.files), ['a.txt']);
    assert.deepEqual(listing.excluded, ['.npmrc']);
  });

  test('an .npmrc that is a FIFO nobody writes to is left out at once', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'a.txt': 'a' });
    execFileSync('mkfifo', [path.join(root, '.npmrc')]);
    const listing = await listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS);
    assert.deepEqual(sorted(listing.files), ['a.txt']);
    assert.deepEqual(listing.excluded, ['.npmrc']);
  });

  test('a .gitignore that is a FIFO stops the listing with an error naming the workspace', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'a.txt': 'a' });
    execFileSync('mkfifo', [path.join(root, '.gitignore')]);
    await assert.rejects(listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS), (error: unknown) => {
      assert.ok(error instanceof AirlockError, `expected AirlockError, got ${String(error)}`);
      assert.equal(error.field, 'workspace');
      assert.match(error.message, /\.gitignore is not a regular file \(a FIFO\)/);
      return true;
    });
  });

  test('a .gitignore that links to /dev/zero stops the listing instead of reading forever', async () => {
    const root = makeTempDir();
    writeFiles(root, { 'a.txt': 'a' });
    fs.symlinkSync('/dev/zero', path.join(root, '.gitignore'));
    await assert.rejects(listWorkspace(root, DEFAULT_SECRET_FILE_PATTERNS), /\.gitignore resolves outside/);
  });
});
