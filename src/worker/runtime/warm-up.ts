import type { ApiHandler } from '../api/context.js';
import type { Credentials } from '../../protocol/credentials.js';
import type { StoreFor } from '../storage/stores.js';
import type { GitContext } from '../git/context.js';
import type { ObjectStore } from '../storage/oss-store.js';
import { abortDeadUploads } from '../storage/upload-records.js';

export interface WarmUpDeps {
  api: ApiHandler;
  git: GitContext;
  /** Throws when storage is not configured (then there is nothing to warm). */
  storeFor: StoreFor;
  /** Multipart uploads whose record was not renewed for this long are aborted (upload-records.ts). */
  deadUploadMs?: number;
  log?: (line: string) => void;
}

// What the first request on a fresh instance would otherwise pay for (undici's classes, the transport
// probe, git's version, the OSS SDK and its keep-alive connection). Best effort: failures are only logged.
export async function warmUp(deps: WarmUpDeps, credentials: Credentials | undefined): Promise<void> {
  deps.git.transport();
  const steps = await Promise.allSettled([
    // An unusable git is reported at start; every job then gets GIT_FAILED.
    deps.git.assertSupportedGit(),
    (async () => {
      await (await deps.api(new Request('http://warm-up.invalid/healthz'), { credentials: undefined, requestId: 'warm-up' })).text();
      let store: ObjectStore;
      try {
        store = deps.storeFor(credentials);
      } catch {
        return; // no storage yet: the worker answers 503 STORAGE_NOT_CONFIGURED until it has some
      }
      // A key that never exists: the answer is a 404, read as "absent".
      await store.getText('jobs/.warm-up');
      // Uploads a dead instance left unfinished: aborted by whichever instance starts next.
      if (deps.deadUploadMs !== undefined) {
        const aborted = await abortDeadUploads(store, { staleAfterMs: deps.deadUploadMs });
        if (aborted > 0) deps.log?.(`uploads: aborted ${aborted} unfinished multipart upload(s) of dead workers`);
      }
    })(),
  ]);
  const failures = steps.flatMap((step) => (step.status === 'rejected' ? [step.reason as unknown] : []));
  if (failures.length > 0) throw new AggregateError(failures, failures.map((failure) => String(failure)).join('; '));
}
