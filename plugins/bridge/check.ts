// bridge CHECK: the kernel still holds what prevResult says (the reference's checks), plus what the reference
// does not look at: the veth is still attached, the bridge still holds the gateway, masquerade rules exist.
import { CniError, Code, type Context, type Interface, delegate } from "../../lib/skel/index.ts";
import { type Link, type NetlinkSocket, findLink, getBridgePort, isUp, listAddrs, listRoutes } from "../../lib/netlink/index.ts";
import { withNodeAndPod } from "../../lib/netlink/pod-handles.ts";
import { type CIDR, formatCIDR, ipEqual, networkOf, parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { IFF } from "../../lib/netlink/wire/constants.ts";
import { loadConfig } from "./config.ts";
import { masquerade, spoofCheck } from "./lazy.ts";

const fail = (msg: string, details = "") => new CniError(Code.Internal, msg, details);

function expectLink(nl: NetlinkSocket, intf: Interface | undefined, where: string): Link {
  if (!intf?.name) throw fail("Interface name missing ", `prevResult lacks the ${where} interface`);
  const l = findLink(nl, intf.name);
  if (!l) throw fail(`Interface name ${intf.name} not found`, `expected in ${where}`);
  return l;
}

function macMatches(intf: Interface, l: Link, what: string): void {
  if (intf.mac && intf.mac !== l.mac) throw fail(`${what} ${intf.name} Mac doesn't match: ${intf.mac}`, `the kernel has ${l.mac}`);
}

/**
 * What is wrong with a pod's host veth as a port of `br`: detached from it, or down (either way the pod is cut
 * off). Pure, so that doctor judges a pod's port by this same rule.
 */
export function hostPortFault(host: Link, br: Link): { msg: string; fix: string } | undefined {
  const fix = `ip link set ${host.name} master ${br.name} up`;
  if (host.master !== br.index) return { msg: `veth ${host.name} is not attached to bridge ${br.name}`, fix };
  if (!isUp(host)) return { msg: `veth ${host.name} on bridge ${br.name} is down`, fix };
  return undefined;
}

export function check(ctx: Context): void {
  const conf = loadConfig(ctx.conf, ctx.args);
  if (conf.ipamType) delegate(ctx, conf.ipamType, ctx.stdin, "CHECK");
  const prev = ctx.prevResult;
  if (!prev) throw new CniError(Code.InvalidConfig, "Required prevResult missing", "CHECK needs the result of ADD as prevResult");
  const ifaces = prev.interfaces ?? [];
  const brIntf = ifaces.find((i) => i.name === conf.brName);
  const contIntf = ifaces.find((i) => i.name === ctx.ifName && i.sandbox === ctx.netns);
  if (!contIntf) throw fail(`Sandbox in prevResult  doesn't match configured netns: ${ctx.netns}`, `prevResult has no ${ctx.ifName} in ${ctx.netns}`);

  withNodeAndPod(ctx.netns, ({ node: nl, podNl }) => {
    const br = expectLink(nl, brIntf, "the node's namespace");
    if (br.kind !== "bridge") throw fail(`Interface ${br.name} does not have link type of bridge`);
    macMatches(brIntf!, br, "Bridge interface");
    const promisc = (br.flags & IFF.PROMISC) !== 0;
    if (promisc !== conf.promiscMode)
      throw fail(`Bridge interface ${br.name} configured Promisc Mode ${conf.promiscMode} doesn't match current state: ${promisc} `);

    const cont = expectLink(podNl, contIntf, ctx.netns);
    if (cont.kind !== "veth") throw fail(`Error: Container interface ${cont.name} not of type veth`);
    if (contIntf.mac && contIntf.mac !== cont.mac) throw fail(`Interface ${cont.name} Mac ${contIntf.mac} doesn't match container Mac: ${cont.mac}`);

    const hostIntf = ifaces.find((i) => i !== brIntf && i !== contIntf && !i.sandbox && findLink(nl, i.name)?.index === cont.parent);
    if (!hostIntf) throw fail(`CNI veth created for bridge ${conf.brName} was not found`, `no interface of prevResult is the peer of ${cont.name}`);
    const host = findLink(nl, hostIntf.name)!;
    const fault = hostPortFault(host, br);
    if (fault) throw fail(fault.msg, `${fault.fix}, or re-create the pod`);
    const port = getBridgePort(nl, host.index);
    if (port && port.hairpin !== conf.hairpinMode)
      throw fail(`veth ${host.name} has hairpin mode ${port.hairpin ? "on" : "off"}, the config says ${conf.hairpinMode ? "on" : "off"}`);
    macMatches(hostIntf, host, "Interface");
    if (conf.macspoofchk) {
      const missing = spoofCheck().checkSpoofCheck(ctx, host.name, cont.mac ?? "");
      if (missing.length) throw fail(`MAC spoof check of container ${ctx.containerID} is missing`, missing.join("; "));
    }

    const addrs = listAddrs(podNl, cont.index);
    const expected: CIDR[] = [];
    for (const ip of prev.ips ?? []) {
      const want = parseCIDR(ip.address);
      if (!want) continue;
      expected.push(want);
      if (!addrs.some((a) => ipEqual(a.cidr.ip, want.ip) && a.cidr.prefix === want.prefix)) {
        throw fail(`Failed to match addr ${ip.address} on interface ${ctx.ifName}`, `${ctx.netns} no longer has this address`);
      }
    }
    for (const r of prev.routes ?? []) {
      const dst = parseCIDR(r.dst);
      if (!dst) continue;
      const gw = r.gw ? parseIP(r.gw) : undefined;
      const found = listRoutes(podNl, dst.ip.length === 4 ? 4 : 6).some(
        (k) =>
          (k.dst ? k.dst.prefix === dst.prefix && ipEqual(k.dst.ip, networkOf(dst)) : dst.prefix === 0) &&
          (!gw || (k.gw !== undefined && ipEqual(k.gw, gw))),
      );
      if (!found) throw fail(`Expected Route {Dst: ${r.dst} GW: ${r.gw ?? "<nil>"}} not route table`, `the route is missing in ${ctx.netns}`);
    }

    if (conf.isGW && !conf.vlan) {
      const brAddrs = listAddrs(nl, br.index);
      for (const ip of prev.ips ?? []) {
        const addr = parseCIDR(ip.address);
        const gw = ip.gateway ? parseIP(ip.gateway) : undefined;
        if (!addr || !gw) continue;
        if (!brAddrs.some((a) => ipEqual(a.cidr.ip, gw) && a.cidr.prefix === addr.prefix)) {
          throw fail(
            `bridge ${br.name} does not hold the gateway ${ip.gateway}/${addr.prefix}`,
            `it holds ${brAddrs.map((a) => formatCIDR(a.cidr)).join(", ") || "no address"}`,
          );
        }
      }
    }
    if (conf.ipamType && conf.ipMasq) {
      const missing = masquerade().checkMasquerade(conf, ctx, expected);
      if (missing.length) throw fail(`masquerade rules of container ${ctx.containerID} are missing`, missing.join("; "));
    }
  });
}
