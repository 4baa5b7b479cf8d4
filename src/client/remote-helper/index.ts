export { fetchThroughFerry, localHaves, REMOTE_CHANGED, type FetchOutcome, type FetchRequest } from './fetch.js';
export { listLines } from './list.js';
export { createProgress, type HelperProgress } from './progress.js';
export { serveHelper, type HelperSession } from './protocol.js';
