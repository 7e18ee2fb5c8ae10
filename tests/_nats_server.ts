/**
 * A throw-away `nats-server -js` for tests: on 127.0.0.1, a free port, its store in a temporary folder; stopped
 * (killed and awaited) and the folder removed afterwards. Tests that need it are ignored when `nats-server` is not
 * on PATH, with a SKIPPED line naming the install command.
 *
 * @module
 */

/** A running server. */
export interface NatsServer {
  url: string;
  port: number;
  /** Kills the server, waits for it to exit and removes its store. */
  stop(): Promise<void>;
  /** Stops the server cleanly (SIGTERM), waits `downMs`, and starts it again on the same port and store. */
  restart(downMs: number): Promise<void>;
}

/** The nats-server binary, or undefined when none is installed. */
export const natsServerPath: string | undefined = findNatsServer();

function findNatsServer(): string | undefined {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/usr/local/bin", "/usr/bin"]);
  for (const dir of dirs) {
    const path = `${dir}/nats-server`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

/** True (and one SKIPPED line printed) when the JetStream tests cannot run here. */
export function skipWithoutNats(what: string): boolean {
  if (natsServerPath) return false;
  console.log(`SKIPPED ${what}: no nats-server on PATH (install it: apt-get install nats-server)`);
  return true;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts `nats-server -js -a 127.0.0.1 -p <free port> -sd <temp dir>` and waits until it accepts connections. */
export async function startNatsServer(): Promise<NatsServer> {
  if (!natsServerPath) throw new Error("no nats-server (apt-get install nats-server)");
  const server = natsServerPath;
  const store = await Deno.makeTempDir({ prefix: "segflow-nats-" });
  const port = freePort();
  const spawn = () =>
    new Deno.Command(server, {
      args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store],
      stdout: "null",
      stderr: "null",
    }).spawn();
  let child = spawn();
  const kill = async (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // Exited already.
    }
    await child.status;
  };
  const stop = async () => {
    await kill("SIGKILL");
    await Deno.remove(store, { recursive: true }).catch(() => {});
  };
  const listening = async () => {
    for (let i = 0; i < 100; i++) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        // JetStream is ready a moment after the port opens.
        await new Promise((r) => setTimeout(r, 100));
        return true;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return false;
  };
  const restart = async (downMs: number) => {
    await kill("SIGTERM");
    await new Promise((r) => setTimeout(r, downMs));
    child = spawn();
    if (!await listening()) throw new Error(`nats-server did not listen again on port ${port}`);
  };
  if (await listening()) return { url: `nats://127.0.0.1:${port}`, port, stop, restart };
  await stop();
  throw new Error(`nats-server did not listen on port ${port}`);
}
