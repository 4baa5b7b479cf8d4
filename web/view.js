// @ts-check
// Cards are updated in place so focus and selection survive live progress. Only textContent and vetted
// attributes are set: nothing from the server is parsed as HTML.
import { describeError, formatBytes, formatDateTime, formatDuration, formatRelative, t } from './i18n.js';
import { isActive, isExpired, nextCommands, shortRepo, stepsOf } from './jobs.js';

/** @typedef {import('./jobs.js').Job} Job */

/**
 * @typedef {object} ViewHandlers
 * @property {(job: Job) => void} remove
 * @property {(job: Job) => void} retry submit the same URL, ref and format again
 * @property {(text: string, button: HTMLElement) => void} copy
 */

export class JobListView {
  /** @type {Map<string, HTMLElement>} */
  #cards = new Map();
  #list;
  #template;
  #handlers;

  /**
   * @param {HTMLElement} list
   * @param {HTMLTemplateElement} template
   * @param {ViewHandlers} handlers
   */
  constructor(list, template, handlers) {
    this.#list = list;
    this.#template = template;
    this.#handlers = handlers;
  }

  /**
   * @param {Job[]} jobs
   * @param {number} now
   */
  render(jobs, now) {
    const keep = new Set(jobs.map((job) => job.jobId));
    for (const [id, card] of this.#cards) {
      if (!keep.has(id)) {
        card.remove();
        this.#cards.delete(id);
      }
    }
    let previous = /** @type {Element | null} */ (null);
    for (const job of jobs) {
      const card = this.#cards.get(job.jobId) ?? this.#create(job);
      this.update(job, now);
      const expected = previous ? previous.nextElementSibling : this.#list.firstElementChild;
      if (expected !== card) this.#list.insertBefore(card, expected);
      previous = card;
    }
  }

  /**
   * @param {Job} job
   * @param {number} now
   */
  update(job, now) {
    const card = this.#cards.get(job.jobId);
    if (card) fill(card, job, now);
  }

