// The two pod networks the crash, concurrency and soak suites attach pods to, with every state path in a test
// folder: the stock kube-flannel chain (flannel → bridge → host-local, then portmap) and a plain bridge chain
// (bridge → host-local, then portmap). cniVersion 1.1.0 lets GC and STATUS reach the plugins; the suites that
// drive them through Debian's libcni (which reads results up to 1.0.0) ask for 1.0.0.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Network {
  name: string;
  cniVersion: string;
  /** The plugin configs of the conflist, in order. */
  plugins: Record<string, unknown>[];
  /** The conflist file (for libcni). */
  conflist: string;
  /** Folders that hold the network's state on disk. */
  stateDirs: string[];
  /** The bridge its pods hang off. */
  bridge: string;
}

/** A node whose flanneld leased 10.244.1.0/24 and does not masquerade, so bridge installs ipMasq rules too. */
export function flannelNetwork(dir: string, cniVersion = "1.1.0", name = "cbr0"): Network {
  mkdirSync(dir, { recursive: true });
  const subnetFile = join(dir, "subnet.env");
  writeFileSync(subnetFile, "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
  const plugins = [
    {
      type: "flannel",
      subnetFile,
      dataDir: join(dir, "flannel"),
      ipam: { dataDir: join(dir, "ipam") },
      delegate: { hairpinMode: true, isDefaultGateway: true },
    },
    { type: "portmap", capabilities: { portMappings: true } },
  ];
  return write(dir, name, cniVersion, plugins, [join(dir, "flannel"), join(dir, "ipam")], "cni0");
}

/** A plain bridge network with masquerade and host ports. */
export function bridgeNetwork(dir: string, cniVersion = "1.1.0", name = "podnet", bridge = "cni-rb0", subnet = "10.88.0.0/24"): Network {
  mkdirSync(dir, { recursive: true });
  const plugins = [
    {
      type: "bridge",
      bridge,
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: { type: "host-local", dataDir: join(dir, "ipam"), ranges: [[{ subnet }]], routes: [{ dst: "0.0.0.0/0" }] },
    },
    { type: "portmap", capabilities: { portMappings: true } },
  ];
  return write(dir, name, cniVersion, plugins, [join(dir, "ipam")], bridge);
}

function write(dir: string, name: string, cniVersion: string, plugins: Record<string, unknown>[], stateDirs: string[], bridge: string): Network {
  const conflist = join(dir, `${name}.conflist`);
  writeFileSync(conflist, JSON.stringify({ name, cniVersion, plugins }));
  return { name, cniVersion, plugins, conflist, stateDirs, bridge };
}
