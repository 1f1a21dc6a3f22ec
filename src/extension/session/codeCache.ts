import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

/**
 * Loads a sibling bundle (dist/core.js) with V8's code cache, so that a later `require` of it
 * finds it loaded. Measured on this machine: core.js took 100–190 ms to load plainly and 50–100 ms
 * from a cache, most of the difference being the parse of 1.5 MB and the compile of the functions
 * its first use runs.
 *
 * Best effort by design: whatever goes wrong (no bundle next to this one, as in the unit tests; an
 * unreadable or rejected cache; a folder that cannot be written) leaves the plain `require` to
 * load the file as it always would. The cache is in the extension's own storage, which only the
 * user can write, and V8 checks it against the source before using any of it.
 */
export interface CodeCache {
  /**
   * Puts `file` in require's cache, compiled from the code cache when there is one. Says how:
   * `cached` (V8 took the cache), `compiled` (no cache, or V8 refused it), `skipped` (already
   * loaded, or no such file), `failed` (the plain require will load it).
   */
  preload(file: string): 'cached' | 'compiled' | 'skipped' | 'failed';
  /** Writes the cache of every file preloaded without a usable one (call once the first use ran). */
  save(): void;
}

export function codeCache(folder: string, log: (line: string) => void): CodeCache {
  const unsaved: { script: vm.Script; name: string; cacheFile: string }[] = [];
  return {
    preload(file) {
      const moduleCache = (Module as unknown as { _cache: Record<string, unknown> })._cache;
      if (moduleCache[file] || !fs.existsSync(file)) return 'skipped';
      try {
        const source = fs.readFileSync(file, 'utf8');
        const name = path.basename(file);
        const cacheFile = path.join(folder, `${name}.${cacheKey(name, source)}.v8`);
        const cachedData = readIfThere(cacheFile);
        const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
        const loaded = new Module(file);
        loaded.filename = file;
        loaded.paths = (Module as unknown as { _nodeModulePaths(from: string): string[] })._nodeModulePaths(path.dirname(file));
        const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
        wrapper.call(loaded.exports, loaded.exports, Module.createRequire(file), loaded, file, path.dirname(file));
        loaded.loaded = true;
        moduleCache[file] = loaded;
        if (cachedData && !script.cachedDataRejected) return 'cached';
        unsaved.push({ script, name, cacheFile });
        return 'compiled';
      } catch (error) {
        // The plain require loads it (or reports why it cannot) in the usual way.
        log(`code cache: ${path.basename(file)} loads without it: ${error instanceof Error ? error.message : String(error)}`);
        return 'failed';
      }
    },
    save() {
      for (const { script, name, cacheFile } of unsaved.splice(0)) {
        try {
          fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
          // One cache per bundle: the one for an older build goes.
          for (const old of fs.readdirSync(folder)) if (old.startsWith(`${name}.`) && old.endsWith('.v8')) fs.rmSync(path.join(folder, old), { force: true });
          const temporary = `${cacheFile}.${process.pid}.tmp`;
          fs.writeFileSync(temporary, script.createCachedData(), { mode: 0o600 });
          fs.renameSync(temporary, cacheFile);
        } catch (error) {
          log(`code cache: not saved: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    },
  };
}

/** A cache made by another node, for another build of the file, is never offered to V8. */
function cacheKey(name: string, source: string): string {
  return crypto.createHash('sha256').update(`${process.version}\0${process.arch}\0${name}\0`).update(source).digest('hex').slice(0, 16);
}

function readIfThere(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}
