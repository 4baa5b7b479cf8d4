// @ts-check
// No secret anywhere: the client APIs are anonymous and rate limited (docs/web.md).
import { ApiError, createApi } from './api.js';
import { GatewayClient, randomDeviceId } from './gateway.js';
import { describeError, detectLang, setLang, t, translatePage } from './i18n.js';
import { applyMessage, applyState, checkRef, checkRepoUrl, fileTargetOf, isActive, jobFromSubmit, JobStore, shortRepo } from './jobs.js';
import { JobListView, showFormError } from './view.js';
import { parseMessage } from './protocol/job-messages.js';

/** @typedef {import('./jobs.js').Job} Job */
/** @typedef {import('./jobs.js').Format} Format */

const DEVICE_KEY = 'ferry.device';
/** Without a push channel for a job, ask for its state this often. */
const POLL_MS = 1500;
/** With one, ask only after this much silence (a push lost while reconnecting). */
const BACKSTOP_MS = 10_000;

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`#${id} is missing from index.html`);
  return el;
}

const form = byId('job-form', HTMLFormElement);
const urlInput = byId('url', HTMLInputElement);
const refInput = byId('ref', HTMLInputElement);
const urlHint = byId('url-hint', HTMLElement);
const refHint = byId('ref-hint', HTMLElement);
const submitButton = byId('submit', HTMLButtonElement);
const formError = byId('form-error', HTMLElement);
const list = byId('job-list', HTMLElement);
const empty = byId('empty', HTMLElement);
const clearButton = byId('clear', HTMLButtonElement);
const jobsTitle = byId('jobs-title', HTMLElement);
const link = byId('link', HTMLElement);
const linkText = byId('link-text', HTMLElement);
const banner = byId('banner', HTMLElement);
const announcer = byId('announcer', HTMLElement);

const store = new JobStore();
store.load();

/** When we last learned something about each job (push or poll). */
const lastHeard = new Map();
const polling = new Set();
/** @type {Map<string, { at: number, messages: import('./protocol/job.js').JobMessage[] }>} */
const early = new Map();
let pollPausedUntil = 0;
/** @type {{ code: string, message: string } | undefined} */
let lastFormError;

const endpoints = gatewayEndpoints();
const gateway = new GatewayClient({
  url: endpoints.ws,
  deviceId: loadDeviceId(),
  newDeviceId: randomDeviceId,
  onDeviceId: saveDeviceId,
  onPush,
  onState: showLinkState,
});
const api = createApi(gateway, endpoints.http);

/**
 * By default the host that served the page; a page hosted elsewhere names it in `<meta name="ferry-gateway">`,
 * set at deploy time, never from the URL, so a link cannot point the page at someone else's gateway.
 * @returns {{ ws: string, http: string }}
 */
