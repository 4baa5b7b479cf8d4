/** The git hosts a worker serves unless FERRY_ALLOWED_HOSTS says otherwise; the local stack starts from them too. */
export const DEFAULT_ALLOWED_HOSTS: readonly string[] = ['github.com', 'gitlab.com', 'gitee.com', 'bitbucket.org', 'codeberg.org'];
