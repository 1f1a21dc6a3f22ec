import * as fs from 'node:fs';
import { BaseSnapshot } from './src/core/snapshot/snapshotManifest';
const f = process.argv[2];
let t = Date.now(); const text = fs.readFileSync(f, 'utf8'); const raw = JSON.parse(text); console.log('read+parse', Date.now() - t);
t = Date.now(); const b = BaseSnapshot.load(f); console.log('load (zod)', Date.now() - t, b.entries.size);
