import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type Docker from 'dockerode';
import { parseTaskOptions } from '../../src/core/config/taskOptions.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import { WORKSPACE_PATH } from '../../src/core/ground/sandboxPaths.js';
import type { ManifestEntry } from '../../src/core/snapshot/snapshotManifest.js';
import { deltaTooLarge, planDelta, type FileIdentity, type LoadedBase } from '../../src/core/snapshot/workspaceBase.js';
import type { WorkspaceListing } from '../../src/core/snapshot/workspaceListing.js';
import { assertHardened, buildContainerSpec } from '../../src/core/task/containerSpec.js';
import { BASE_MOUNT, LAYER_MOUNT, type WorkspaceLayers } from '../../src/core/task/workspaceLayers.js';

const layers: WorkspaceLayers = {
  baseVolume: 'airlock-base-0123456789abcdef-01234567',
  basePath: '/var/lib/docker/volumes/airlock-base-0123456789abcdef-01234567/_data',
  layerVolume: 'airlock-layer-0123abcd',
  layerPath: '/var/lib/docker/volumes/airlock-layer-0123abcd/_data',
};
const layeredSpec = () => structuredClone(buildContainerSpec({ id: '0123abcd', options: parseTaskOptions({ workspace: '/tmp/x' }), env: {}, expiresAt: new Date(Date.now() + 60_000), layers }));
const mounts = (spec: Docker.ContainerCreateOptions) => spec.HostConfig!.Mounts!;
const workspaceMount = (spec: Docker.ContainerCreateOptions) => mounts(spec).find((mount) => mount.Target === WORKSPACE_PATH)!;
const refused = (spec: Docker.ContainerCreateOptions, pattern: RegExp) =>
  assert.throws(() => assertHardened(spec), (error: unknown) => error instanceof AirlockError && pattern.test(error.message));

describe('a layered workspace in the container spec (unit)', () => {
  test('the workspace is an overlay over read-only base and layer mounts, and passes the hardening check', () => {
    const spec = layeredSpec();
    assert.equal(workspaceMount(spec).VolumeOptions?.DriverConfig?.Options?.type, 'overlay');
    assert.deepEqual(mounts(spec).filter((mount) => mount.Source).map((mount) => [mount.Source, mount.Target, mount.ReadOnly]), [[layers.baseVolume, BASE_MOUNT, true], [layers.layerVolume, LAYER_MOUNT, true]]);
    assert.doesNotThrow(() => assertHardened(spec));
  });

  test('a writable base mount is refused: a task could change what other tasks start from', () => {
    const spec = layeredSpec();
    mounts(spec).find((mount) => mount.Target === BASE_MOUNT)!.ReadOnly = false;
    refused(spec, /named volume airlock-base-.* could be shared/);
  });

  test('an overlay whose lower folder is any other host path is refused: it would expose that path to the box', () => {
    for (const lower of ['/etc', '/var/lib/docker/volumes/other/_data', '/home/user/project', `${layers.basePath}/../../airlock-base-x/_data`]) {
      const spec = layeredSpec();
      const options = workspaceMount(spec).VolumeOptions!.DriverConfig.Options;
      options.o = options.o.replace(/^lowerdir=[^,]+/, `lowerdir=${lower}`);
      refused(spec, /a volume driver config on \/workspace could bind a host path/);
    }
  });

  test('extra overlay options (a second lower layer, a bind) are refused', () => {
    for (const extra of [`lowerdir=/etc:${layers.basePath}`, 'bind']) {
      const spec = layeredSpec();
      const options = workspaceMount(spec).VolumeOptions!.DriverConfig.Options;
      options.o = extra.startsWith('lowerdir') ? options.o.replace(/^lowerdir=[^,]+/, extra) : `${options.o},${extra}`;
      refused(spec, /could bind a host path/);
    }
  });

  test('an overlay on a mount other than /workspace is refused', () => {
    const spec = layeredSpec();
    mounts(spec).push({ ...workspaceMount(spec), Target: '/opt' });
    refused(spec, /a volume driver config on \/opt could bind a host path/);
  });
});

