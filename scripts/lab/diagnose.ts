// `cni show` and `cni doctor` run on a lab node as an operator would on a real one: inside the node's network
// namespace, pointed at the node's configuration, plugins and cache.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { nsPath } from "./sh.ts";
import type { LabNode } from "./topology.ts";

export function onNode(bin: string, node: LabNode, command: "doctor" | "show", ...args: string[]): { code: number; out: string } {
  const flags = ["--conf-dir", join(node.dir, "net.d"), "--bin-dir", bin, "--cache-dir", join(node.dir, "cache")];
  const argv = [`--net=${nsPath(node.ns)}`, join(bin, "cni"), command, ...flags, ...args];
  const r = spawnSync("nsenter", argv, { encoding: "utf8", env: { PATH: process.env.PATH } });
  return { code: r.status ?? 1, out: r.stdout + r.stderr };
}
