// @ts-check
// Static text in index.html carries `data-i18n="key"` or `data-i18n-attr="attr:key;attr:key"`; the rest asks `t()`.

import { formatBytes as formatByteSize } from './util/bytes.js';

/** @typedef {'zh-CN' | 'en'} Lang */

const STORAGE_KEY = 'ferry.lang';

/** @type {Record<string, string>} */
const en = {
  'app.tagline': 'Turn a Git repository into a fast download from object storage.',
  'lang.label': 'Language',
  'link.connecting': 'Connecting…',
  'link.online': 'Live',
  'link.reconnecting': 'Reconnecting…',
  'link.offline': 'Offline',
  'link.banner': 'Connection to ferry lost. Reconnecting… jobs keep running and progress resumes by itself.',
  'form.title': 'New download',
  'form.url': 'Repository or file URL',
  'form.url.placeholder': 'https://github.com/owner/repo',
  'form.url.help': 'A repository, or a file: release asset, raw or /blob/ link, source archive, gist. GitHub, GitLab, Gitee, Bitbucket, Codeberg, or any host this server allows.',
  'form.ref': 'Branch, tag or commit',
  'form.ref.optional': 'optional',
  'form.ref.placeholder': 'default branch',
  'form.format': 'Format',
  'form.format.file': 'File',
  'form.submit': 'Fetch',
  'form.submitting': 'Submitting…',
  'form.retrying': 'Server restarting, trying again…',
  'form.error.title': 'Could not start the job: {title}',
  'hint.url.empty': 'Enter a repository URL, for example https://github.com/owner/repo.',
  'hint.url.spaces': 'The URL contains spaces or backslashes. Paste the repository address only.',
  'hint.url.scheme': 'Only https:// (or http:// where the server allows it) repository URLs work.',
  'hint.url.malformed': 'This is not a URL. Use the form https://github.com/owner/repo.',
  'hint.url.credentials': 'Remove the user name or token from the URL: ferry only fetches public repositories.',
  'hint.url.query': 'Remove the ?query or #fragment from the URL.',
  'hint.url.path': 'The URL names no repository. Add the owner and repository: https://host/owner/repo.',
  'hint.ref.invalid': 'Not a valid branch, tag or commit name (no spaces or any of ~^:?*[\\, no "..").',
  'hint.ref.file': 'A file link names its own version: leave the branch empty.',
  'jobs.title': 'Jobs',
  'jobs.empty': 'No jobs yet. Paste a repository or file URL above to start.',
  'jobs.clear': 'Clear finished',
  'jobs.remove': 'Remove {repo} from the list',
  'jobs.note': 'Kept in this browser only. Links work until they expire.',
  'status.queued': 'Queued',
  'status.running': 'Running',
  'status.done': 'Ready',
  'status.error': 'Failed',
  'status.expired': 'Link expired',
  'phase.queued': 'Queued',
  'phase.resolving': 'Resolving',
  'phase.fetching': 'Fetching',
  'phase.downloading': 'Downloading',
  'phase.bundling': 'Bundling',
  'phase.archiving': 'Archiving',
  'phase.uploading': 'Uploading',
  'phase.signing': 'Signing',
  'steps.label': 'Steps',
  'progress.label': 'Progress of {phase}',
  'progress.queue': 'Position {n} in the queue',
  'progress.queue.next': 'Next in line',
  'progress.retrying': 'The server instance running this job stopped; waiting for the job to be retried on another one.',
  'progress.resumed': 'The server restarted; resuming the job from the start.',
  'progress.elapsed': 'Elapsed {time}',
  'progress.took': 'Took {time}',
  'progress.of': '{a} of {b}',
  'progress.rate': '{rate}/s',
  'progress.left': '{time} left',
  'stage.connecting': 'Contacting the git host…',
  'stage.seeding': 'Filling the mirror from cached bundles…',
  'stage.enumerating': 'Enumerating objects on the server: {done}',
  'stage.counting': 'Counting objects on the server: {done} of {total}',
  'stage.compressing': 'Compressing objects on the server: {done} of {total}',
  'stage.receiving': 'Receiving objects: {done} of {total}',
  'stage.unpacking': 'Unpacking objects: {done} of {total}',
  'stage.resolving': 'Resolving deltas: {done} of {total}',
  'stage.checking': 'Checking connectivity…',
  'done.download': 'Download',
  'done.copyLink': 'Copy link',
  'done.copied': 'Copied',
  'done.copyFailed': 'Copy failed: select and copy by hand',
  'done.copySha': 'Copy SHA-256',
  'done.next': 'From a shell (the link works until it expires; cloning through ferry needs the ferry CLI):',
  'done.copyCommand': 'Copy command',
  'done.size': 'Size',
  'done.commit': 'Commit',
  'done.ref': 'Ref',
  'done.sha256': 'SHA-256',
  'done.expires': 'Link expires',
  'done.expired': 'expired {when}',
  'done.cached': 'From cache: this commit was archived before, so the link was ready at once.',
  'done.cached.file': 'From cache: this file was fetched before and has not changed, so the link was ready at once.',
  'done.again': 'Get a fresh link',
  'error.retry': 'Try again',
  'error.detail': 'Details',
  'announce.phase': '{repo}: {phase}',
  'announce.done': '{repo} is ready to download',
  'announce.error': '{repo} failed: {title}',
  'announce.retrying': '{repo}: waiting for the job to be retried',
  'announce.resumed': '{repo}: the server restarted, resuming',
  'footer.auth': 'This page holds no secret: it calls the gateway\'s anonymous, rate-limited API. Files come straight from object storage through signed, expiring links.',
  'time.justNow': 'just now',
};