function gatewayEndpoints() {
  const configured = document.querySelector('meta[name="ferry-gateway"]')?.getAttribute('content')?.trim();
  if (configured) {
    const url = new URL(configured);
    if (url.protocol === 'wss:' || url.protocol === 'ws:') {
      return { ws: url.href, http: `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}` };
    }
  }
  return { ws: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/`, http: '' };
}
const view = new JobListView(list, byId('job-template', HTMLTemplateElement), { remove, retry: (job) => void submit(job.input, job.inputRef, job.format === 'tar.gz' || job.format === 'file' ? job.format : 'zip'), copy });

setLang(detectLang());
updateLangButtons();
showLinkState(gateway.state);
render();
gateway.start();
setInterval(tick, 1000);
tick();

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const chosen = new FormData(form).get('format');
  const format = /** @type {Format} */ (chosen === 'file' || chosen === 'tar.gz' ? chosen : 'zip');
  const urlProblem = format === 'file' ? (urlInput.value.trim() ? undefined : 'hint.url.empty') : checkRepoUrl(urlInput.value);
  // A file link names its own version: a ref beside it would be ignored, so say so instead.
  const refProblem = format === 'file' && refInput.value.trim() ? 'hint.ref.file' : checkRef(refInput.value);
  setHint(urlInput, urlHint, urlProblem);
  setHint(refInput, refHint, refProblem);
  if (urlProblem || refProblem) {
    // The server's answer to an earlier submit is not about what the hint points at.
    setFormError(undefined);
    (urlProblem ? urlInput : refInput).focus();
    return;
  }
  void submit(urlInput.value.trim(), refInput.value.trim(), format);
});
// A hint goes away as soon as the input is fixed, not only on the next submit; so does the server's error
// about the previous input.
urlInput.addEventListener('input', () => {
  pickFormatFor(urlInput.value);
  if (lastFormError) setFormError(undefined);
  if (urlHint.textContent) setHint(urlInput, urlHint, checkRepoUrl(urlInput.value));
});
refInput.addEventListener('input', () => {
  if (lastFormError) setFormError(undefined);
  if (refHint.textContent) setHint(refInput, refHint, checkRef(refInput.value));
});

clearButton.addEventListener('click', () => {
  store.clearFinished();
  render();
  jobsTitle.focus();
});

for (const button of document.querySelectorAll('[data-lang]')) {
  button.addEventListener('click', () => {
    setLang(button.getAttribute('data-lang') === 'en' ? 'en' : 'zh-CN', { save: true });
    updateLangButtons();
    showFormError(formError, lastFormError);
    render();
  });
}

/**
 * @param {string} url
 * @param {string} ref
 * @param {Format} format
 */
async function submit(url, ref, format) {
  submitButton.disabled = true;
  submitButton.setAttribute('aria-busy', 'true');
  const label = submitButton.querySelector('[data-i18n]');
  label?.setAttribute('data-i18n', 'form.submitting');
  translatePage(submitButton);
  setFormError(undefined);
  try {
    const deviceId = gateway.deviceId;
    // The 202 carries no createdAt: count from the click, which includes resolving the ref.
    const startedAt = Date.now();
    const request = format === 'file' ? { kind: /** @type {const} */ ('file'), url, deviceId } : { url, format, deviceId, ...(ref ? { ref } : {}) };
    const { json } = await api.submit(request, {
      onRetry: () => {
        label?.setAttribute('data-i18n', 'form.retrying');
        translatePage(submitButton);
      },
    });
    let job = jobFromSubmit(json, { input: url, inputRef: ref, format, deviceId, now: startedAt });
    if (!job.jobId) throw new ApiError('INTERNAL', 'The server answered without a job id.', 200);
    for (const message of early.get(job.jobId)?.messages ?? []) job = applyMessage(job, message) ?? job;
    early.delete(job.jobId);
    lastHeard.set(job.jobId, Date.now());
    store.put(job);
    render();
    announce(job.status === 'done' ? t('announce.done', { repo: shortRepo(job.repo) }) : t('announce.phase', { repo: shortRepo(job.repo), phase: t(`phase.${job.phase ?? 'queued'}`) }));
  } catch (error) {
    setFormError(error instanceof ApiError ? { code: error.code, message: error.message } : { code: 'INTERNAL', message: String(error) });
  } finally {
    submitButton.disabled = false;
    submitButton.removeAttribute('aria-busy');
    label?.setAttribute('data-i18n', 'form.submit');
    translatePage(submitButton);
  }
}

/** The format the page chose by itself for the last URL: a choice of the user's own is left alone. */
let autoFormat = false;

/**
 * A pasted file link (release asset, raw, /blob/, source archive, gist) selects "File"; a repository URL after
 * it goes back to zip. Any other URL may be fetched as a file by choosing "File" by hand.
 * @param {string} value
 */
function pickFormatFor(value) {
  const fileRadio = byId('format-file', HTMLInputElement);
  const zipRadio = byId('format-zip', HTMLInputElement);
  if (fileTargetOf(value)) {
    if (!fileRadio.checked) {
      fileRadio.checked = true;
      autoFormat = true;
    }
  } else if (autoFormat && fileRadio.checked) {
    zipRadio.checked = true;
    autoFormat = false;
  }
}
form.addEventListener('change', (event) => {
  if (event.target instanceof HTMLInputElement && event.target.name === 'format') autoFormat = false;
});

/** @param {string} text */
function onPush(text) {
  const message = parseMessage(text);
  if (!message) return;
  const job = store.get(message.jobId);
  if (!job) {
    // Our own POST may still be on its way back; keep the push for a moment.
    const now = Date.now();
    for (const [id, entry] of early) if (now - entry.at > 60_000) early.delete(id);
    const entry = early.get(message.jobId) ?? { at: now, messages: [] };
    if (entry.messages.length < 100) entry.messages.push(message);
    early.set(message.jobId, entry);
    return;
  }
  lastHeard.set(job.jobId, Date.now());
  const next = applyMessage(job, message);
  if (next) commit(job, next);
}

/**
 * @param {Job} previous
 * @param {Job} next
 */
function commit(previous, next) {
  // localStorage only on a new status or phase: progress ticks arrive several times a second.
  store.put(next, next.status !== previous.status || next.phase !== previous.phase);
  view.update(next, Date.now());
  if (previous.status !== next.status) render();
  const repo = shortRepo(next.repo);
  if (next.retrying && !previous.retrying) announce(t('announce.retrying', { repo }));
  else if (next.resumed && !previous.resumed) announce(t('announce.resumed', { repo }));
  else if (next.status === 'done' && previous.status !== 'done') announce(t('announce.done', { repo }));
  else if (next.status === 'error' && previous.status !== 'error') announce(t('announce.error', { repo, title: describeError(next.error?.code ?? 'INTERNAL').title }));
  else if (isActive(next) && next.phase !== previous.phase) announce(t('announce.phase', { repo, phase: t(`phase.${next.phase ?? 'queued'}`) }));
}

/** @param {Job} job */
async function poll(job) {
  if (polling.has(job.jobId)) return;
  polling.add(job.jobId);
  try {
    const { json } = await api.get(job.jobId);
    lastHeard.set(job.jobId, Date.now());
    const current = store.get(job.jobId);
    if (!current) return;
    const next = applyState(current, json);
    if (next !== current) commit(current, next);
  } catch (error) {
    const code = error instanceof ApiError ? error.code : 'NETWORK';
    const current = store.get(job.jobId);
    if (code === 'JOB_NOT_FOUND' && current) {
      commit(current, { ...current, status: 'error', error: { code, message: error instanceof Error ? error.message : '' }, finishedAt: Date.now() });
    } else if (code === 'RATE_LIMITED') {
      pollPausedUntil = Date.now() + 15_000;
    } else {
      // Network trouble or a server hiccup: the job is not lost, ask again a little later.
      pollPausedUntil = Date.now() + 3_000;
    }
  } finally {
    polling.delete(job.jobId);
  }
}

function tick() {
  const now = Date.now();
  for (const job of store.list()) {
    if (!isActive(job)) continue;
    const pushed = gateway.state === 'online' && job.deviceId === gateway.deviceId;
    const quiet = now - (lastHeard.get(job.jobId) ?? 0);
    if (now >= pollPausedUntil && quiet > (pushed ? BACKSTOP_MS : POLL_MS)) void poll(job);
  }
  // Elapsed times and expiry countdowns move on their own.
  view.render(store.list(), now);
}

function render() {
  const jobs = store.list();
  view.render(jobs, Date.now());
  empty.hidden = jobs.length > 0;
  clearButton.hidden = !jobs.some((job) => !isActive(job));
}

/** @param {Job} job */
function remove(job) {
  store.remove(job.jobId);
  lastHeard.delete(job.jobId);
  render();
  jobsTitle.focus();
}

/**
 * @param {string} text
 * @param {HTMLElement} button
 */
async function copy(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // No clipboard API on plain http:// beyond localhost: fall back to a selection.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'sr-only';
    document.body.append(area);
    area.select();
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    area.remove();
  }
  const message = ok ? t('done.copied') : t('done.copyFailed');
  announce(message);
  button.dataset.flash = ok ? 'ok' : 'failed';
  const isText = button.classList.contains('copy-link');
  if (isText) button.textContent = message;
  else button.title = message;
  setTimeout(() => {
    delete button.dataset.flash;
    render();
  }, 1600);
}

/** @param {import('./gateway.js').LinkState} state */
function showLinkState(state) {
  link.dataset.state = state;
  linkText.setAttribute('data-i18n', `link.${state}`);
  translatePage(link);
  banner.hidden = state !== 'reconnecting';
  if (state === 'online') {
    // Pushes sent while we were away are lost: catch up on every running job now.
    for (const job of store.list()) if (isActive(job)) lastHeard.delete(job.jobId);
    pollPausedUntil = 0;
    tick();
  }
}

function updateLangButtons() {
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.setAttribute('aria-pressed', String(button.getAttribute('data-lang') === document.documentElement.lang));
  }
}

/**
 * @param {HTMLInputElement} input
 * @param {HTMLElement} hint
 * @param {string | undefined} key
 */
function setHint(input, hint, key) {
  if (key) {
    hint.setAttribute('data-i18n', key);
    hint.textContent = t(key);
    input.setAttribute('aria-invalid', 'true');
  } else {
    hint.removeAttribute('data-i18n');
    hint.textContent = '';
    input.removeAttribute('aria-invalid');
  }
}

/** @param {{ code: string, message: string } | undefined} error */
function setFormError(error) {
  lastFormError = error;
  showFormError(formError, error);
}

/** @param {string} text */
function announce(text) {
  // Cleared first so the same words twice in a row are still read out.
  announcer.textContent = '';
  setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

function loadDeviceId() {
  // Per tab (sessionStorage): a reload keeps it, so pushes for the jobs it started find us again.
  try {
    const saved = sessionStorage.getItem(DEVICE_KEY);
    if (saved && /^[A-Za-z0-9]{8,64}$/.test(saved)) return saved;
  } catch {
    // Storage disabled: a fresh id each load.
  }
  const id = randomDeviceId();
  saveDeviceId(id);
  return id;
}

/** @param {string} id */
function saveDeviceId(id) {
  try {
    sessionStorage.setItem(DEVICE_KEY, id);
  } catch {
    // See loadDeviceId.
  }
}
