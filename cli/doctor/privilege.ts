// doctor and show read the node's netlink state, its firewall and files only root may read (the cache, the IPAM
// and flannel state). Without the privilege each read fails in its own way ("install the iptables package",
// "0 reservations"), which points at the wrong thing: refuse up front, in one line, instead.
import { readFileSync } from "node:fs";
import type { Options } from "./options.ts";

const CAP_NET_ADMIN = 12n;

/** Whether /proc/self/status's CapEff holds CAP_NET_ADMIN (false when it cannot be read). */
export function hasNetAdmin(status: string): boolean {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m ? ((BigInt(`0x${m[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n : false;
}

/** The line to print when this process may not examine the node, else undefined. */
export function privilegeProblem(opts: Options, euid = process.geteuid?.() ?? 0, status = readStatus()): string | undefined {
  if (euid === 0 || hasNetAdmin(status)) return undefined;
  const files = [opts.confDir, `${opts.cacheDir.replace(/\/+$/, "")}/results`, opts.subnetFile ?? "the subnet file"];
  return `run as root (or with CAP_NET_ADMIN and read access to ${files.join(", ")} and the network's IPAM and flannel state folders)`;
}

function readStatus(): string {
  try {
    return readFileSync("/proc/self/status", "utf8");
  } catch {
    return "";
  }
}
