import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type Docker from 'dockerode';
import { engineEventSchema, openEngineEvents, type EngineEvent } from '../../src/core/engine/engineEvents.js';

/** A `getEvents` that hands out one stream the test writes into, and records the filters asked for. */
function fakeEngine() {
  const stream = new PassThrough();
  const asked: unknown[] = [];
  const docker = { getEvents: async (options: unknown) => { asked.push(options); return stream; } } as unknown as Pick<Docker, 'getEvents'>;
  return { docker, stream, asked };
}

const die = { status: 'die', id: 'c1', Type: 'container', Action: 'die', Actor: { ID: 'c1', Attributes: { 'airlock.task': 'abcd1234', exitCode: '0' } }, scope: 'local', time: 1, timeNano: 1_000_000_000 };

describe('engine event stream (unit)', () => {
  test('the schema reads a die event with its attributes, and null attributes as none', () => {
    const parsed = engineEventSchema.parse(die);
    assert.deepEqual([parsed.Action, parsed.Actor.ID, parsed.Actor.Attributes.exitCode], ['die', 'c1', '0']);
    assert.deepEqual(engineEventSchema.parse({ ...die, Actor: { ID: 'c1', Attributes: null } }).Actor.Attributes, {});
    assert.equal(engineEventSchema.safeParse({ Type: 'container' }).success, false);
  });

  test('events split across chunks are put back together; lines it cannot read are skipped', async () => {
    const { docker, stream, asked } = fakeEngine();
    const seen: EngineEvent[] = [];
    const events = await openEngineEvents(docker, { type: ['container'], label: ['airlock.task'] }, (event) => seen.push(event));
    assert.deepEqual(asked, [{ filters: { type: ['container'], label: ['airlock.task'] } }]);
    const line = JSON.stringify(die);
    stream.write(line.slice(0, 20));
    stream.write(`${line.slice(20)}\nnot json\n${JSON.stringify({ Type: 'container' })}\n\n`);
    stream.write(`${JSON.stringify({ ...die, Action: 'destroy' })}\n`);
    stream.end();
    await events.ended;
    assert.deepEqual(seen.map((event) => event.Action), ['die', 'destroy']);
  });

  test('dispose destroys the stream, ends quietly and delivers nothing more', async () => {
    const { docker, stream } = fakeEngine();
    const seen: string[] = [];
    const events = await openEngineEvents(docker, {}, (event) => seen.push(event.Action));
    events.dispose();
    assert.equal(stream.destroyed, true);
    await events.ended;
    assert.deepEqual(seen, []);
  });

  test('a failing connection rejects `ended`, even when nobody awaited it yet', async () => {
    const { docker, stream } = fakeEngine();
    const events = await openEngineEvents(docker, {}, () => undefined);
    stream.destroy(new Error('socket hang up'));
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(events.ended, /socket hang up/);
  });
});
