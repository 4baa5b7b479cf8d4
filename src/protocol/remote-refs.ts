import { FerryError } from './errors.js';

/** One ref of `GET /refs`: `oid` is what the ref points at (a tag object for annotated tags), `peeled` its commit. */
export interface ListedRef {
  name: string;
  oid: string;
  peeled?: string;
}

/** What `GET /refs?url=…` answers: the branches and tags of a repository, and where HEAD points. */
export interface RefsAnswer {
  repo: string;
  /** HEAD's target (`refs/heads/main`); absent for an empty repository or a detached HEAD. */
  head?: string;
  refs: ListedRef[];
}

const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** A `GET /refs` body checked before the helper or the CLI hands any of it to git. */
export function parseRefsAnswer(json: Record<string, unknown>): RefsAnswer {
  const { repo, head, refs } = json;
  const valid =
    typeof repo === 'string' &&
    (head === undefined || (typeof head === 'string' && head.startsWith('refs/'))) &&
    Array.isArray(refs) &&
    refs.every(
      (ref: unknown) =>
        typeof ref === 'object' && ref !== null &&
        typeof (ref as ListedRef).name === 'string' && (ref as ListedRef).name.startsWith('refs/') && !/[\s\0]/.test((ref as ListedRef).name) &&
        OID.test(String((ref as ListedRef).oid)) &&
        ((ref as ListedRef).peeled === undefined || OID.test(String((ref as ListedRef).peeled))),
    );
  if (!valid) throw new FerryError('INTERNAL', 'GET /refs answered a body ferry does not understand.');
  return { repo, ...(head !== undefined && { head }), refs: refs as ListedRef[] };
}
