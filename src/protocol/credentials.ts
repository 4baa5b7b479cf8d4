/**
 * An Alibaba Cloud AccessKey: a RAM user's long-lived key, or STS temporary credentials with their
 * security token (what FC hands each invocation). It signs OSS requests and FC OpenAPI calls; the
 * local OSS store and FC emulator accept it the same way. Not the API gateway's app key and secret:
 * those are `AppCredentials` (apigw-signature.ts).
 */
export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  /** Only with STS credentials: sent beside every request they sign. */
  securityToken?: string | undefined;
}