/** @type {Record<string, string>} */
const zh = {
  'app.tagline': '把 Git 仓库打包存入对象存储，高速下载。',
  'lang.label': '语言',
  'link.connecting': '正在连接…',
  'link.online': '已连接',
  'link.reconnecting': '正在重连…',
  'link.offline': '已离线',
  'link.banner': '与 ferry 的连接已断开，正在重连…任务会继续运行，进度将自动恢复。',
  'form.title': '新建下载',
  'form.url': '仓库或文件地址',
  'form.url.placeholder': 'https://github.com/owner/repo',
  'form.url.help': '仓库，或文件：Release 附件、raw 或 /blob/ 链接、源码包、Gist。支持 GitHub、GitLab、Gitee、Bitbucket、Codeberg，以及本服务允许的其他主机。',
  'form.ref': '分支、标签或提交',
  'form.ref.optional': '可选',
  'form.ref.placeholder': '默认分支',
  'form.format': '格式',
  'form.format.file': '文件',
  'form.submit': '开始',
  'form.submitting': '正在提交…',
  'form.retrying': '服务端正在重启，正在重试…',
  'form.error.title': '任务未能开始：{title}',
  'hint.url.empty': '请输入仓库地址，例如 https://github.com/owner/repo。',
  'hint.url.spaces': '地址中有空格或反斜杠，请只粘贴仓库地址。',
  'hint.url.scheme': '仅支持 https:// 仓库地址（服务允许时也可用 http://）。',
  'hint.url.malformed': '这不是有效的网址，请使用 https://github.com/owner/repo 的形式。',
  'hint.url.credentials': '请去掉地址中的用户名或令牌：ferry 只获取公开仓库。',
  'hint.url.query': '请去掉地址中的 ?查询参数 或 #片段。',
  'hint.url.path': '地址中没有仓库名，请写成 https://主机/所有者/仓库。',
  'hint.ref.invalid': '不是有效的分支、标签或提交名（不能含空格、~^:?*[\\ 或 ".."）。',
  'hint.ref.file': '文件链接本身已指明版本，请把分支留空。',
  'jobs.title': '任务',
  'jobs.empty': '还没有任务。在上方粘贴仓库或文件地址即可开始。',
  'jobs.clear': '清除已结束',
  'jobs.remove': '从列表中移除 {repo}',
  'jobs.note': '仅保存在本浏览器中，链接在过期前都可使用。',
  'status.queued': '排队中',
  'status.running': '进行中',
  'status.done': '已就绪',
  'status.error': '失败',
  'status.expired': '链接已过期',
  'phase.queued': '排队',
  'phase.resolving': '解析',
  'phase.fetching': '拉取',
  'phase.downloading': '下载',
  'phase.bundling': '打包 bundle',
  'phase.archiving': '打包',
  'phase.uploading': '上传',
  'phase.signing': '签名',
  'steps.label': '步骤',
  'progress.label': '{phase}进度',
  'progress.queue': '队列中第 {n} 位',
  'progress.queue.next': '即将开始',
  'progress.retrying': '运行该任务的服务实例已停止，正在等待任务在另一个实例上重试。',
  'progress.resumed': '服务端已重启，正在从头继续该任务。',
  'progress.elapsed': '已用时 {time}',
  'progress.took': '用时 {time}',
  'progress.of': '{a} / {b}',
  'progress.rate': '{rate}/秒',
  'progress.left': '剩余 {time}',
  'stage.connecting': '正在连接 Git 主机…',
  'stage.seeding': '正在用缓存的 bundle 填充镜像…',
  'stage.enumerating': '服务器正在枚举对象：{done}',
  'stage.counting': '服务器正在统计对象：{done} / {total}',
  'stage.compressing': '服务器正在压缩对象：{done} / {total}',
  'stage.receiving': '正在接收对象：{done} / {total}',
  'stage.unpacking': '正在解包对象：{done} / {total}',
  'stage.resolving': '正在处理增量：{done} / {total}',
  'stage.checking': '正在检查连通性…',
  'done.download': '下载',
  'done.copyLink': '复制链接',
  'done.copied': '已复制',
  'done.copyFailed': '复制失败，请手动选择复制',
  'done.copySha': '复制 SHA-256',
  'done.next': '在命令行中使用（链接在过期前有效；通过 ferry 克隆需要安装 ferry 命令行）：',
  'done.copyCommand': '复制命令',
  'done.size': '大小',
  'done.commit': '提交',
  'done.ref': '引用',
  'done.sha256': 'SHA-256',
  'done.expires': '链接过期时间',
  'done.expired': '已于{when}过期',
  'done.cached': '来自缓存：该提交此前已打包，链接立即可用。',
  'done.cached.file': '来自缓存：该文件此前已获取且未变化，链接立即可用。',
  'done.again': '获取新链接',
  'error.retry': '重试',
  'error.detail': '详情',
  'announce.phase': '{repo}：{phase}',
  'announce.done': '{repo} 已可下载',
  'announce.error': '{repo} 失败：{title}',
  'announce.retrying': '{repo}：正在等待任务重试',
  'announce.resumed': '{repo}：服务端已重启，正在继续',
  'footer.auth': '本页面不含任何密钥：它调用网关的匿名、限流 API。文件通过带签名、会过期的链接直接从对象存储下载。',
  'time.justNow': '刚刚',
};

