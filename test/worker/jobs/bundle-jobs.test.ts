import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BundlePart } from '../../../src/protocol/job.js';
import { readChain } from '../../../src/worker/artifacts/bundle-chain.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { listRemoteRefs } from '../../../src/worker/git/list-refs.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import { git } from '../../helpers/fixtures.js';
import {
  advanceUpstream, bundleDone, bundleObjectCount, bundleRunner, bundleSpec, copyUpstream, downloadPart, expectCloneOf, newObjectCount, refsOf, startBundleStack,
  type BundleStack,
} from '../_bundle-stack.js';
import { recordingWrites } from './_lease.js';

let stack: BundleStack;

beforeAll(async () => {
  stack = await startBundleStack();
});

afterAll(async () => {
  await stack?.close();
});


/** A part without its signed URL (which changes with every signing). */
const stable = ({ filename, size, sha256 }: BundlePart): Omit<BundlePart, 'url'> => ({ filename, size, sha256 });


/** Keys of the .bundle objects uploaded through a recording store. */
const bundleUploads = (writes: string[]): string[] => writes.filter((key) => key.endsWith('.bundle'));

describe('a bundle job', () => {
  it('gives parts that, applied to an empty repository, hold every branch and tag of GET /refs; a repeat is served from the cache', async () => {
    const upstream = await copyUpstream(stack, 'full');
    const runner = bundleRunner(stack);
    const first = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    expect(first).toMatchObject({ cached: false, ref: 'main' });
    expect(first.parts).toHaveLength(1);
    expect(first).toMatchObject(stable(first.parts[0]!));

    const clone = await expectCloneOf(stack, upstream, first.parts, 'full');
    // Every oid GET /refs lists (annotated tags: the tag object and its commit) is in the clone.
    const listed = await listRemoteRefs(parseRepoUrl(upstream.url, stack.config), createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: stack.config.allowedHosts }));
    const oids = listed.refs.flatMap((ref) => [ref.oid, ...(ref.peeled ? [ref.peeled] : [])]);
    expect(listed.refs.some((ref) => ref.peeled)).toBe(true);
    for (const oid of oids) await git(['--git-dir', clone, 'cat-file', '-e', oid]);

    const again = bundleDone(await bundleRunner(stack).run(await bundleSpec(upstream), stack.store()));
    expect(again.cached).toBe(true);
    expect(again.parts.map(stable)).toEqual(first.parts.map(stable));
  });

  it('with the old tips as haves after upstream moved, sends one incremental part of only the new objects, built once', async () => {
    const upstream = await copyUpstream(stack, 'haves');
    const runner = bundleRunner(stack);
    const base = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    const oldTips = Object.values(await refsOf(upstream.gitDir));

    await advanceUpstream(upstream, 'one');
    const recorded = recordingWrites(stack.store());
    // An unknown have among them changes nothing: the old tips cover the chain's first link.
    const have = [...oldTips, 'e'.repeat(40)];
    const update = bundleDone(await runner.run(await bundleSpec(upstream, { have }), recorded.store));
    expect(update.cached).toBe(false);
    expect(update.parts).toHaveLength(1);
    expect(bundleUploads(recorded.writes)).toHaveLength(1);

    const file = await downloadPart(update.parts[0]!, stack.temp);
    const newTips = Object.values(await refsOf(upstream.gitDir));
    expect(bundleObjectCount(await readFile(file))).toBe(await newObjectCount(upstream.gitDir, newTips, oldTips));
    // The client's old state plus the update is the new upstream.
    await expectCloneOf(stack, upstream, [...base.parts, ...update.parts], 'haves-update');

    // A fresh clone at the new state gets the old full bundle and the incremental one, both cached.
    const fresh = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    expect(fresh.cached).toBe(true);
    expect(fresh.parts.map(stable)).toEqual([...base.parts, ...update.parts].map(stable));
    await expectCloneOf(stack, upstream, fresh.parts, 'haves-fresh');

    // A client that has everything gets no parts.
    const current = bundleDone(await runner.run(await bundleSpec(upstream, { have: newTips }), stack.store()));
    expect(current).toMatchObject({ parts: [], url: '', filename: '', size: 0 });
  });

  it('with haves given as commits (annotated tags peeled), still sends only what the client lacks', async () => {
    const upstream = await copyUpstream(stack, 'peeled-haves');
    const runner = bundleRunner(stack);
    const base = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    const oldTips = Object.values(await refsOf(upstream.gitDir));
    const oldCommits = (await git(['--git-dir', upstream.gitDir, 'rev-parse', ...oldTips.map((oid) => `${oid}^{commit}`)])).split('\n').filter(Boolean);
    expect(oldCommits).not.toEqual(oldTips); // the fixture has an annotated tag

    await advanceUpstream(upstream, 'two');
    const update = bundleDone(await runner.run(await bundleSpec(upstream, { have: oldCommits }), stack.store()));
    expect(update.parts).toHaveLength(1);
    const file = await downloadPart(update.parts[0]!, stack.temp);
    // What the peeled commits do not reach: the new objects, and the old tag object the client has too
    // (its id was not among the haves), which git bundles again because refs/tags/v1.0.0 is listed.
    const newTips = Object.values(await refsOf(upstream.gitDir));
    expect(bundleObjectCount(await readFile(file))).toBe(await newObjectCount(upstream.gitDir, newTips, oldCommits));
    await expectCloneOf(stack, upstream, [...base.parts, ...update.parts], 'peeled-haves');
  });

  it('reports the bundle phases in order, whether it builds a chain link or a standalone bundle', async () => {
    const upstream = await copyUpstream(stack, 'phases');
    for (const extra of [{}, { refs: ['refs/heads/main'] }]) {
      const phases: string[] = [];
      const outcome = await bundleRunner(stack).run(await bundleSpec(upstream, extra), stack.store(), [
        (message) => {
          const mark = message.type === 'progress' ? message.phase : message.type;
          if (phases.at(-1) !== mark) phases.push(mark);
        },
      ]);
      bundleDone(outcome);
      expect(phases).toEqual(['queued', 'resolving', 'fetching', 'bundling', 'uploading', 'signing', 'done']);
    }
  });

  it('ignores haves the repository does not have: the bundle is complete', async () => {
    const upstream = await copyUpstream(stack, 'unknown-haves');
    const result = bundleDone(await bundleRunner(stack).run(await bundleSpec(upstream, { have: ['e'.repeat(40), 'f'.repeat(64)] }), stack.store()));
    expect(result.parts).toHaveLength(1);
    const file = await downloadPart(result.parts[0]!, stack.temp);
    expect(bundleObjectCount(await readFile(file))).toBe(await newObjectCount(upstream.gitDir, ['--all'], []));
    await expectCloneOf(stack, upstream, result.parts, 'unknown-haves');
  });

  it('with `refs`, bundles only those refs, and fails with REF_NOT_FOUND for a ref the repository lacks', async () => {
    const upstream = await copyUpstream(stack, 'named-refs');
    const runner = bundleRunner(stack);
    const result = bundleDone(await runner.run(await bundleSpec(upstream, { refs: ['refs/heads/release', 'refs/tags/v1.0.0'] }), stack.store()));
    const file = await downloadPart(result.parts[0]!, stack.temp);
    const heads = (await git(['bundle', 'list-heads', file])).split('\n').filter(Boolean).map((line) => line.split(' ')[1]);
    expect(heads.sort()).toEqual(['refs/heads/release', 'refs/tags/v1.0.0']);
    // Not the chain's business: no chain is written for a partial request.
    expect(await readChain(stack.store(), upstream.prefix, upstream.canonical)).toBeUndefined();

    const missing = await runner.run(await bundleSpec(upstream, { refs: ['refs/heads/nope'] }), stack.store());
    expect(missing.state).toMatchObject({ status: 'error', error: { code: 'REF_NOT_FOUND', message: expect.stringContaining('refs/heads/nope') } });
  });
});
