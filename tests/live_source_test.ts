import assert from "node:assert/strict";
import { InputError } from "../engine/errors.ts";
import type { FrameInit } from "../engine/frame.ts";
import { loadGraphText } from "../engine/graph.ts";
import { runGraph } from "../engine/run.ts";
import type { FrameSource } from "../engine/source.ts";
import { Backoff } from "../datasets/backoff.ts";
import { liveArgs, redactUrl } from "../datasets/live_connection.ts";
import { isLiveInput, liveSourceWith } from "../datasets/live_source.ts";
import { closedPort, MjpegCamera, testJpegs } from "./_live_server.ts";
import { modelsRoot, projectRoot, testingSetOverrides, testSetup } from "./_helpers.ts";
import { builtinRegistry } from "../stages/mod.ts";
import { loadGraph } from "../engine/graph_load.ts";
import { ffmpegTools } from "../datasets/ffmpeg_binary.ts";

const jpegs = await testJpegs(10);

/** Quick reconnects for the tests (the defaults wait 0.5 s, doubling to 10 s). */
const fast = { stall_s: 1, connect_attempts: 2, backoff_s: 0.05, backoff_max_s: 0.2, rtsp_transport: "tcp" };

function openLive(params: Record<string, unknown>, warnings: string[] = []): Promise<FrameSource> {
  return liveSourceWith({ warn: (m) => warnings.push(m) }).open({ ...fast, ...params } as never);
}

/** The first `count` frames, then the source is closed. */
async function take(source: FrameSource, count: number): Promise<FrameInit[]> {
  const frames: FrameInit[] = [];
  try {
    for await (const frame of source.frames()) {
      frames.push(frame);
      if (frames.length >= count) break;
    }
  } finally {
    await source.close();
  }
  return frames;
}

async function withCamera<T>(plan: Parameters<typeof MjpegCamera.start>[1], body: (c: MjpegCamera) => Promise<T>) {
  const camera = MjpegCamera.start(jpegs, plan);
  try {
    return await body(camera);
  } finally {
    await camera.close();
  }
}

Deno.test("live: --input picks the live kind for stream URLs and V4L2 devices, not for files", () => {
  for (const url of ["rtsp://10.0.0.5:554/live", "rtsps://cam/s", "rtmp://host/app/key", "udp://239.0.0.1:1234"]) {
    assert.ok(isLiveInput(url), url);
  }
  for (
    const url of ["http://cam/video.mjpg", "https://cdn/live/index.m3u8", "http://host:8080/stream.ts", "srt://h:9"]
  ) {
    assert.ok(isLiveInput(url), url);
  }
  assert.ok(isLiveInput("/dev/video0"));
  for (const path of ["clip.mp4", "http://host/files/clip.mp4", "https://host/a.MKV?x=1", "/dev/sda", "ftp://x/y"]) {
    assert.ok(!isLiveInput(path), path);
  }
});

Deno.test("live: ffmpeg arguments per input, and passwords are kept out of messages", () => {
  const rtsp = liveArgs({ url: "rtsp://cam/live", device: false, rtspTransport: "tcp" });
  assert.deepEqual(rtsp.slice(rtsp.indexOf("-rtsp_transport"), rtsp.indexOf("-rtsp_transport") + 2), [
    "-rtsp_transport",
    "tcp",
  ]);
  const device = liveArgs({
    url: "/dev/video0",
    device: true,
    inputFormat: "mjpeg",
    size: { width: 320, height: 240 },
  });
  assert.deepEqual(device.slice(device.indexOf("-f"), device.indexOf("-f") + 2), ["-f", "v4l2"]);
  assert.ok(device.includes("-input_format") && device.includes("scale=320:240"));
  const http = liveArgs({ url: "http://cam/v", device: false });
  assert.ok(!http.includes("-rtsp_transport"));
  // HLS in ffmpeg 4.1 gives no frame with +nobuffer: HTTP inputs keep their buffering, the others go without.
  assert.equal(http[http.indexOf("-fflags") + 1], "+discardcorrupt");
  assert.equal(rtsp[rtsp.indexOf("-fflags") + 1], "+nobuffer+discardcorrupt");
  assert.equal(redactUrl("rtsp://admin:secret@10.0.0.5/live"), "rtsp://admin:***@10.0.0.5/live");
  const backoff = new Backoff(500, 2000);
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next()], [500, 1000, 2000, 2000]);
  backoff.reset();
  assert.equal(backoff.next(), 500);
});

