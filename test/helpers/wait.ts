/**
 * Polls `probe` until it yields a value (anything but `undefined` or `false`) and resolves with it;
 * rejects after `timeoutMs`, naming `what` it waited for.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = 'condition',
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Polls GET `base`/jobs/`jobId` until the job is done or failed, and resolves with that state. */
export async function waitForJob(base: string, jobId: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  let lastError: unknown;
  try {
    return await waitFor(
      async () => {
        // A runtime being replaced refuses connections for a moment; the next poll asks again.
        const state = await fetch(`${base}/jobs/${jobId}`)
          .then((response) => response.json() as Promise<Record<string, unknown>>)
          .catch((error: unknown) => void (lastError = error));
        return state?.status === 'done' || state?.status === 'error' ? state : undefined;
      },
      timeoutMs,
      `job ${jobId} to finish`,
    );
  } catch (error) {
    throw lastError === undefined ? error : new Error(`${(error as Error).message}; the last failed poll: ${String(lastError)}`);
  }
}

/** GET /jobs/:id on `base`; undefined while the runtime is being replaced (the connection fails), so a poll asks again. */
export async function jobState(base: string, jobId: string): Promise<Record<string, unknown> | undefined> {
  const response = await fetch(`${base}/jobs/${jobId}`).catch(() => undefined);
  return response?.ok ? ((await response.json()) as Record<string, unknown>) : undefined;
}
