import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Every emulator listens on loopback only: nothing of the local stack is reachable from the network. */
export const LOOPBACK_HOST = '127.0.0.1';

/** Listens on 127.0.0.1 (port 0 = any free port) and returns the base URL. */
export async function listenOnLoopback(server: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: boundPort } = server.address() as AddressInfo;
  return `http://${LOOPBACK_HOST}:${boundPort}`;
}

/** Closes the server and drops kept-alive SDK connections, which would otherwise hold it open. */
export async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  server.closeAllConnections();
  await closed;
}