Deno.test("live: a live source that stops and returns is reconnected, its frames going on with the next index", async () => {
  await withCamera({ framesPerConnection: 5, refuseAfterDrop: 1 }, async (camera) => {
    const warnings: string[] = [];
    const source = await openLive({ url: camera.url }, warnings);
    assert.deepEqual([source.info.width, source.info.height, source.info.live], [64, 48, true]);
    const frames = await take(source, 14);
    assert.deepEqual(frames.map((f) => f.index), Array.from({ length: 14 }, (_, i) => i));
    for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.timestamp > frames[i - 1]!.timestamp);
    assert.ok(frames.every((f) => f.image.width === 64 && f.image.data.length === 64 * 48 * 3));
    assert.ok(camera.served >= 3 && camera.refused >= 2, `served ${camera.served}, refused ${camera.refused}`);
    assert.ok(warnings.some((w) => w.includes(`${camera.url}: stream dropped after frame`)), warnings.join("\n"));
    assert.ok(warnings.some((w) => /reconnected after 2 attempts .*; next frame \d+$/.test(w)), warnings.join("\n"));
    assert.ok(warnings.some((w) => w.includes("5XX")), "the refusal is named");
    assert.ok(warnings.every((w) => !w.includes("\n")));
  });
});

Deno.test("live: source.width and source.height scale the frames (and a bad pair is refused before connecting)", async () => {
  await withCamera({}, async (camera) => {
    const source = await openLive({ url: camera.url, width: 32, height: 24, fps: 10 });
    assert.deepEqual([source.info.width, source.info.height, source.info.fps], [32, 24, 10]);
    const frames = await take(source, 2);
    assert.ok(frames.every((f) => f.image.width === 32 && f.image.data.length === 32 * 24 * 3));
  });
  const check = liveSourceWith().check!;
  assert.throws(
    () => check({ ...fast, url: "rtsp://u:pw@cam/x", width: 32 } as never),
    /^UsageError: rtsp:\/\/u:\*\*\*@cam\/x: give both/,
  );
});

Deno.test("live: a stream that stalls (connection open, no frames) is dropped after stall_s and reconnected", async () => {
  await withCamera({ stallAfter: 3 }, async (camera) => {
    const warnings: string[] = [];
    const source = await openLive({ url: camera.url, stall_s: 0.3 }, warnings);
    const frames = await take(source, 5);
    assert.deepEqual(frames.map((f) => f.index), [0, 1, 2, 3, 4]);
    assert.ok(camera.served >= 2);
    assert.ok(warnings.some((w) => w.includes("(stalled: no frame for 0.3 s)")), warnings.join("\n"));
  });
});