  /** @param {Job} job */
  #create(job) {
    const fragment = /** @type {DocumentFragment} */ (this.#template.content.cloneNode(true));
    const card = /** @type {HTMLElement} */ (fragment.firstElementChild);
    card.dataset.jobId = job.jobId;
    const titleId = `job-${job.jobId}`;
    q(card, '.job-repo').id = titleId;
    card.setAttribute('aria-labelledby', titleId);
    const steps = q(card, '.steps');
    for (const phase of stepsOf(job)) {
      const li = document.createElement('li');
      li.className = 'step';
      li.dataset.step = phase;
      const dot = document.createElement('span');
      dot.className = 'step-dot';
      dot.setAttribute('aria-hidden', 'true');
      const label = document.createElement('span');
      label.className = 'step-label';
      li.append(dot, label);
      steps.append(li);
    }
    // Handlers get the job as first rendered: they use only its id and its input, which never change.
    q(card, '.remove').addEventListener('click', () => this.#handlers.remove(job));
    q(card, '.retry').addEventListener('click', () => this.#handlers.retry(job));
    q(card, '.again').addEventListener('click', () => this.#handlers.retry(job));
    q(card, '.copy-link').addEventListener('click', (event) => {
      const href = q(card, '.download').getAttribute('href');
      if (href) this.#handlers.copy(href, /** @type {HTMLElement} */ (event.currentTarget));
    });
    q(card, '.copy-sha').addEventListener('click', (event) => {
      this.#handlers.copy(q(card, '.sha').textContent ?? '', /** @type {HTMLElement} */ (event.currentTarget));
    });
    for (const button of card.querySelectorAll('.copy-cmd')) {
      button.addEventListener('click', (event) => {
        const code = /** @type {HTMLElement} */ (event.currentTarget).previousElementSibling;
        this.#handlers.copy(code?.textContent ?? '', /** @type {HTMLElement} */ (event.currentTarget));
      });
    }
    this.#cards.set(job.jobId, card);
    return card;
  }
}

/**
 * @param {HTMLElement} card
 * @param {Job} job
 * @param {number} now
 */
function fill(card, job, now) {
  const expired = isExpired(job, now);
  card.dataset.status = job.status;
  card.dataset.phase = job.status === 'done' ? 'done' : job.phase ?? 'queued';
  card.classList.toggle('expired', expired);

  const repo = shortRepo(job.repo);
  setBreakableText(q(card, '.job-repo'), repo);
  q(card, '.job-repo').title = job.repo;
  setText(q(card, '.job-ref'), job.ref);
  setText(q(card, '.job-format'), job.format);
  setText(q(card, '.job-commit'), job.commit.slice(0, 7));
  q(card, '.job-commit').title = job.commit;
  q(card, '.remove').setAttribute('aria-label', t('jobs.remove', { repo }));
  q(card, '.remove').title = t('jobs.remove', { repo });

  const badge = q(card, '.badge');
  setText(badge, expired ? t('status.expired') : t(`status.${job.status}`));
  badge.dataset.tone = expired ? 'muted' : job.status;

  fillSteps(card, job);
  fillProgress(card, job, now);
  fillResult(card, job, now, expired);
  fillFailure(card, job);
}

/**
 * @param {HTMLElement} card
 * @param {Job} job
 */
function fillSteps(card, job) {
  const steps = q(card, '.steps');
  steps.setAttribute('aria-label', t('steps.label'));
  const order = stepsOf(job);
  const current = job.status === 'done' ? order.length : order.indexOf(job.phase ?? 'queued');
  for (const li of steps.querySelectorAll('li')) {
    const index = order.indexOf(/** @type {import('./jobs.js').Phase} */ (li.dataset.step));
    const state = index < current ? 'done' : index > current ? 'todo' : job.status === 'error' ? 'failed' : 'current';
    li.dataset.state = state;
    if (state === 'current') li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
    setText(/** @type {HTMLElement} */ (li.querySelector('.step-label')), t(`phase.${li.dataset.step}`));
  }
}

/**
 * @param {HTMLElement} card
 * @param {Job} job
 * @param {number} now
 */
function fillProgress(card, job, now) {
  const box = q(card, '.progress');
  const active = isActive(job);
  box.hidden = !active && job.status !== 'error';
  const phase = job.phase ?? 'queued';
  const phaseName = t(`phase.${phase}`);
  setText(q(card, '.progress-phase'), active ? phaseName : '');

  // While fetching, git's stage with its own counts replaces the percent: the bar is the whole fetch's
  // (it never goes back), the counts are the stage's.
  const stage = active && phase === 'fetching' ? stageText(job) : undefined;
  if (!active) forgetRates(job.jobId);
  /** @type {string[]} */
  const detail = [];
  if (active && job.percent !== undefined && phase !== 'resolving' && stage === undefined) detail.push(`${Math.floor(job.percent)}%`);
  if (active && job.bytes !== undefined) {
    detail.push(job.total ? t('progress.of', { a: formatBytes(job.bytes), b: formatBytes(job.total) }) : formatBytes(job.bytes));
    detail.push(...transferRate(job, now));
  }
  setText(q(card, '.progress-detail'), detail.join(' · '));

  const bar = q(card, '.bar');
  const fillEl = q(card, '.bar-fill');
  bar.hidden = !active;
  bar.setAttribute('aria-label', t('progress.label', { phase: phaseName }));
  // Phases without a known share of the work get a moving bar instead of a made-up number.
  const known = job.percent !== undefined && (phase === 'fetching' || phase === 'uploading' || phase === 'resolving');
  bar.classList.toggle('indeterminate', active && !known);
  if (known && job.percent !== undefined) {
    bar.setAttribute('aria-valuenow', String(Math.floor(job.percent)));
    fillEl.style.width = `${job.percent}%`;
  } else {
    bar.removeAttribute('aria-valuenow');
    fillEl.style.width = '';
  }
  if (detail.length > 0) bar.setAttribute('aria-valuetext', `${phaseName} ${detail.join(', ')}`);
  else bar.setAttribute('aria-valuetext', phaseName);

  const end = active ? now : job.finishedAt ?? now;
  setText(q(card, '.elapsed'), t(active ? 'progress.elapsed' : 'progress.took', { time: formatDuration(end - job.createdAt) }));
  const queue = phase === 'queued' && active && job.queuePosition !== undefined
    ? job.queuePosition > 0 ? t('progress.queue', { n: job.queuePosition }) : t('progress.queue.next')
    : '';
  setText(q(card, '.queue'), queue);
  const ownMessage = active && phase !== 'queued' && job.message ? job.message : '';
  const message = job.retrying ? t('progress.retrying') : stage ?? (ownMessage || (active && job.resumed ? t('progress.resumed') : ''));
  setText(q(card, '.progress-message'), message);
}

// The stages the worker names (docs/protocol.md); another one is shown as the worker's English message.
const STAGES = ['connecting', 'seeding', 'enumerating', 'counting', 'compressing', 'receiving', 'unpacking', 'resolving', 'checking'];

/**
 * `Receiving objects: 3,660 of 9,148` in the page's language, or undefined for a stage it does not know.
 * @param {Job} job
 */
function stageText(job) {
  if (job.stage === undefined || !STAGES.includes(job.stage)) return undefined;
  const count = /** @param {number | undefined} n */ (n) => (n === undefined ? '?' : formatCount(n));
  return t(`stage.${job.stage}`, { done: count(job.stageDone), total: count(job.stageTotal) });
}

/** @param {number} n */
function formatCount(n) {
  return new Intl.NumberFormat(document.documentElement.lang || undefined).format(n);
}

// A transfer's rate over its last few seconds, from the sizes the page has seen (one sample per render).
const RATE_SPAN_MS = 5000;
/** @type {Map<string, { at: number, bytes: number }[]>} */
const samples = new Map();

/**
 * `1.2 MiB/s`, and the time left when the total is known; nothing until there is a rate to tell.
 * @param {Job} job
 * @param {number} now
 * @returns {string[]}
 */
function transferRate(job, now) {
  if (job.bytes === undefined) return [];
  const key = `${job.jobId} ${job.phase}`;
  let seen = samples.get(key) ?? [];
  // Another phase's (or a restarted) transfer starts its own count.
  if ((seen.at(-1)?.bytes ?? 0) > job.bytes) seen = [];
  if (seen.at(-1)?.bytes !== job.bytes) seen.push({ at: now, bytes: job.bytes });
  while (seen.length > 2 && now - (seen[1]?.at ?? now) > RATE_SPAN_MS) seen.shift();
  samples.set(key, seen);
  const first = seen[0];
  const last = seen.at(-1);
  if (!first || !last || last.at - first.at < 500 || last.bytes === first.bytes || job.bytes === job.total) return [];
  const rate = ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  const parts = [t('progress.rate', { rate: formatBytes(rate) })];
  if (job.total) parts.push(t('progress.left', { time: formatDuration(((job.total - job.bytes) / rate) * 1000) }));
  return parts;
}

/** @param {string} jobId */
function forgetRates(jobId) {
  for (const key of samples.keys()) if (key.startsWith(`${jobId} `)) samples.delete(key);
}

/**
 * @param {HTMLElement} card
 * @param {Job} job
 * @param {number} now
 * @param {boolean} expired
 */
function fillResult(card, job, now, expired) {
  const box = q(card, '.result');
  const result = job.result;
  box.hidden = job.status !== 'done' || !result;
  if (!result) return;

  const link = /** @type {HTMLAnchorElement} */ (q(card, '.download'));
  const safe = /^https?:\/\//i.test(result.url);
  if (safe && !expired) {
    link.href = result.url;
    link.download = result.filename;
    link.removeAttribute('aria-disabled');
  } else {
    link.removeAttribute('href');
    link.setAttribute('aria-disabled', 'true');
  }
  setText(q(card, '.download-label'), `${t('done.download')} ${result.filename}`);
  const copyLink = q(card, '.copy-link');
  copyLink.hidden = expired || !safe;
  if (!copyLink.dataset.flash) setText(copyLink, t('done.copyLink'));
  const again = q(card, '.again');
  again.hidden = !expired;
  setText(again, t('done.again'));

  const cached = q(card, '.cached-note');
  cached.hidden = !result.cached;
  setText(cached, t(job.kind === 'file' ? 'done.cached.file' : 'done.cached'));

  setText(q(card, '.t-size'), t('done.size'));
  setText(q(card, '.size'), formatBytes(result.size));
  q(card, '.size').title = `${result.size.toLocaleString()} B`;
  // A file names no commit unless its URL did.
  const commitRow = /** @type {HTMLElement} */ (q(card, '.t-commit').parentElement);
  commitRow.hidden = !job.commit;
  setText(q(card, '.t-commit'), t('done.commit'));
  setText(q(card, '.commit'), job.commit.slice(0, 12));
  q(card, '.commit').title = job.commit;
  setText(q(card, '.t-sha'), t('done.sha256'));
  setText(q(card, '.sha'), result.sha256);
  fillNextSteps(card, job, result, expired || !safe);
  const copySha = q(card, '.copy-sha');
  copySha.setAttribute('aria-label', t('done.copySha'));
  if (!copySha.dataset.flash) copySha.title = t('done.copySha');
  setText(q(card, '.t-expires'), t('done.expires'));
  const expiresAt = Date.parse(result.expiresAt);
  setText(q(card, '.expires'), expired ? t('done.expired', { when: formatRelative(expiresAt, now) }) : `${formatRelative(expiresAt, now)} · ${formatDateTime(expiresAt)}`);
}

/**
 * @param {HTMLElement} card
 * @param {Job} job
 */
function fillFailure(card, job) {
  const box = q(card, '.failure');
  box.hidden = job.status !== 'error' || !job.error;
  if (!job.error) return;
  const { title, advice } = describeError(job.error.code);
  setText(q(card, '.failure-title'), title);
  setText(q(card, '.failure-advice'), advice);
  setText(q(card, '.failure-code'), job.error.code);
  setText(q(card, '.failure-message'), job.error.message);
  setText(q(card, '.retry'), t('error.retry'));
}

/**
 * @param {HTMLElement} box
 * @param {{ code: string, message: string } | undefined} error
 */
export function showFormError(box, error) {
  box.replaceChildren();
  box.hidden = !error;
  if (!error) return;
  const { title, advice } = describeError(error.code);
  const heading = document.createElement('p');
  heading.className = 'failure-title';
  heading.textContent = t('form.error.title', { title });
  const what = document.createElement('p');
  what.className = 'failure-advice';
  what.textContent = advice;
  const detail = document.createElement('p');
  detail.className = 'failure-detail';
  const code = document.createElement('code');
  code.textContent = error.code;
  detail.append(code, ` ${error.message}`);
  box.append(heading, what, detail);
}

/**
 * @param {ParentNode} root
 * @param {string} selector
 * @returns {HTMLElement}
 */
function q(root, selector) {
  const el = root.querySelector(selector);
  if (!(el instanceof HTMLElement)) throw new Error(`missing ${selector} in the job template`);
  return el;
}

/**
 * Writes only when the text changed, so screen readers and selections are not disturbed.
 * @param {HTMLElement} el
 * @param {string} text
 */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * A path such as `owner/repository` with a line-break opportunity after each `/` (browsers offer none
 * there), so a narrow screen wraps it between its parts rather than inside a name.
 * @param {HTMLElement} el
 * @param {string} text
 */
function setBreakableText(el, text) {
  if (el.textContent === text) return;
  el.replaceChildren();
  for (const part of text.split(/(?<=\/)/)) {
    el.append(part);
    if (part.endsWith('/')) el.append(document.createElement('wbr'));
  }
}

/**
 * The commands a user wants next: fetch the signed link from a shell (on a server, say), or clone the
 * repository through ferry. The link's commands are left out once it has expired.
 * @param {HTMLElement} card
 * @param {Job} job
 * @param {NonNullable<Job['result']>} result
 * @param {boolean} linkGone
 */
function fillNextSteps(card, job, result, linkGone) {
  const commands = nextCommands(job, result);
  setText(q(card, '.t-next'), t('done.next'));
  let shown = 0;
  for (const code of card.querySelectorAll('.cmd')) {
    const el = /** @type {HTMLElement} */ (code);
    const name = /** @type {'curl' | 'wget' | 'clone'} */ (el.dataset.cmd);
    const text = name === 'clone' ? commands.clone : linkGone ? undefined : commands[name];
    const row = /** @type {HTMLElement} */ (el.parentElement);
    row.hidden = text === undefined;
    if (text !== undefined) shown++;
    setText(el, text ?? '');
    const button = /** @type {HTMLElement} */ (row.querySelector('.copy-cmd'));
    button.setAttribute('aria-label', t('done.copyCommand'));
    if (!button.dataset.flash) button.title = t('done.copyCommand');
  }
  q(card, '.next').hidden = shown === 0;
}
