// The world of the portmap traffic tests: a node namespace with an underlay link to a "client" namespace, the
// stock kube-flannel conflist (flannel + portmap, the portmap entry extended per backend) driven by libcni, and
// the traffic every backend must carry: a TCP host port reached from another host, from the node by its
// address and 127.0.0.1, and from the pod (hairpin); hostIP; UDP with its conntrack entries flushed on DEL.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { exchange } from "../../scripts/lab/traffic.ts";
import { type Sandbox, libcni, sh } from "./sandbox.ts";

export const NODE_IP = "192.168.50.1";
const LEASE = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n";

export interface WorldOptions {
  cniVersion?: string;
  /** Keys added to the portmap entry ({ backend: "nftables" }, conditions, …). */
  portmap?: object;
  /** PATH for the runtime and the plugins it runs (a node without some tool). */
  PATH?: string;
}

export function portmapWorld(box: Sandbox, o: WorldOptions = {}) {
  const node = box.netns("node");
  const client = box.netns("client");
  execFileSync("ip", ["link", "add", "ul0", "netns", node, "type", "veth", "peer", "name", "ul0", "netns", client]);
  sh(node, `ip addr add ${NODE_IP}/24 dev ul0 && ip link set ul0 up && ip link set lo up && ip addr add 10.9.9.9/32 dev lo`);
  sh(client, "ip addr add 192.168.50.2/24 dev ul0 && ip link set ul0 up && ip link set lo up");
  const dir = box.tmpdir();
  writeFileSync(join(dir, "subnet.env"), LEASE);
  const conflist = join(dir, "10-flannel.conflist");
  const list = {
    name: "cbr0",
    cniVersion: o.cniVersion ?? "0.3.1",
    plugins: [
      {
        type: "flannel",
        subnetFile: join(dir, "subnet.env"),
        dataDir: join(dir, "flannel"),
        ipam: { dataDir: join(dir, "ipam") },
        delegate: { hairpinMode: true, isDefaultGateway: true },
      },
      { type: "portmap", capabilities: { portMappings: true }, ...o.portmap },
    ],
  };
  writeFileSync(conflist, JSON.stringify(list));
  const drive = (cmd: string, pod: string, id: string, portMappings: object[]) =>
    libcni(node, cmd, conflist, pod, { id, cacheDir: join(dir, "cache"), capArgs: { portMappings }, PATH: o.PATH });
  const nat = () =>
    sh(node, "iptables-save -t nat")
      .split("\n")
      .filter((l) => l.startsWith("-A") || l.startsWith(":"));
  return { node, client, dir, drive, nat, list };
}

export type PortmapWorld = ReturnType<typeof portmapWorld>;

/** The traffic tests every backend passes; `rulesOf` asserts that backend's rules after each ADD. */
export function hostPortTraffic(box: Sandbox, o: WorldOptions, rulesOf: (w: PortmapWorld, what: "tcp" | "hostIP" | "udp") => void) {
  it("a TCP host port is reachable from another host, from the node, via localhost, and from the pod itself", async () => {
    const w = portmapWorld(box, o);
    const pod = box.netns("pod");
    const add = w.drive("add", pod, "web", [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }]);
    expect(add.status, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout).ips[0].address).toBe("10.244.1.2/24");
    rulesOf(w, "tcp");
    for (const [from, host] of [
      [w.client, NODE_IP],
      [w.node, NODE_IP],
      [w.node, "127.0.0.1"],
      [pod, NODE_IP],
    ] as const) {
      expect(await exchange(pod, 80, from, host, 8080), `${from} → ${host}:8080`).toEqual({ answer: "pong", received: "ping" });
    }
    expect(sh(w.node, "cat /proc/sys/net/ipv4/conf/cni0/route_localnet")).toBe("1\n");
  });

  it("UDP host ports work, and DEL flushes the host port's conntrack entries", async () => {
    const w = portmapWorld(box, o);
    const pod = box.netns("pod");
    const maps = [{ hostPort: 5353, containerPort: 53, protocol: "udp" }];
    expect(w.drive("add", pod, "dns", maps).status).toBe(0);
    rulesOf(w, "udp");
    expect(await exchange(pod, 53, w.client, NODE_IP, 5353, "udp")).toEqual({ answer: "pong", received: "ping" });
    const entries = () =>
      sh(w.node, "conntrack -L -p udp --orig-port-dst 5353 2>/dev/null || true")
        .split("\n")
        .filter((l) => l.includes("dport=5353"));
    expect(entries().length).toBeGreaterThan(0);
    expect(w.drive("del", pod, "dns", maps).status).toBe(0);
    expect(entries()).toEqual([]);
  });

  it("hostIP restricts the mapping to that address", async () => {
    const w = portmapWorld(box, o);
    const pod = box.netns("pod");
    expect(w.drive("add", pod, "bound", [{ hostPort: 8081, containerPort: 80, protocol: "tcp", hostIP: "10.9.9.9" }]).status).toBe(0);
    rulesOf(w, "hostIP");
    sh(w.client, `ip route add 10.9.9.9/32 via ${NODE_IP}`);
    expect((await exchange(pod, 80, w.client, "10.9.9.9", 8081)).answer).toBe("pong");
    expect((await exchange(pod, 80, w.client, NODE_IP, 8081)).answer).toBe("");
  });
}
