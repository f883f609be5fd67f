// The valid starting points the fuzzer mutates: for every plugin and command, a config, an environment and the
// files they name, all of which succeed (or, for CHECK on a fresh node, fail cleanly) before any mutation.
// Placeholders are filled in per run: @T@ the case's own folder, @POD@ / @NODE@ the namespaces' paths, @BIN@
// the folder of the plugin executables.
import type { Rng } from "./prng.ts";
import type { PluginName } from "../../../plugins/registry.ts";

export type { PluginName };
export const COMMANDS = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"] as const;
export type CommandName = (typeof COMMANDS)[number];
/** The spec's versions, written out here rather than taken from the code under test. */
export const VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

export type Fixture =
  | { path: string; kind: "file"; content: string }
  | { path: string; kind: "script"; content: string }
  | { path: string; kind: "fifo" | "dir" }
  | { path: string; kind: "sparse"; size: number }
  | { path: string; kind: "symlink"; target: string };

/** Keys that name where a plugin writes (only sandbox values allowed) or hold such a key (never dropped). */
export type Protection = "write-path" | "holds-write-path" | "read-path";

export interface Seed {
  plugin: PluginName;
  command: CommandName;
  version: string;
  conf: Record<string, unknown>;
  env: Record<string, string>;
  fixtures: Fixture[];
  protect: Record<string, Protection>;
  /** The pod address the seed's prevResult claims (portmap, CHECK). */
  podAddress?: string;
}

const atLeast = (v: string, min: string) => VERSIONS.indexOf(v as never) >= VERSIONS.indexOf(min as never);

function versionFor(r: Rng, command: CommandName): string {
  if (command === "GC" || command === "STATUS") return "1.1.0";
  const pool = command === "CHECK" ? VERSIONS.filter((v) => atLeast(v, "0.4.0")) : VERSIONS;
  // The versions runtimes send today, more often than the old ones.
  return r.chance(0.6) ? r.pick(pool.filter((v) => ["0.3.1", "0.4.0", "1.0.0", "1.1.0"].includes(v))) : r.pick(pool);
}

interface PrevIface {
  name: string;
  sandbox?: string;
}

/** A result in the shape `version` prints, for prevResult. */
export function prevResult(
  version: string,
  ifaces: PrevIface[],
  ips: { address: string; gateway?: string; iface: number }[],
  routes: { dst: string; gw?: string }[] = [],
): Record<string, unknown> {
  if (!atLeast(version, "0.3.0")) {
    const four = ips.find((i) => !i.address.includes(":"));
    const six = ips.find((i) => i.address.includes(":"));
    const fam = (i?: { address: string; gateway?: string }) => (i ? { ip: i.address, ...(i.gateway ? { gateway: i.gateway } : {}) } : undefined);
    return { cniVersion: version, ...(four ? { ip4: fam(four) } : {}), ...(six ? { ip6: fam(six) } : {}) };
  }
  const withVersion = !atLeast(version, "1.0.0");
  return {
    cniVersion: version,
    interfaces: ifaces,
    ips: ips.map((i) => ({
      ...(withVersion ? { version: i.address.includes(":") ? "6" : "4" } : {}),
      address: i.address,
      ...(i.gateway ? { gateway: i.gateway } : {}),
      interface: i.iface,
    })),
    ...(routes.length ? { routes } : {}),
  };
}

export function envFor(r: Rng, command: CommandName): Record<string, string> {
  const env: Record<string, string> = { CNI_COMMAND: command };
  if (command === "VERSION") return env;
  env.CNI_PATH = "@BIN@";
  if (command === "GC" || command === "STATUS") return env;
  env.CNI_CONTAINERID = `fz${r.hex(10)}`;
  env.CNI_NETNS = "@POD@";
  env.CNI_IFNAME = r.chance(0.8) ? "eth0" : r.pick(["net1", "eth1", "cni-x"]);
  if (r.chance(0.2)) env.CNI_ARGS = r.pick(["IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0", "IgnoreUnknown=true"]);
  return env;
}