/**
 * Codes not listed fall back to `_`; the server's own message is always shown beside these.
 * @type {Record<Lang, Record<string, [title: string, advice: string]>>}
 */
const errors = {
  en: {
    HOST_NOT_ALLOWED: ['This host is not allowed', 'ferry only fetches from the hosts its operator allows. Use a repository on an allowed host (the detail lists them), or ask the operator to add this one (ferry serve --allow-host).'],
    DESTINATION_FORBIDDEN: ['This address is internal', 'ferry does not connect to loopback, private or cloud-internal addresses for anyone. Use the repository\'s or file\'s public address, or ask the operator to allow this exact destination.'],
    REPO_NOT_ALLOWED: ['This repository is not served here', 'The operator of this ferry allows or refuses repositories by name (the detail says which list refused it). Fetch it elsewhere, or ask the operator.'],
    REF_NOT_FOUND: ['Branch, tag or commit not found', 'Check the spelling and letter case, or leave the field empty for the default branch. Short commit ids cannot be looked up: paste the full 40-character id.'],
    REPO_NOT_FOUND: ['Repository not found', 'Check the owner and repository name in the URL. ferry can only fetch public repositories.'],
    INVALID_URL: ['Not a repository URL', 'Use the repository\'s address, such as https://github.com/owner/repo.'],
    INVALID_REF: ['Not a valid ref', 'Enter a branch or tag name, a full commit id, or leave the field empty.'],
    INVALID_FORMAT: ['Format not supported', 'Choose zip or tar.gz.'],
    TOO_LARGE: ['Too large', 'The archive or file is over this service\'s size limit. Pick a smaller repository, ref or file, or fetch it directly.'],
    UPSTREAM_CHANGED: ['The file changed while it was fetched', 'Upstream replaced the file during the download, so the parts do not belong together. Try again: it starts over.'],
    NOT_FOUND: ['Not found', 'Nothing is at that address (or it is private). Check the link.'],
    UPSTREAM_TRUNCATED: ['The repository host cut its answer short', 'The connection to the repository host broke off part way, after ferry had tried again a few times. This is usually transient: try again in a moment.'],
    UPSTREAM_UNREACHABLE: ['Could not reach the repository host', 'The repository host could not be used from where ferry fetches. The message below says why (the name does not resolve, the connection was refused, TLS, a timeout or the host\'s answer) and whether trying again can help.'],
    RATE_LIMITED: ['Too many requests', 'This address sent too many requests in a short time. Wait a minute, then try again.'],
    STORAGE_NOT_CONFIGURED: ['Storage is not set up', 'The server has no object storage configured, so it cannot keep archives. Tell its operator (FERRY_OSS_* settings).'],
    STORAGE_FAILED: ['Upload to storage failed', 'Object storage did not accept the archive. Try again.'],
    STORAGE_UNAVAILABLE: ['Storage is unavailable', 'Object storage did not answer, even after retries. Try again in a minute.'],
    TIMEOUT: ['The job took too long', 'It was stopped at the time limit. Try again; very large repositories may not fit in the limit.'],
    GIT_FAILED: ['git failed on this repository', 'Try again. If it keeps failing, report it with the job id.'],
    INTERNAL: ['Something went wrong inside ferry', 'Try again. If it keeps failing, report it with the job id.'],
    JOB_NOT_FOUND: ['Job no longer known', 'Its record has expired on the server. Start it again.'],
    UNAUTHORIZED: ['This server needs signed requests', 'It runs with --require-signature, which the page cannot do. Use the ferry CLI with an app key.'],
    NETWORK: ['Cannot reach ferry', 'Check that ferry serve is still running and that you are online, then try again.'],
    GATEWAY_UNREACHABLE: ['ferry is not answering', 'The gateway got no answer from ferry\'s worker. Try again in a minute.'],
    PAYLOAD_TOO_LARGE: ['Request too large', 'Shorten the URL or ref and try again.'],
    WORKER_STOPPING: ['The server stopped the job', 'The server instance running it shut down before it finished. Try again: another instance will take it.'],
    WORKER_LOST: ['The server lost the job', 'The server running it stopped (it crashed or was restarted) and no retry finished it. Try again; if it keeps happening, report it with the job id.'],
    _: ['Something went wrong', 'Try again. If it keeps failing, report the code and message below.'],
  },
  'zh-CN': {
    HOST_NOT_ALLOWED: ['不允许该主机', 'ferry 只从运营者允许的主机获取仓库。请使用允许的主机上的仓库（详情中列出），或请运营者添加该主机（ferry serve --allow-host）。'],
    DESTINATION_FORBIDDEN: ['该地址是内网地址', 'ferry 不会替任何人连接回环、私有或云内网地址。请使用仓库或文件的公网地址，或请运营者放行这个确切的目标。'],
    REPO_NOT_ALLOWED: ['此处不提供该仓库', '该 ferry 的运营者按名称允许或拒绝仓库（详情中说明是哪个列表拒绝的）。请从别处获取，或联系运营者。'],
    REF_NOT_FOUND: ['找不到该分支、标签或提交', '请检查拼写和大小写，或留空以使用默认分支。短提交号无法查询，请粘贴完整的 40 位提交号。'],
    REPO_NOT_FOUND: ['找不到仓库', '请检查地址中的所有者和仓库名。ferry 只能获取公开仓库。'],
    INVALID_URL: ['不是仓库地址', '请使用仓库地址，例如 https://github.com/owner/repo。'],
    INVALID_REF: ['引用名称无效', '请输入分支或标签名、完整的提交号，或留空。'],
    INVALID_FORMAT: ['不支持该格式', '请选择 zip 或 tar.gz。'],
    TOO_LARGE: ['超出大小上限', '压缩包或文件超过本服务的大小上限。请换一个较小的仓库、引用或文件，或直接获取。'],
    UPSTREAM_CHANGED: ['文件在获取期间发生了变化', '上游在下载过程中替换了该文件，已下载的部分无法拼接。请重试，会从头开始。'],
    NOT_FOUND: ['找不到', '该地址上没有内容（或为私有）。请检查链接。'],
    UPSTREAM_TRUNCATED: ['仓库主机的应答被中途切断', '与仓库主机的连接在传输中途断开，ferry 已重试数次。这通常是暂时的：请稍后重试。'],
    UPSTREAM_UNREACHABLE: ['无法连接仓库主机', 'ferry 拉取时无法使用该仓库主机。下方消息说明了原因（域名无法解析、连接被拒绝、TLS、超时或主机的应答），以及重试是否有用。'],
    RATE_LIMITED: ['请求过于频繁', '当前地址短时间内请求太多，请等一分钟再试。'],
    STORAGE_NOT_CONFIGURED: ['未配置存储', '服务端没有配置对象存储，无法保存压缩包。请联系运营者（FERRY_OSS_* 设置）。'],
    STORAGE_FAILED: ['上传到存储失败', '对象存储未能接收压缩包，请重试。'],
    STORAGE_UNAVAILABLE: ['存储暂不可用', '对象存储多次重试后仍无响应，请稍后重试。'],
    TIMEOUT: ['任务超时', '任务达到时间上限后被停止。请重试；特别大的仓库可能无法在时限内完成。'],
    GIT_FAILED: ['Git 处理该仓库时出错', '请重试。如果一直失败，请带上任务 ID 反馈。'],
    INTERNAL: ['ferry 内部出错', '请重试。如果一直失败，请带上任务 ID 反馈。'],
    JOB_NOT_FOUND: ['任务已不存在', '服务端的任务记录已过期，请重新开始。'],
    UNAUTHORIZED: ['该服务需要签名请求', '它以 --require-signature 运行，网页无法签名。请使用带应用密钥的 ferry 命令行。'],
    NETWORK: ['无法连接 ferry', '请确认 ferry serve 仍在运行且网络正常，然后重试。'],
    GATEWAY_UNREACHABLE: ['ferry 没有响应', '网关没有收到 ferry 工作进程的响应，请稍后再试。'],
    PAYLOAD_TOO_LARGE: ['请求过大', '请缩短地址或引用后重试。'],
    WORKER_STOPPING: ['服务端停止了任务', '运行该任务的服务实例在完成前关闭了。请重试，会由另一个实例处理。'],
    WORKER_LOST: ['服务端丢失了任务', '运行该任务的服务端已停止（崩溃或重启），重试也没有完成。请重试；如果一直发生，请带上任务 ID 反馈。'],
    _: ['出错了', '请重试。如果一直失败，请反馈下方的错误码和信息。'],
  },
};

