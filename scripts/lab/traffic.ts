// Bounded TCP/UDP exchanges between lab and test namespaces with netcat: a one-shot server that answers "pong", and a
// client that sends "ping" and returns what came back. Every process has a timeout; nothing outlives a test.
import { spawn, spawnSync } from "node:child_process";
import { nsPath } from "./sh.ts";

export interface Server {
  /** What the server received (resolves when it exits). */
  received: Promise<string>;
  stop(): void;
}

export async function serveOnce(ns: string, port: number, proto: "tcp" | "udp" = "tcp", v6 = false): Promise<Server> {
  // TCP: no -q on the server, or it may quit before the client's data arrives. nc listens on IPv4 unless told -6.
  const nc = `nc${v6 ? " -6" : ""} ${proto === "udp" ? `-u -l -W1 -p ${port}` : `-l -p ${port}`}`;
  const p = spawn("nsenter", [`--net=${nsPath(ns)}`, "sh", "-c", `echo pong | timeout 8 ${nc}`], {
    stdio: ["ignore", "pipe", "ignore"],
    timeout: 8000,
    killSignal: "SIGKILL",
  });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  const received = new Promise<string>((r) => p.on("close", () => r(out.trim())));
  // Wait until the socket is bound (bounded), not a fixed time: a loaded machine may take longer to start nc.
  const listening = () =>
    spawnSync("nsenter", [`--net=${nsPath(ns)}`, "ss", "-H", proto === "udp" ? "-lun" : "-ltn", `sport = :${port}`], {
      encoding: "utf8",
    }).stdout.trim() !== "";
  for (let waited = 0; waited < 5000 && !listening(); waited += 25) await new Promise((r) => setTimeout(r, 25));
  return { received, stop: () => p.kill("SIGKILL") };
}

/** Send "ping" from `ns` to host:port; returns the answer ("" when nothing answered). */
export function ask(ns: string, host: string, port: number, proto: "tcp" | "udp" = "tcp"): string {
  const nc = proto === "udp" ? `nc -u -w1 ${host} ${port}` : `nc -w2 -q1 ${host} ${port}`;
  const r = spawnSync("nsenter", [`--net=${nsPath(ns)}`, "sh", "-c", `echo ping | timeout 5 ${nc}`], { encoding: "utf8" });
  return r.stdout.trim();
}

/** A server on `server`:port answering `from` → host:hostPort; returns both sides' views. */
export async function exchange(
  server: string,
  port: number,
  from: string,
  host: string,
  hostPort = port,
  proto: "tcp" | "udp" = "tcp",
): Promise<{ answer: string; received: string }> {
  const s = await serveOnce(server, port, proto, host.includes(":"));
  try {
    const answer = ask(from, host, hostPort, proto);
    if (!answer) return { answer, received: "" };
    return { answer, received: await s.received };
  } finally {
    s.stop();
  }
}
