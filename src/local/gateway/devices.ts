// `RG#<id>` is refused while another open connection holds the id; NOTIFY reaches a device only once its
// REGISTER call succeeded (`registered`).
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

  target(deviceId: string): ConnectionLike | undefined {
    const owner = this.owners.get(deviceId);
    return owner?.registered ? owner : undefined;
  }
}
