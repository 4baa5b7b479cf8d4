// The header a private repository's token travels in, with POST /jobs (where `token` in the body says the
// same) and GET /refs: one name for the client that sends it and the worker that reads it.
export const GIT_TOKEN_HEADER = 'x-ferry-git-token';
