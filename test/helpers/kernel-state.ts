// What a pod attachment leaves in the kernel, as comparable data: random veth names and MACs replaced by their
// shape, so ours and the reference's can be compared with toEqual.
import { sh } from "./sandbox.ts";

export function json(ns: string, cmd: string): any[] {
  return JSON.parse(sh(ns, cmd) || "[]");
}

/** The kernel state a bridge ADD produces, with random names and MACs replaced by their shape; routes with their scope, protocol and metric. */
export function kernelState(node: string, pod: string) {
  const vethName = (n: string) => (n.startsWith("veth") ? "veth<8 hex>" : n);
  const nodeLinks = json(node, "ip -j -d link show").map((l) => ({
    name: vethName(l.ifname),
    kind: l.linkinfo?.info_kind,
    mtu: l.mtu,
    master: l.master,
    up: l.flags.includes("UP"),
    operstate: l.operstate,
    hairpin: l.linkinfo?.info_slave_data?.hairpin,
  }));
  const addrs = (ns: string, dev: string) =>
    json(ns, `ip -j addr show dev ${dev}`)[0]
      .addr_info.filter((a: any) => a.scope === "global")
      .map((a: any) => `${a.local}/${a.prefixlen}`);
  // With -d, ip prints every route's protocol and scope, which it otherwise leaves out for the default ones.
  const routes = (ns: string, fam: string) =>
    json(ns, `ip -j -d ${fam} route show table all`)
      .filter((r: any) => !r.dst.startsWith("fe80") && r.table !== "local")
      .map(
        (r: any) =>
          `${r.dst} via ${r.gateway ?? "-"} dev ${r.dev} table ${r.table ?? "main"} proto ${r.protocol} scope ${r.scope} metric ${r.metric ?? 0}`,
      );
  const sysctl = (ns: string, key: string) => sh(ns, `cat /proc/sys/${key}`).trim();
  const nat = (ns: string, tool: string) =>
    sh(ns, `${tool}-save -t nat`)
      .split("\n")
      .filter((l) => l.includes("CNI-"));
  return {
    nodeLinks,
    bridgeAddrs: addrs(node, "cni0"),
    podLinks: json(pod, "ip -j -d link show").map((l) => ({ name: l.ifname, kind: l.linkinfo?.info_kind, mtu: l.mtu, up: l.flags.includes("UP") })),
    podAddrs: addrs(pod, "eth0"),
    podRoutes: [...routes(pod, "-4"), ...routes(pod, "-6")],
    sysctls: {
      ipForward: sysctl(node, "net/ipv4/ip_forward"),
      ip6Forward: sysctl(node, "net/ipv6/conf/all/forwarding"),
      bridgeAcceptRA: sysctl(node, "net/ipv6/conf/cni0/accept_ra"),
      acceptDad: sysctl(pod, "net/ipv6/conf/eth0/accept_dad"),
      arpNotify: sysctl(pod, "net/ipv4/conf/eth0/arp_notify"),
    },
    nat4: nat(node, "iptables"),
    nat6: nat(node, "ip6tables"),
  };
}

export function normaliseResult(r: any) {
  return {
    ...r,
    interfaces: r.interfaces.map((i: any) => ({
      ...i,
      name: i.name.startsWith("veth") ? "veth<8 hex>" : i.name,
      mac: i.mac ? "<mac>" : undefined,
      sandbox: i.sandbox ? "<pod netns>" : undefined,
    })),
  };
}
