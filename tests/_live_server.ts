/**
 * A local MJPEG-over-HTTP camera for the live-source tests: `multipart/x-mixed-replace` parts made by the
 * project's ffmpeg from `testsrc`, served on 127.0.0.1 at a free port. Each connection gets `framesPerConnection`
 * frames then the server hangs up; the `refuseAfterDrop` connections after each drop get a 503 (the camera is
 * "down"), then it serves again. `stallAfter` frames, a connection stays open and sends nothing more.
 *
 * @module
 */
import { ffmpegTools } from "../datasets/ffmpeg_binary.ts";

/** How the camera behaves. */
export interface CameraPlan {
  /** Frames per connection before the server hangs up (default: never). */
  framesPerConnection?: number;
  /** Connections refused with 503 after each hang-up. */
  refuseAfterDrop?: number;
  /** Frames sent per second. */
  fps?: number;
  /** After this many frames a connection goes silent (kept open, nothing sent). */
  stallAfter?: number;
}

/** JPEG frames of a 64x48 `testsrc`, `count` of them. */
export async function testJpegs(count: number): Promise<Uint8Array[]> {
  const { ffmpeg } = await ffmpegTools();
  const out = await new Deno.Command(ffmpeg.path, {
    args: [
      ...["-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", String(count)],
      ...["-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg", "pipe:1"],
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`ffmpeg failed: ${new TextDecoder().decode(out.stderr)}`);
  const bytes = out.stdout;
  const starts: number[] = [];
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd8 && bytes[i + 2] === 0xff) starts.push(i);
  }
  return starts.map((start, k) => bytes.slice(start, starts[k + 1] ?? bytes.length));
}

/** The running camera. */
export class MjpegCamera {
  /** Requests answered with a stream. */
  served = 0;
  /** Requests refused with 503. */
  refused = 0;
  readonly url: string;
  readonly #server: Deno.HttpServer;
  readonly #open = new Set<() => void>();

  private constructor(server: Deno.HttpServer, url: string) {
    this.#server = server;
    this.url = url;
  }

  /** Starts serving `jpegs` in a loop, as `plan` says. */
  static start(jpegs: Uint8Array[], plan: CameraPlan = {}): MjpegCamera {
    const fps = plan.fps ?? 20;
    let refuse = 0;
    const made: { camera?: MjpegCamera } = {};
    const encoder = new TextEncoder();
    const handler = (): Response => {
      if (refuse > 0) {
        refuse--;
        made.camera!.refused++;
        return new Response("camera down", { status: 503 });
      }
      made.camera!.served++;
      let sent = 0;
      let timer: ReturnType<typeof setInterval> | undefined;
      let stop = () => {};
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          stop = () => {
            clearInterval(timer);
            made.camera!.#open.delete(stop);
            try {
              controller.close();
            } catch {
              // Already closed.
            }
          };
          made.camera!.#open.add(stop);
          timer = setInterval(() => {
            if (plan.stallAfter !== undefined && sent >= plan.stallAfter) return;
            if (plan.framesPerConnection !== undefined && sent >= plan.framesPerConnection) {
              refuse = plan.refuseAfterDrop ?? 0;
              stop();
              return;
            }
            const jpeg = jpegs[sent % jpegs.length]!;
            const head = `--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`;
            controller.enqueue(encoder.encode(head));
            controller.enqueue(jpeg);
            controller.enqueue(encoder.encode("\r\n"));
            sent++;
          }, 1000 / fps);
        },
        cancel() {
          stop();
        },
      });
      return new Response(body, { headers: { "content-type": "multipart/x-mixed-replace;boundary=frame" } });
    };
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
    const camera = made.camera = new MjpegCamera(server, `http://127.0.0.1:${server.addr.port}/video.mjpg`);
    return camera;
  }

  /** Ends every open stream and stops the server. */
  async close(): Promise<void> {
    for (const stop of [...this.#open]) stop();
    await this.#server.shutdown();
  }
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