const LEASES = {
  v4: (masq: boolean) => `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=${masq}\n`,
  dual: (masq: boolean) =>
    `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00:244::/56\nFLANNEL_IPV6_SUBNET=fd00:244:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=${masq}\n`,
  v6: (masq: boolean) => `FLANNEL_IPV6_NETWORK=fd00:244::/56\nFLANNEL_IPV6_SUBNET=fd00:244:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=${masq}\n`,
};

type Build = Omit<Seed, "plugin" | "command" | "version" | "env">;

function flannel(r: Rng, command: CommandName, version: string, ifname: string): Build {
  const lease = r.pick(["v4", "v4", "dual", "v6"] as const);
  const conf: Record<string, unknown> = {
    cniVersion: version,
    name: "cbr0",
    type: "flannel",
    subnetFile: "@T@/subnet.env",
    dataDir: "@T@/flannel",
    ipam: { dataDir: "@T@/ipam" },
    delegate: { hairpinMode: true, isDefaultGateway: true },
  };
  if (r.chance(0.2)) (conf.ipam as Record<string, unknown>).routes = [{ dst: "192.168.0.0/16" }];
  if (r.chance(0.2)) (conf.delegate as Record<string, unknown>).mtu = 1400;
  if (r.chance(0.15)) conf.runtimeConfig = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] };
  const address = lease === "v6" ? "fd00:244:0:1::2/64" : "10.244.1.2/24";
  if (command === "CHECK")
    conf.prevResult = prevResult(
      version,
      [{ name: "cni0" }, { name: "veth12345678" }, { name: ifname, sandbox: "@POD@" }],
      [{ address, gateway: address.replace(/2\/(24|64)$/, "1"), iface: 2 }],
    );
  return {
    conf,
    fixtures: [{ path: "subnet.env", kind: "file", content: LEASES[lease](r.chance(0.5)) }],
    protect: { dataDir: "write-path", ipam: "holds-write-path", "ipam.dataDir": "write-path", subnetFile: "read-path" },
    podAddress: address,
  };
}

function ipamConf(r: Rng, version: string, dual: boolean): Record<string, unknown> {
  const ipam: Record<string, unknown> = { type: "host-local", dataDir: "@T@/ipam" };
  const v4 = {
    subnet: "10.99.0.0/24",
    ...(r.chance(0.2) ? { rangeStart: "10.99.0.10", rangeEnd: "10.99.0.20" } : {}),
    ...(r.chance(0.1) ? { gateway: "10.99.0.254" } : {}),
  };
  if (r.chance(0.15) && !dual) Object.assign(ipam, v4);
  else ipam.ranges = dual && atLeast(version, "0.3.0") ? [[v4], [{ subnet: "fd99::/64" }]] : [[v4]];
  if (r.chance(0.6)) ipam.routes = r.chance(0.5) ? [{ dst: "0.0.0.0/0" }] : [{ dst: "192.168.0.0/16", gw: "10.99.0.1" }];
  return ipam;
}

function bridge(r: Rng, command: CommandName, version: string, ifname: string): Build {
  const conf: Record<string, unknown> = {
    cniVersion: version,
    name: "fznet",
    type: "bridge",
    bridge: r.pick(["cni0", "cni-fz0", "br-fuzz"]),
    isGateway: true,
    ipMasq: r.chance(0.5),
    ipam: ipamConf(r, version, r.chance(0.3)),
  };
  // isDefaultGateway adds its own default route: with an IPAM default route without "gw" both plugins fail (EEXIST).
  const ipam = conf.ipam as Record<string, unknown>;
  if (r.chance(0.3) && !JSON.stringify(ipam.routes ?? []).includes('"0.0.0.0/0"}')) conf.isDefaultGateway = true;
  if (r.chance(0.3)) conf.hairpinMode = true;
  else if (r.chance(0.1)) conf.promiscMode = true;
  if (r.chance(0.15)) conf.mtu = r.pick([1400, 9000]);
  // No "vlan": kernels without CONFIG_BRIDGE_VLAN_FILTERING (this one) refuse it, so it cannot be a valid seed.
  if (r.chance(0.05)) conf.forceAddress = true;
  if (command === "CHECK") {
    conf.prevResult = prevResult(
      version,
      [{ name: conf.bridge as string }, { name: "veth12345678" }, { name: ifname, sandbox: "@POD@" }],
      [{ address: "10.99.0.2/24", gateway: "10.99.0.1", iface: 2 }],
    );
  }
  return { conf, fixtures: [], protect: { ipam: "holds-write-path", "ipam.dataDir": "write-path" }, podAddress: "10.99.0.2/24" };
}