const identity = (kind: FileIdentity['kind'], size: number, tick = '1000'): FileIdentity => ({ kind, size, mode: kind === 'dir' ? 0o755 : 0o644, mtimeNs: tick, ctimeNs: tick, ino: '7' });
const tuple = (id: FileIdentity) => [id.kind, id.size, id.mode, id.mtimeNs, id.ctimeNs, id.ino] as [FileIdentity['kind'], number, number, string, string, string];

function baseOf(entries: Array<[string, FileIdentity]>, readAtNs = '10000000000'): LoadedBase {
  const manifest: ManifestEntry[] = entries.map(([rel, id]) => ({ path: rel, type: id.kind, mode: id.mode, size: id.size, ...(id.kind === 'file' ? { sha256: 'a'.repeat(64), offset: 0 } : {}) }));
  return { key: 'k', index: { version: 1, volume: 'airlock-base-0123456789abcdef-01234567', workspace: '/w', user: '1000:1000', readAtNs, identities: Object.fromEntries(entries.map(([rel, id]) => [rel, tuple(id)])) }, manifest: { version: 1, root: '/w', createdAt: '', contentFile: '/c', entries: manifest } };
}
const listingOf = (files: string[], dirs: string[]): WorkspaceListing => ({ root: '/w', files: new Set(files), dirs: new Set(dirs), excluded: [] });

describe('planDelta (unit)', () => {
  const base = baseOf([['d', identity('dir', 0)], ['d/same.txt', identity('file', 3)], ['d/edit.txt', identity('file', 3)], ['gone', identity('dir', 0)], ['gone/x.txt', identity('file', 1)], ['old.txt', identity('file', 1)]]);

  test('same identity is kept; other size, time or inode is copied again; what is gone gets one whiteout at its top', () => {
    const identities = new Map<string, FileIdentity>([['d', identity('dir', 0)], ['d/same.txt', identity('file', 3)], ['d/edit.txt', identity('file', 4)], ['d/new.txt', identity('file', 2)]]);
    const plan = planDelta(base, listingOf(['d/same.txt', 'd/edit.txt', 'd/new.txt'], ['d']), identities);
    assert.deepEqual([...plan.listing.files].sort(), ['d/edit.txt', 'd/new.txt']);
    assert.deepEqual(plan.whiteouts.sort(), ['gone', 'old.txt']);
    assert.deepEqual(plan.kept.map((entry) => entry.path), ['d/same.txt']);
    assert.equal(plan.bytes, 6);
  });

  test('a file changed close to when the base read it is never trusted by its timestamps', () => {
    const racy = baseOf([['a.txt', identity('file', 3, '9950000000')]]);
    const plan = planDelta(racy, listingOf(['a.txt'], []), new Map([['a.txt', identity('file', 3, '9950000000')]]));
    assert.deepEqual([...plan.listing.files], ['a.txt']);
  });

  test('a folder that became a file hides its old contents without whiteouts below it', () => {
    const plan = planDelta(base, listingOf(['gone', 'd/same.txt', 'd/edit.txt', 'old.txt'], ['d']), new Map([['gone', identity('file', 5)], ['d', identity('dir', 0)], ['d/same.txt', identity('file', 3)], ['d/edit.txt', identity('file', 3)], ['old.txt', identity('file', 1)]]));
    assert.deepEqual(plan.whiteouts, []);
    assert.deepEqual([...plan.listing.files], ['gone']);
  });

  test('a delta above a quarter of the workspace asks for a fresh base', () => {
    const many = listingOf(Array.from({ length: 2000 }, (_, index) => `f${index}`), []);
    assert.equal(deltaTooLarge({ listing: many, kept: [], whiteouts: [], files: 600, bytes: 0 }, many, 1e9), true);
    assert.equal(deltaTooLarge({ listing: many, kept: [], whiteouts: [], files: 100, bytes: 1e6 }, many, 1e9), false);
  });
});
