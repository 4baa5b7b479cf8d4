// One alphabet for the id a client claims with `RG#<deviceId>` at the gateway and the `deviceId` of a job
// request, so every id the gateway accepts can be named in a job (Alibaba Cloud's SDKs use `<uuid>@<appKey>`).
const DEVICE_ID = /^[A-Za-z0-9@._:=+-]{1,128}$/;

/** The alphabet as messages and docs spell it. */
export const DEVICE_ID_RULE = '1-128 characters of A-Z a-z 0-9 @ . _ : = + -';

export function isDeviceId(value: unknown): value is string {
  return typeof value === 'string' && DEVICE_ID.test(value);
}
