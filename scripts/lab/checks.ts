// What the lab proves, each check a line of the report: traffic between pods on one node and across nodes,
// to another node, to a host port from another node, and how cross-node packets looked on the underlay.
import { spawn, spawnSync } from "node:child_process";
import { exchange } from "./traffic.ts";
import { nsPath } from "./sh.ts";
import type { Backend, LabNode } from "./topology.ts";
import type { LabPod } from "./pods.ts";
import { POD_PORT } from "./pods.ts";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function ping(from: string, to: string): Check["detail"] | undefined {
  const r = spawnSync("nsenter", [`--net=${nsPath(from)}`, "ping", "-c", "2", "-i", "0.2", "-W", "2", to], { encoding: "utf8" });
  const m = /(\d+) received.*\n.*= [\d.]+\/([\d.]+)\//s.exec(r.stdout);
  return m && Number(m[1]) > 0 ? `${m[1]}/2 replies, avg ${m[2]} ms` : undefined;
}

export function pingCheck(name: string, from: string, to: string): Check {
  const d = ping(from, to);
  return { name, ok: d !== undefined, detail: d ?? "no reply" };
}

export async function tcpCheck(name: string, server: LabPod, from: string, host: string, hostPort = POD_PORT): Promise<Check> {
  const r = await exchange(server.ns, POD_PORT, from, host, hostPort);
  const ok = r.answer === "pong" && r.received === "ping";
  return {
    name,
    ok,
    detail: ok
      ? `TCP ${host}:${hostPort} answered "pong", the pod got "ping"`
      : `TCP ${host}:${hostPort}: answer ${JSON.stringify(r.answer)}, pod got ${JSON.stringify(r.received)}`,
  };
}

/** Capture one cross-node ping on the sending node's underlay and say whether it was VXLAN (VNI 1, UDP 8472). */
export async function encapsulationCheck(backend: Backend, node: LabNode, from: LabPod, to: LabPod): Promise<Check> {
  const filter = backend === "vxlan" ? "udp port 8472" : backend === "ipip" ? "ip proto 4" : `icmp and host ${to.ip}`;
  const dump = spawn(
    "nsenter",
    [`--net=${nsPath(node.ns)}`, "timeout", "8", "tcpdump", "-i", "eth0", "-nn", "-l", "-c", "1", "-T", "vxlan", filter],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  dump.stdout.on("data", (d) => (out += d));
  const done = new Promise<void>((r) => dump.on("close", () => r()));
  // tcpdump says "listening on eth0" once it captures; ping only then (bounded).
  await new Promise<void>((r) => {
    const t = setTimeout(r, 5000);
    dump.stderr.on("data", (d) => {
      if (!String(d).includes("listening on")) return;
      clearTimeout(t);
      r();
    });
  });
  ping(from.ns, to.ip);
  await done;
  // tcpdump prints the outer header and, for VXLAN, the inner packet on the next line ("ICMP echo" for IPv4,
  // "ICMP6, echo" for IPv6).
  const echo = (l: string) => l.includes(`${from.ip} > ${to.ip}: ICMP echo`) || l.includes(`${from.ip} > ${to.ip}: ICMP6, echo`);
  const line = out
    .trim()
    .split("\n")
    .map((l) => l.trim())
    .join("  /  ");
  if (backend === "vxlan") {
    const ok = /> [\da-f.:]+\.8472: VXLAN.*vni 1\b/.test(line) && echo(line);
    return { name: "cross-node traffic is VXLAN on the underlay", ok, detail: line || "nothing captured on udp 8472" };
  }
  if (backend === "ipip") {
    const ok = line.includes(`${node.underlayIP} > `) && echo(line);
    return { name: "cross-node traffic is IP-in-IP on the underlay", ok, detail: line || "nothing captured (ip proto 4)" };
  }
  const ok = echo(line) && !line.includes("VXLAN");
  return { name: "cross-node traffic is routed, not encapsulated (host-gw)", ok, detail: line || "nothing captured" };
}
