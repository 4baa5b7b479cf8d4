// A minimal gateway websocket client for the bench, speaking raw frames (docs/protocol.md):
// RG#<deviceId> → RO#…, a signed REGISTER frame, API frames with x-ca-seq, NF# pushes acked with NO.
// Independent of src/client so the bench measures the gateway and worker, not a client library.
import { WebSocket } from 'ws';
import { signRequest, type AppCredentials } from '../../src/protocol/apigw-signature.js';
import { now } from './measure.js';

export interface ApiResponse {
  status: number;
  header: Record<string, string>;
  body: string;
}

export interface Pushed {
  /** performance.now() at arrival. */
  at: number;
  body: string;
}

export class GatewayClient {
  /** Every NF# body, in arrival order. */
  readonly pushes: Pushed[] = [];
  /** Frames other than NF# and API responses (RO, RF, HO, OS, CR). */
  readonly control: string[] = [];
  closedWith: number | undefined;
  onPush: ((push: Pushed) => void) | undefined;
  #seq = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #pending = new Map<string, (response: ApiResponse) => void>();
  readonly #controlWaiters: ((frame: string) => void)[] = [];

  private constructor(
    readonly ws: WebSocket,
    readonly creds: AppCredentials | undefined,
  ) {
    ws.on('message', (data) => this.#onFrame(data.toString()));
    ws.on('close', (code) => {
      this.closedWith = code;
      clearInterval(this.#heartbeat);
    });
    ws.on('error', () => undefined);
  }

  /** Connects, claims `deviceId` and registers it, so NOTIFY reaches this connection. */
  static async connect(url: string, deviceId: string, creds?: AppCredentials): Promise<GatewayClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const client = new GatewayClient(ws, creds);
    const answer = client.#nextControl();
    ws.send(`RG#${deviceId}`);
    const frame = await answer;
    if (!frame.startsWith('RO#')) throw new Error(`RG#${deviceId} answered ${frame}`);
    // RO#<credential>#<keepAliveMs>: a connection that stays quiet longer is closed, so it beats at half that.
    const keepAliveMs = Number(frame.split('#')[2]);
    if (keepAliveMs > 0) client.#heartbeat = setInterval(() => ws.send('H1'), keepAliveMs / 2).unref();
    const registered = await client.call('POST', '/register', '', { 'x-ca-websocket_api_type': 'REGISTER' });
    if (registered.status !== 200) throw new Error(`REGISTER answered ${registered.status}: ${registered.body}`);
    return client;
  }

  /** Sends an API frame (signed when the client has app credentials) and resolves with its response. */
  call(method: string, path: string, body: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
    const seq = String(++this.#seq);
    const base = { 'x-ca-seq': seq, 'content-type': 'application/json', ...headers };
    const signed = this.creds ? signRequest({ method, path, query: {}, headers: base, body }, this.creds) : base;
    const frame = JSON.stringify({
      method,
      host: 'gateway.bench',
      path,
      querys: {},
      headers: Object.fromEntries(Object.entries(signed).map(([name, value]) => [name, [value]])),
      isBase64: 0,
      body,
    });
    return new Promise((resolve) => {
      this.#pending.set(seq, resolve);
      this.ws.send(frame);
    });
  }

  close(): void {
    clearInterval(this.#heartbeat);
    this.ws.close();
  }

  #onFrame(text: string): void {
    if (text.startsWith('NF#')) {
      const push = { at: now(), body: text.slice(3) };
      this.pushes.push(push);
      this.ws.send('NO');
      this.onPush?.(push);
      return;
    }
    if (text.startsWith('{')) {
      const response = JSON.parse(text) as ApiResponse;
      const seq = response.header?.['x-ca-seq'];
      const resolve = seq === undefined ? undefined : this.#pending.get(seq);
      if (resolve && seq !== undefined) {
        this.#pending.delete(seq);
        resolve(response);
        return;
      }
    }
    this.control.push(text);
    this.#controlWaiters.shift()?.(text);
  }

  #nextControl(): Promise<string> {
    return new Promise((resolve) => this.#controlWaiters.push(resolve));
  }
}
