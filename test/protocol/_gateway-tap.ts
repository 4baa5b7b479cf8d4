/**
 * A websocket relay between a client and the gateway emulator that records every frame both ways, so a
 * scenario can check what went over the wire (the `NO` ack, `RG#`, `OS`) whichever client spoke it.
 */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export interface Tap {
  /** ws:// URL for the client. */
  url: string;
  /** Text frames client → gateway. */
  sent: string[];
  /** Text frames gateway → client. */
  received: string[];
  close(): Promise<void>;
}

export async function startTap(target: string): Promise<Tap> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const tap: Tap = {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent: [],
    received: [],
    close: () => new Promise<void>((resolve) => {
      for (const client of server.clients) client.terminate();
      server.close(() => resolve());
    }),
  };
  server.on('connection', (client) => {
    const upstream = new WebSocket(target);
    const early: string[] = [];
    upstream.on('open', () => early.splice(0).forEach((text) => upstream.send(text)));
    client.on('message', (data) => {
      const text = data.toString('utf8');
      tap.sent.push(text);
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else early.push(text);
    });
    upstream.on('message', (data) => {
      const text = data.toString('utf8');
      tap.received.push(text);
      client.send(text);
    });
    // The gateway's close code (and OS/CR before it) reaches the client as the gateway sent it.
    upstream.on('close', (code) => client.close(code === 1005 || code === 1006 ? 1000 : code));
    client.on('close', () => upstream.close());
    upstream.on('error', () => client.terminate());
    client.on('error', () => upstream.terminate());
  });
  return tap;
}
