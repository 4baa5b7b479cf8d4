/**
 * Which connection owns which device id. `RG#<id>` claims an id for a connection (refused while
 * another open connection holds it); closing the connection releases it. NOTIFY reaches a device
 * only once its REGISTER API call succeeded (`registered`).
 */
import type { ConnectionLike } from './types.js';

export class DeviceRegistry {
  private readonly owners = new Map<string, ConnectionLike>();

  claim(deviceId: string, connection: ConnectionLike): boolean {
    const owner = this.owners.get(deviceId);
    if (owner && owner !== connection) return false;
    this.owners.set(deviceId, connection);
    return true;
  }

  release(deviceId: string, connection: ConnectionLike): void {
    if (this.owners.get(deviceId) === connection) this.owners.delete(deviceId);
  }

  /** The connection to push to, if the device is online and registered. */
  target(deviceId: string): ConnectionLike | undefined {
    const owner = this.owners.get(deviceId);
    return owner?.registered ? owner : undefined;
  }
}