Deno.test("live: a URL that never connects fails with one line naming it, after the attempts", async () => {
  const url = `http://127.0.0.1:${closedPort()}/cam`;
  const warnings: string[] = [];
  const error = await openLive({ url, connect_attempts: 2 }, warnings).then(() => undefined, (e: Error) => e);
  assert.ok(error instanceof InputError);
  assert.match(error.message, new RegExp(`^${url}: cannot connect: .*Connection refused.* \\(2 attempts\\)$`));
  assert.ok(!error.message.includes("\n"));
  assert.equal(warnings.length, 1);

  // A server that accepts the connection and never answers: the stall time ends each try.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  try {
    const quiet = `http://127.0.0.1:${(silent.addr as Deno.NetAddr).port}/cam`;
    const started = performance.now();
    const stalled = await openLive({ url: quiet, connect_attempts: 1, stall_s: 0.2 }).then(() => undefined, (e) => e);
    assert.match(
      String(stalled?.message),
      new RegExp(`^${quiet}: cannot connect: no frame within 0.4 s \\(1 attempt\\)$`),
    );
    assert.ok(performance.now() - started < 3000);
  } finally {
    silent.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test("live: when the reconnect attempts are spent the stream fails with one line naming the URL", async () => {
  await withCamera({ framesPerConnection: 3, refuseAfterDrop: 1000 }, async (camera) => {
    const source = await openLive({ url: camera.url, reconnect: 2 });
    const error = await take(source, 100).then(() => undefined, (e: Error) => e);
    assert.ok(error instanceof InputError);
    assert.match(
      error.message,
      new RegExp(
        `^${camera.url}: stream lost after frame \\d: no frame after 2 reconnect attempts \\(last: .*5XX.*\\)$`,
      ),
    );
  });
  await withCamera({ framesPerConnection: 3 }, async (camera) => {
    // reconnect: 0 — a camera that hangs up ends the stream like the end of a file.
    const frames = await take(await openLive({ url: camera.url, reconnect: 0 }), 100);
    assert.ok(frames.length >= 2 && frames.length <= 3, `${frames.length} frames`);
    assert.equal(camera.served, 1);
  });
});

Deno.test("live: --input URL runs a graph under keep_latest, and an abort during back-off ends the run promptly", async () => {
  await withCamera({ framesPerConnection: 4, refuseAfterDrop: 1000 }, async (camera) => {
    const { registry } = testSetup();
    const warnings: string[] = [];
    const controller = new AbortController();
    let droppedAt = 0;
    registry.sources.set(
      "live",
      liveSourceWith({
        warn: (m) => {
          warnings.push(m);
          // The stream dropped: abort while the source waits 5 s to reconnect.
          if (m.includes("stream dropped") && !droppedAt) {
            droppedAt = performance.now();
            setTimeout(() => controller.abort("SIGINT"), 50);
          }
        },
      }) as never,
    );
    const graph = await loadGraphText(
      "live.yaml",
      "source: { kind: fake }\nexecution: { overflow: keep_latest, max_in_flight: 2 }\nsinks:\n  - { kind: slow }\n",
      { registry, modelsRoot, input: camera.url, overrides: ["source.backoff_s=5", "source.stall_s=1"] },
    );
    assert.equal(graph.source.kind, "live");
    const error = await runGraph(graph, { signal: controller.signal, quiet: true }).then(() => undefined, (e) => e);
    assert.equal(error?.name, "InterruptedError", String(error));
    const stopped = performance.now() - droppedAt;
    assert.ok(stopped < 2000, `the run took ${stopped.toFixed(0)} ms to end after the drop`);
    assert.ok((error.report?.frames ?? 0) >= 2, JSON.stringify(error.report?.frames));
    assert.equal(camera.served, 1, "no reconnect happened");
  });
});

Deno.test("live: a graph that is slower than the camera drops frames by default (keep_latest), a file never", async () => {
  await withCamera({ framesPerConnection: 20, fps: 40 }, async (camera) => {
    const { registry } = testSetup();
    registry.sources.set("live", liveSourceWith({ warn: () => {} }) as never);
    const graph = await loadGraphText(
      "live.yaml",
      "source: { kind: fake }\nexecution: { max_in_flight: 1 }\nsinks:\n  - { kind: slow, delay_ms: 100 }\n",
      { registry, modelsRoot, input: camera.url, overrides: ["source.reconnect=0"] },
    );
    const report = await runGraph(graph, { quiet: true });
    assert.ok(report.dropped > 0, `frames ${report.frames}, dropped ${report.dropped}`);
    // Every frame the camera sent was processed or counted dropped (but the last: ffmpeg's mpjpeg demuxer hands a
    // frame over when the next one starts, and the hang-up ends the last one unread).
    assert.ok(report.frames + report.dropped >= 19, `frames ${report.frames} + dropped ${report.dropped}`);
    const file = await loadGraphText(
      "file.yaml",
      "source: { kind: fake, frames: 5 }\nexecution: { max_in_flight: 1 }\nsinks:\n  - { kind: slow, delay_ms: 20 }\n",
      { registry, modelsRoot },
    );
    const lossless = await runGraph(file, { quiet: true });
    assert.deepEqual([lossless.frames, lossless.dropped], [5, 0]);
  });
});

Deno.test("live: an HLS playlist over HTTP is read through ffmpeg's own demuxer; reconnect: 0 ends at its end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "segflow-hls-" });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const name = new URL(request.url).pathname.slice(1);
    if (!/^[\w.-]+$/.test(name)) return new Response("no", { status: 404 });
    try {
      return new Response(await Deno.readFile(`${dir}/${name}`));
    } catch {
      return new Response("missing", { status: 404 });
    }
  });
  try {
    // 20 frames at 10 fps as MJPEG-in-MPEG-TS segments of about half a second, a finished (VOD) playlist.
    const { ffmpeg } = await ffmpegTools();
    const encode = await new Deno.Command(ffmpeg.path, {
      args: ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2", "-c:v", "mpeg2video"]
        .concat(["-g", "5", "-f", "hls", "-hls_time", "0.5", "-hls_list_size", "0", `${dir}/index.m3u8`]),
      stderr: "piped",
    }).output();
    assert.equal(encode.code, 0, new TextDecoder().decode(encode.stderr));
    const url = `http://127.0.0.1:${server.addr.port}/index.m3u8`;
    const source = await openLive({ url, reconnect: 0, fps: 10 });
    assert.ok(source.info.live);
    assert.deepEqual([source.info.width, source.info.height], [64, 48]);
    const frames = await take(source, 100);
    assert.equal(frames.length, 20);
    assert.deepEqual(frames.map((f) => f.index), [...Array(20).keys()]);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("live: MPEG-TS over UDP (a packet stream without a server) is read as it arrives", async () => {
  const port = closedPort();
  const opening = openLive({ url: `udp://127.0.0.1:${port}`, stall_s: 5, connect_attempts: 1 });
  // ffmpeg probes a UDP stream for about 5 s before its first frame; the sender runs longer than that.
  const { ffmpeg } = await ffmpegTools();
  const sender = new Deno.Command(ffmpeg.path, {
    args: ["-v", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=20", "-c:v", "mpeg2video"]
      .concat(["-f", "mpegts", `udp://127.0.0.1:${port}?pkt_size=1316`]),
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const source = await opening;
    assert.deepEqual([source.info.width, source.info.height, source.info.live], [64, 48, true]);
    const frames = await take(source, 10);
    assert.deepEqual(frames.map((f) => f.index), [...Array(10).keys()]);
  } finally {
    sender.kill();
    await sender.status;
  }
});

Deno.test("live: after a reconnect the stream starts afresh: DFF's first frame after the gap is a key frame", async () => {
  await withCamera({ framesPerConnection: 5, refuseAfterDrop: 1 }, async (camera) => {
    const registry = builtinRegistry();
    const warnings: string[] = [];
    registry.sources.set("live", liveSourceWith({ warn: (m) => warnings.push(m) }) as never);
    const graph = await loadGraph(`${projectRoot}/graphs/dff.yaml`, {
      registry,
      modelsRoot,
      modelSet: "testing",
      input: camera.url,
      overrides: [...testingSetOverrides("dff"), "decide.every=100", "execution.overflow=block"]
        .concat(Object.entries(fast).map(([k, v]) => `source.${k}=${v}`)),
      warn: () => {},
    });
    const keys: [number, boolean][] = [];
    await runGraph(graph, {
      quiet: true,
      frames: 8,
      warn: () => {},
      onFrame: (frame) => keys.push([frame.index, frame.slots.get("is_key") === true]),
    });
    const back = Number(warnings.join("\n").match(/reconnected after .*; next frame (\d+)/)?.[1]);
    assert.ok(back > 0 && back < 8, warnings.join("\n"));
    assert.deepEqual(keys.map(([index]) => index), [...Array(8).keys()]);
    assert.deepEqual(keys.filter(([, key]) => key).map(([index]) => index), [0, back], JSON.stringify(keys));
  });
});
