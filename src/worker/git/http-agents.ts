import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';

// Pooled sockets idle longer than this are not trusted: a frozen FC instance fires no timers, so
// the agent's own idle timeout can lag behind a connection the server or a NAT dropped long ago.
const MAX_IDLE_MS = 20_000;

export interface HttpAgents {
  agentFor(protocol: string): http.Agent;
  destroy(): void;
}

export function createHttpAgents(): HttpAgents {
  const idleSince = new WeakMap<Duplex, number>();
  const options = { keepAlive: true, maxSockets: 16, maxFreeSockets: 4, timeout: 30_000 };
  const plain = pooled(new http.Agent(options), idleSince);
  const secure = pooled(new https.Agent(options), idleSince);
  return {
    agentFor(protocol) {
      const agent = protocol === 'https:' ? secure : plain;
      dropIdleSockets(agent, idleSince);
      return agent;
    },
    destroy() {
      plain.destroy();
      secure.destroy();
    },
  };
}

/** Stamps sockets as they go back into the pool, so `dropIdleSockets` can judge them by the wall clock. */
function pooled<A extends http.Agent>(agent: A, idleSince: WeakMap<Duplex, number>): A {
  const keepSocketAlive = agent.keepSocketAlive.bind(agent);
  agent.keepSocketAlive = (socket) => {
    idleSince.set(socket, Date.now());
    return keepSocketAlive(socket);
  };
  return agent;
}

function dropIdleSockets(agent: http.Agent, idleSince: WeakMap<Duplex, number>): void {
  for (const sockets of Object.values(agent.freeSockets)) {
    for (const socket of sockets ?? []) {
      if (Date.now() - (idleSince.get(socket) ?? 0) > MAX_IDLE_MS) socket.destroy();
    }
  }
}