const dictionaries = { en, 'zh-CN': zh };

/** @type {Lang} */
let current = 'zh-CN';

/** @returns {Lang} */
export function lang() {
  return current;
}

/**
 * The reader's saved choice, else the first of the browser's languages that the page has; English for
 * a reader of neither (more of them read English than Chinese).
 * @returns {Lang}
 */
export function detectLang() {
  const saved = safeGet(STORAGE_KEY);
  if (saved === 'en' || saved === 'zh-CN') return saved;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const lower = tag.toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

/**
 * @param {Lang} next
 * @param {{ save?: boolean }} [options]
 */
export function setLang(next, options = {}) {
  current = next;
  document.documentElement.lang = next;
  if (options.save) safeSet(STORAGE_KEY, next);
  translatePage(document);
}

/**
 * @param {string} key
 * @param {Record<string, string | number>} [params]
 */
export function t(key, params) {
  const text = dictionaries[current][key] ?? en[key] ?? key;
  return params ? text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole)) : text;
}

/**
 * @param {string} code
 * @returns {{ title: string, advice: string }}
 */
export function describeError(code) {
  const table = errors[current];
  const entry = table[code] ?? table._;
  return { title: entry?.[0] ?? code, advice: entry?.[1] ?? '' };
}

/** @param {ParentNode} root */
export function translatePage(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const key = el.getAttribute('data-i18n');
    if (key) el.textContent = t(key);
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of (el.getAttribute('data-i18n-attr') ?? '').split(';')) {
      const [attr, key] = pair.split(':');
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

/**
 * The CLI's own formatter (src/util/bytes.ts: KiB, MiB, …), digits in the page's language.
 * @param {number} bytes
 */
export function formatBytes(bytes) {
  return formatByteSize(bytes, (value, digits) => new Intl.NumberFormat(current, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value));
}

/** @param {number} ms */
export function formatDuration(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return current === 'zh-CN' ? `${seconds} 秒` : `${seconds} s`;
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, '0');
  if (m < 60) return `${m}:${s}`;
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${s}`;
}

/**
 * @param {number} at
 * @param {number} now
 */
export function formatRelative(at, now) {
  const diff = at - now;
  const abs = Math.abs(diff);
  if (abs < 45_000) return t('time.justNow');
  const rtf = new Intl.RelativeTimeFormat(current, { numeric: 'auto' });
  /** @type {[Intl.RelativeTimeFormatUnit, number][]} */
  const units = [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
  ];
  for (const [unit, size] of units) {
    if (abs >= size || unit === 'minute') return rtf.format(Math.round(diff / size), unit);
  }
  return t('time.justNow');
}

/** @param {number} at */
export function formatDateTime(at) {
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(at));
}

/** @param {string} key */
function safeGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/**
 * @param {string} key
 * @param {string} value
 */
function safeSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private mode or storage full: the choice lasts for this page only.
  }
}
