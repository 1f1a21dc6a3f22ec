import assert from 'node:assert/strict';
import * as os from 'node:os';
import { describe, test } from 'node:test';
import { describeEngineDisk, engineDisk } from '../../src/core/engine/engineDisk.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

const here = { Name: os.hostname(), KernelVersion: os.release(), Runtimes: {} };

describe('where the engine keeps workspaces (doctor)', () => {
  test('an engine on this machine: the folders on the data root\'s file system are named, with the free space', () => {
    const dataRoot = makeTempDir('airlock-disk-root-');
    const beside = makeTempDir('airlock-disk-beside-');
    const disk = engineDisk({ ...here, DockerRootDir: dataRoot }, { 'state folder': `${beside}/not/made/yet`, home: beside, elsewhere: '/proc' });
    assert.equal(disk.local, true);
    assert.deepEqual(disk.sharesWith, ['state folder', 'home'], 'a folder not made yet counts where it would be made; /proc is another file system');
    assert.ok((disk.freeBytes ?? 0) > 0);
    assert.match(describeEngineDisk(disk), /on the same file system as your state folder and home: a task filling its workspace fills them too/);
    removeTempDirs();
  });

  test('an engine elsewhere (a VM, another host) is not checked against this machine\'s disks', () => {
    const disk = engineDisk({ ...here, Name: 'docker-desktop', DockerRootDir: '/var/lib/docker' }, { home: os.homedir() });
    assert.deepEqual(disk, { dataRoot: '/var/lib/docker', local: false, sharesWith: [] });
    assert.match(describeEngineDisk(disk), /on the engine's machine, not checked from here/);
    assert.match(describeEngineDisk(engineDisk(here, {})), /does not say where it keeps volumes/);
  });

  test('a data root on a file system of its own is said to fill only itself', () => {
    const disk = engineDisk({ ...here, DockerRootDir: '/proc' }, { home: makeTempDir('airlock-disk-home-') });
    assert.deepEqual(disk.sharesWith, []);
    assert.match(describeEngineDisk(disk), /on a file system of its own/);
    removeTempDirs();
  });
});
