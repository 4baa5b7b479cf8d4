// Hostile load against the quotas (src/worker/quotas/) through real local stacks, each with one quota turned
// down through the worker's environment (the embedded stack turns the per-client ones off unless told):
//   - FERRY_RATE_LIMIT=1: a second job in the minute is 429 RATE_LIMITED, whatever deviceId it names;
//   - FERRY_DAILY_BUDGET_BYTES=1: once one job is served, the next is 503 BUDGET_EXHAUSTED;
//   - FERRY_MIN_FREE_BYTES larger than any disk: the job fails 507 INSUFFICIENT_STORAGE before fetching;
//   - FERRY_MAX_ARCHIVE_BYTES=1: the artifact is stopped on its way to storage, the job fails 413 TOO_LARGE.
// FERRY_MAX_FETCH_BYTES is not here: it counts the bytes git reports in its progress lines, which a fetch of a
// fixture this small may end before printing (test/worker/quotas/job-limits.test.ts covers it).
// Refusals at submit carry Retry-After and the same `retryAfter` in the JSON body. 503 BUSY is not here: the
// stack dispatches jobs to the FC emulator, and FERRY_MAX_PENDING is checked only when a worker runs its own jobs
// (test/worker/quotas/admission.test.ts covers it).
import { afterAll, beforeAll, expect } from 'vitest';
import { waitForJob } from '../helpers/wait.js';
import { hostileTable, readAnswer, readJobError, send, type Answer, type Row } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

let rate: HostileStack;
let budget: HostileStack;
let disk: HostileStack;
let large: HostileStack;
beforeAll(async () => {
  [rate, budget, disk, large] = await Promise.all([
    startHostileStack({ workerEnv: { FERRY_RATE_LIMIT: '1' } }),
    startHostileStack({ workerEnv: { FERRY_DAILY_BUDGET_BYTES: '1' } }),
    startHostileStack({ workerEnv: { FERRY_MIN_FREE_BYTES: String(2 ** 52) } }),
    startHostileStack({ workerEnv: { FERRY_MAX_ARCHIVE_BYTES: '1' } }),
  ]);
}, 120_000);
afterAll(() => Promise.all([rate, budget, disk, large].map((s) => s?.close())));

type Fields = (s: HostileStack) => Record<string, unknown>;

/** POST /jobs; a refusal must carry Retry-After (1 s to a day) and the same number as `retryAfter` in its body. */
async function submit(s: HostileStack, fields: Record<string, unknown>): Promise<Answer> {
  const res = await send(s.stack.api, { method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) });
  const answer = readAnswer(res);
  if (res.status === 429 || res.status === 503 || res.status === 507) {
    const seconds = Number(res.headers['retry-after']);
    expect(seconds, 'Retry-After').toBeGreaterThanOrEqual(1);
    expect(seconds, 'Retry-After').toBeLessThanOrEqual(86_400);
    expect(JSON.parse(res.body)).toMatchObject({ retryAfter: seconds });
  }
  return answer;
}

/** Submits and, when the job was accepted, waits for its end: the failed job's answer, or the accepted one. */
async function finished(s: HostileStack, fields: Record<string, unknown>): Promise<Answer> {
  const accepted = await submit(s, fields);
  const jobId = (JSON.parse(accepted.text.slice(accepted.text.indexOf('\n\n') + 2)) as { jobId?: string }).jobId;
  if (accepted.status >= 300 || !jobId) return accepted;
  const state = await waitForJob(s.stack.api, jobId);
  return state.status === 'done' ? accepted : readJobError(state);
}

/** The job after `first`: the wall clock may cross into the next minute between two (that one is admitted), a third is not. */
function afterOne(name: string, first: Fields, next: Fields, status: number, code: string, message: RegExp, waitForFirst = false): Row<HostileStack> {
  return {
    name,
    async send(s) {
      const firstAnswer = waitForFirst ? await finished(s, first(s)) : await submit(s, first(s));
      if (firstAnswer.status >= 300 && firstAnswer.code !== code) return firstAnswer;
      let answer = await submit(s, next(s));
      if (answer.status < 300) answer = await submit(s, next(s));
      return answer;
    },
    status,
    code,
    message,
    asksGit: true,
  };
}

function failing(name: string, fields: Fields, status: number, code: string, message: RegExp): Row<HostileStack> {
  return { name, send: (s) => finished(s, fields(s)), status, code, message, asksGit: true };
}

const RATE = /has asked for \d+ jobs this minute, the limit of 1 \(FERRY_RATE_LIMIT\): try again in \d+ s/;
const BUDGET = /has served its daily budget of .* \(FERRY_DAILY_BUDGET_BYTES\) for \d{4}-\d{2}-\d{2}: new jobs are taken again from 00:00 UTC/;
const DISK = /less than the .* it keeps before fetching \(FERRY_MIN_FREE_BYTES\)/;
const LARGE = /is larger than this service's limit of 1 B/;

const archive: Fields = (s) => ({ url: s.repo });
const bundle: Fields = (s) => ({ kind: 'bundle', url: s.repo });

hostileTable(
  'hostile load against FERRY_RATE_LIMIT=1',
  [
    afterOne('a second archive in the minute', archive, archive, 429, 'RATE_LIMITED', RATE),
    afterOne('a bundle after an archive', archive, bundle, 429, 'RATE_LIMITED', RATE),
    afterOne('another deviceId does not escape the limit', archive, (s) => ({ url: s.repo, deviceId: `escape-${Date.now()}` }), 429, 'RATE_LIMITED', RATE),
    afterOne('a job of an unknown repository is counted too', archive, (s) => ({ url: `${s.git.url}/fixtures/none` }), 429, 'RATE_LIMITED', RATE),
  ],
  () => rate.stage(),
);

hostileTable(
  'hostile load against FERRY_DAILY_BUDGET_BYTES=1',
  [
    afterOne('an archive after the budget is spent', archive, archive, 503, 'BUDGET_EXHAUSTED', BUDGET, true),
    afterOne('a bundle after the budget is spent', archive, bundle, 503, 'BUDGET_EXHAUSTED', BUDGET, true),
  ],
  () => budget.stage(),
);

hostileTable(
  'hostile load against FERRY_MIN_FREE_BYTES of 4 PiB',
  [failing('an archive with no disk room', archive, 507, 'INSUFFICIENT_STORAGE', DISK), failing('a bundle with no disk room', bundle, 507, 'INSUFFICIENT_STORAGE', DISK)],
  () => disk.stage(),
);

hostileTable(
  'hostile load against FERRY_MAX_ARCHIVE_BYTES=1',
  [failing('an archive larger than the limit', archive, 413, 'TOO_LARGE', LARGE), failing('a bundle larger than the limit', bundle, 413, 'TOO_LARGE', LARGE)],
  () => large.stage(),
);