function hostLocal(r: Rng, command: CommandName, version: string): Build {
  const ipam = ipamConf(r, version, r.chance(0.3));
  if (r.chance(0.5)) ipam.resolvConf = "@T@/resolv.conf";
  const conf: Record<string, unknown> = { cniVersion: version, name: "hlnet", type: "host-local", ipam };
  if (command === "CHECK") conf.prevResult = prevResult(version, [], [{ address: "10.99.0.2/24", gateway: "10.99.0.1", iface: 0 }]);
  if (r.chance(0.1)) conf.runtimeConfig = { ips: ["10.99.0.15/24"] };
  return {
    conf,
    fixtures: [
      { path: "resolv.conf", kind: "file", content: "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5\n" },
    ],
    protect: { ipam: "holds-write-path", "ipam.dataDir": "write-path", "ipam.resolvConf": "read-path" },
  };
}

function loopback(_r: Rng, command: CommandName, version: string): Build {
  const conf: Record<string, unknown> = { cniVersion: version, name: "lo", type: "loopback" };
  if (command === "CHECK")
    conf.prevResult = prevResult(
      version,
      [{ name: "lo", sandbox: "@POD@" }],
      [
        { address: "127.0.0.1/8", iface: 0 },
        { address: "::1/128", iface: 0 },
      ],
    );
  return { conf, fixtures: [], protect: {} };
}

function portmap(r: Rng, _command: CommandName, version: string, ifname: string): Build {
  const six = r.chance(0.25);
  const ips = [
    { address: "10.244.1.2/24", gateway: "10.244.1.1", iface: 2 },
    ...(six ? [{ address: "fd00:244:0:1::2/64", gateway: "fd00:244:0:1::1", iface: 2 }] : []),
  ];
  const mappings: Record<string, unknown>[] = [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }];
  if (r.chance(0.4)) mappings.push({ hostPort: 5353, containerPort: 53, protocol: "udp" });
  if (r.chance(0.2)) mappings.push({ hostPort: 9090, containerPort: 90, protocol: "tcp", hostIP: six && r.chance(0.5) ? "::1" : "127.0.0.1" });
  const conf: Record<string, unknown> = {
    cniVersion: version,
    name: "pmnet",
    type: "portmap",
    runtimeConfig: { portMappings: mappings },
    prevResult: prevResult(version, [{ name: "cni0" }, { name: "veth12345678" }, { name: ifname, sandbox: "@POD@" }], ips),
  };
  if (r.chance(0.2)) conf.snat = r.chance(0.5);
  if (r.chance(0.15)) conf.markMasqBit = r.between(0, 31);
  if (r.chance(0.1)) conf.masqAll = true;
  if (r.chance(0.15)) conf.conditionsV4 = ["-s", "10.0.0.0/8"];
  if (six && r.chance(0.15)) conf.conditionsV6 = ["!", "-s", "fd00::/8"];
  return { conf, fixtures: [], protect: {}, podAddress: "10.244.1.2/24" };
}

type Builder = (r: Rng, command: CommandName, version: string, ifname: string) => Build;
/** A seed builder for every plugin of the registry (its type says so). */
const BUILDERS: Record<PluginName, Builder> = { flannel, bridge, "host-local": hostLocal, loopback, portmap };
/**
 * The plugins fuzzed: all of them, in the order the fuzzer has always drawn from, since a run's cases follow
 * from its seed and this order (a recorded CNI_FUZZ_SEED replays the same cases).
 */
export const PLUGINS = Object.keys(BUILDERS) as PluginName[];

export function seedFor(r: Rng, plugin: PluginName, command: CommandName): Seed {
  const version = versionFor(r, command);
  const env = envFor(r, command);
  const s = BUILDERS[plugin](r, command, version, env.CNI_IFNAME ?? "eth0");
  if (command === "GC") s.conf["cni.dev/valid-attachments"] = r.chance(0.5) ? [] : [{ containerID: `fz${r.hex(10)}`, ifname: "eth0" }];
  return { plugin, command, version, env, ...s };
}
