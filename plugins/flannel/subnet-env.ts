// flanneld's lease file (/run/flannel/subnet.env): networks, this node's subnets, MTU, whether flanneld
// masquerades. Read as the Go plugin reads it; every failure names the file and what to do.
import { CniError, Code } from "../../lib/skel/index.ts";
import { BoundedReadError, readConfigTextBounded } from "../../lib/sys/read-bounded.ts";
import { type CIDR, formatCIDR, networkOf, parseCIDR } from "../../lib/ip/addr.ts";

export interface SubnetEnv {
  /** FLANNEL_NETWORK entries (networks, host bits cleared), duplicates dropped. */
  networks: CIDR[];
  subnet?: CIDR;
  ip6Networks: CIDR[];
  ip6Subnet?: CIDR;
  mtu: number;
  ipMasq: boolean;
}

const masked = (c: CIDR): CIDR => ({ ip: networkOf(c), prefix: c.prefix });

function cidr(path: string, key: string, value: string): CIDR {
  const c = parseCIDR(value.trim());
  if (!c)
    throw new CniError(
      Code.InvalidConfig,
      `${path}: ${key}=${value} is not a CIDR`,
      "flanneld writes e.g. FLANNEL_SUBNET=10.244.1.1/24; check the flannel pod on this node",
    );
  return masked(c);
}

function cidrList(path: string, key: string, value: string): CIDR[] {
  const seen = new Map<string, CIDR>();
  for (const part of value.split(",")) {
    const c = cidr(path, key, part);
    seen.set(formatCIDR(c), c);
  }
  return [...seen.values()];
}

export function parseSubnetEnv(path: string, text: string): SubnetEnv {
  const env: Partial<SubnetEnv> & { networks: CIDR[]; ip6Networks: CIDR[] } = { networks: [], ip6Networks: [] };
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    switch (key) {
      case "FLANNEL_NETWORK":
        env.networks = cidrList(path, key, value);
        break;
      case "FLANNEL_SUBNET":
        env.subnet = cidr(path, key, value);
        break;
      case "FLANNEL_IPV6_NETWORK":
        env.ip6Networks = cidrList(path, key, value);
        break;
      case "FLANNEL_IPV6_SUBNET":
        env.ip6Subnet = cidr(path, key, value);
        break;
      case "FLANNEL_MTU":
        if (!/^\d+$/.test(value) || Number(value) > 0xffffffff)
          throw new CniError(Code.InvalidConfig, `${path}: FLANNEL_MTU=${value} is not a number`, "check the flannel pod on this node");
        env.mtu = Number(value);
        break;
      case "FLANNEL_IPMASQ":
        env.ipMasq = value === "true";
        break;
    }
  }
  const missing: string[] = [];
  if (!env.networks.length && !env.ip6Networks.length) missing.push("FLANNEL_NETWORK", "FLANNEL_IPV6_NETWORK");
  if (!env.subnet && !env.ip6Subnet) missing.push("FLANNEL_SUBNET", "FLANNEL_IPV6_SUBNET");
  if (env.mtu === undefined) missing.push("FLANNEL_MTU");
  if (env.ipMasq === undefined) missing.push("FLANNEL_IPMASQ");
  if (missing.length) {
    throw new CniError(
      Code.InvalidConfig,
      `${path} is missing ${missing.join(", ")}`,
      "flanneld writes every key when it has a lease; check the flannel pod on this node",
    );
  }
  return env as SubnetEnv;
}

/** Read subnet.env; a missing file means flanneld has not got this node's lease yet (try again later). */
/** flanneld writes six short lines; this is far beyond any real lease file. */
const MAX_SUBNET_ENV_BYTES = 64 << 10;

export function loadSubnetEnv(path: string): SubnetEnv {
  let text: string;
  try {
    text = readConfigTextBounded(path, MAX_SUBNET_ENV_BYTES);
  } catch (e) {
    if (!(e instanceof BoundedReadError)) throw e;
    if (e.reason === "missing") {
      throw new CniError(
        Code.TryAgain,
        `open ${path}: no such file or directory`,
        "flanneld has not written this node's lease yet: check the flannel pod on this node (it writes this file once it has a subnet)",
      );
    }
    if (e.reason === "not-a-file" || e.reason === "too-large") {
      throw new CniError(
        Code.InvalidConfig,
        `subnetFile: ${path} ${e.why}`,
        "point subnetFile at the lease file flanneld writes (default /run/flannel/subnet.env)",
      );
    }
    throw new CniError(Code.IOFailure, `subnetFile: cannot read ${path}: ${e.why}`, "check the path and the file's permissions");
  }
  return parseSubnetEnv(path, text);
}
