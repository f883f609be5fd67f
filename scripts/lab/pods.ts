// Pods attached and detached through `cni tool` run inside their node's namespace, exactly as an operator
// would with cnitool.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { nsPath, run } from "./sh.ts";
import type { LabNode } from "./topology.ts";

export interface LabPod {
  ns: string;
  node: LabNode;
  /** Its first address (IPv4 when it has one), and every address it got (one per family). */
  ip: string;
  ips: string[];
  addMs: number;
  hostPort?: number;
}

export const HOST_PORT = 8080;
export const POD_PORT = 80;

function tool(bin: string, node: LabNode, command: string, pod: string, capArgs?: object) {
  const env = {
    PATH: process.env.PATH,
    NETCONFPATH: join(node.dir, "net.d"),
    CNI_PATH: bin,
    CNI_CACHE_DIR: join(node.dir, "cache"),
    ...(capArgs ? { CAP_ARGS: JSON.stringify(capArgs) } : {}),
  };
  const t0 = process.hrtime.bigint();
  const r = spawnSync("nsenter", [`--net=${nsPath(node.ns)}`, join(bin, "cni"), "tool", command, "cbr0", nsPath(pod)], { env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`cni tool ${command} cbr0 ${pod} on ${node.ns} failed: ${(r.stdout + r.stderr).trim()}`);
  return { out: r.stdout, ms };
}

export function attachPod(bin: string, node: LabNode, name: string, withHostPort: boolean): LabPod {
  run("ip", ["netns", "add", name]);
  const caps = withHostPort ? { portMappings: [{ hostPort: HOST_PORT, containerPort: POD_PORT, protocol: "tcp" }] } : undefined;
  const { out, ms } = tool(bin, node, "add", name, caps);
  const ips = (JSON.parse(out).ips as { address: string }[]).map((i) => i.address.split("/")[0]);
  return { ns: name, node, ip: ips[0], ips, addMs: ms, ...(withHostPort ? { hostPort: HOST_PORT } : {}) };
}

/** The pod's address of a family (IPv6: it has a colon). */
export const podIP = (pod: LabPod, v6: boolean): string | undefined => pod.ips.find((i) => i.includes(":") === v6);

export function detachPod(bin: string, pod: LabPod): void {
  tool(bin, pod.node, "del", pod.ns);
}
