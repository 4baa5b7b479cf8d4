/**
 * An OSS error as the service reports it: an HTTP status plus a stable `Code` that ali-oss turns into
 * `err.code`. Thrown anywhere in a handler; the server renders it as OSS-shaped XML.
 */
export class OssError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra `<Name>value</Name>` elements for the error document, e.g. the canonical string. */
    readonly details: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'OssError';
  }
}

export const accessDenied = (message: string): OssError => new OssError(403, 'AccessDenied', message);
export const invalidArgument = (message: string, name?: string, value?: string): OssError =>
  new OssError(400, 'InvalidArgument', message, name === undefined ? {} : { ArgumentName: name, ArgumentValue: value ?? '' });
export const noSuchBucket = (bucket: string): OssError =>
  new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.', { BucketName: bucket });
export const noSuchKey = (key: string): OssError => new OssError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
export const noSuchUpload = (uploadId: string): OssError =>
  new OssError(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId });
export const malformedXml = (): OssError =>
  new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
export const methodNotAllowed = (): OssError =>
  new OssError(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
export const fileAlreadyExists = (key: string): OssError =>
  new OssError(409, 'FileAlreadyExists', 'The object you specified already exists and can not be overwritten.', { Key: key });
