// bridge ADD, in the reference's order. Every step that changes something registers its undo first; if a
// later step fails, the undos run in reverse and the node is as it was (the Go plugin leaves its veth behind).
import { CniError, Code, type Context, type Interface, type Result, type CniRoute, delegate } from "../../lib/skel/index.ts";
import { type Link, type NetlinkSocket, deleteLink, getLink, listPorts, setUp } from "../../lib/netlink/index.ts";
import { NetnsLock } from "../../lib/ns/netns-lock.ts";
import { withNodeAndPod } from "../../lib/netlink/pod-handles.ts";
import { ensureSysctl } from "../../lib/ns/sysctl.ts";
import { type CIDR, addToIP, formatIP, networkOf, parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { type BridgeConf, loadConfig } from "./config.ts";
import {
  bridgeMacFixed,
  deleteLinkIfExists,
  ensureBridge,
  ensureGatewayAddr,
  ensureVlanInterface,
  fixBridgeMac,
  setupVeth,
  waitPortUp,
} from "./links.ts";
import { configureInterface, prepareInterface } from "./pod-iface.ts";
import { masquerade, spoofCheck } from "./lazy.ts";

const POD_IFACE_INDEX = 2;

class Undo {
  private readonly steps: { what: string; fn: () => void }[] = [];
  push(what: string, fn: () => void): void {
    this.steps.push({ what, fn });
  }
  run(ctx: Context): void {
    for (const s of this.steps.reverse()) {
      try {
        s.fn();
      } catch (e) {
        ctx.log.warn(`rollback: could not ${s.what}: ${(e as Error).message}`);
      }
    }
  }
}

/** Gateways per family (gateway/prefix of the pod's subnet) and the default routes isDefaultGateway adds. */
function calcGateways(result: Result, conf: BridgeConf): CIDR[] {
  const gws: CIDR[] = [];
  const routes: CniRoute[] = result.routes ?? [];
  const haveDefault = new Set<number>();
  for (const r of routes) {
    const dst = parseCIDR(r.dst);
    if (dst && dst.prefix === 0 && r.gw) haveDefault.add(dst.ip.length);
  }
  for (const ipc of result.ips ?? []) {
    const addr = parseCIDR(ipc.address);
    if (!addr) throw new CniError(Code.Decoding, `IPAM returned an invalid address ${JSON.stringify(ipc.address)}`);
    ipc.interface = POD_IFACE_INDEX;
    if (!ipc.gateway && conf.isGW) ipc.gateway = formatIP(addToIP(networkOf(addr), 1n));
    if (conf.isDefaultGW && !haveDefault.has(addr.ip.length)) {
      routes.push({ dst: addr.ip.length === 4 ? "0.0.0.0/0" : "::/0", gw: ipc.gateway });
      haveDefault.add(addr.ip.length);
    }
    if (conf.isGW && ipc.gateway) gws.push({ ip: parseIP(ipc.gateway)!, prefix: addr.prefix });
  }
  if (routes.length) result.routes = routes;
  return gws;
}

/**
 * Remove a bridge this ADD created, unless something else got attached to it meanwhile. Under the node
 * namespace's lock held alone: every ADD holds it shared from finding the bridge until its veth is attached, so
 * no ADD is between those two steps while the ports are counted and the bridge deleted.
 */
function removeBridgeIfUnused(nl: NetlinkSocket, br: Link, lock: NetnsLock): void {
  lock.exclusive(() => {
    if (listPorts(nl, br.index).length) return;
    deleteLink(nl, br);
  });
}

export function add(ctx: Context): Result {
  const conf = loadConfig(ctx.conf, ctx.args);
  const undo = new Undo();
  return withNodeAndPod(ctx.netns, ({ node: nl, pod, podNl }) => {
    const lock = NetnsLock.current();
    try {
      if (!bridgeMacFixed(nl, conf.brName)) lock.exclusive(() => fixBridgeMac(nl, conf.brName));
      const { bridge, host, peer } = lock.shared(() => {
        const { bridge, created } = ensureBridge(nl, conf);
        if (created) undo.push(`remove bridge ${bridge.name}`, () => removeBridgeIfUnused(nl, bridge, lock));
        const pair = setupVeth(
          nl,
          bridge,
          conf,
          ctx.ifName,
          { nl: podNl, fd: pod.fd, path: ctx.netns },
          {
            mac: conf.mac,
            vlan: conf.vlan,
            vlans: conf.vlans,
            onCreated: (name) => undo.push(`remove veth ${name}`, () => deleteLinkIfExists(nl, name)),
          },
        );
        return { bridge, ...pair };
      });
      const interfaces: Interface[] = [
        { name: bridge.name, mac: bridge.mac },
        { name: host.name, mac: host.mac },
        { name: peer.name, mac: peer.mac, sandbox: ctx.netns },
      ];
      const result: Result = { interfaces };
      if (conf.macspoofchk) {
        undo.push("remove the MAC spoof check", () => spoofCheck().teardownSpoofCheck(ctx));
        spoofCheck().setupSpoofCheck(ctx, host.name, peer.mac ?? "");
      }

      if (conf.ipamType) {
        // Registered before the ADD: when a delegate's ADD fails, the caller runs its DEL too (SPEC §4), so
        // whatever it reserved before failing is released.
        undo.push(`release the address through ${conf.ipamType} DEL`, () => delegate(ctx, conf.ipamType!, ctx.stdin, "DEL"));
        const ipam = delegate(ctx, conf.ipamType, ctx.stdin, "ADD")!;
        result.ips = ipam.ips;
        result.routes = ipam.routes;
        result.dns = ipam.dns;
        if (!result.ips?.length)
          throw new CniError(Code.Internal, "IPAM plugin returned missing IP config", `${conf.ipamType} returned no addresses`);
        const gws = calcGateways(result, conf);
        const hasV6 = result.ips.some((ip) => ip.address.includes(":"));
        prepareInterface(pod, ctx.ifName, conf.enableDad, hasV6);
        configureInterface(podNl, peer, result, POD_IFACE_INDEX);

        if (conf.isGW) {
          let target = bridge;
          if (conf.vlan) {
            target = ensureVlanInterface(nl, bridge, conf, (name) => undo.push(`remove veth ${name}`, () => deleteLinkIfExists(nl, name)));
            interfaces.push({ name: target.name, mac: target.mac });
          }
          for (const gw of gws) ensureGatewayAddr(nl, target, gw, conf.forceAddress);
          if (gws.some((g) => g.ip.length === 4)) ensureSysctl("net/ipv4/ip_forward", "1");
          if (gws.some((g) => g.ip.length === 16)) ensureSysctl("net/ipv6/conf/all/forwarding", "1");
        }
        if (conf.ipMasq) {
          undo.push("remove masquerade rules", () => masquerade().teardownMasquerade(conf, ctx));
          masquerade().setupMasquerade(
            conf,
            ctx,
            result.ips.map((ip) => parseCIDR(ip.address)!),
          );
        }
      } else if (!conf.disableContainerInterface) {
        setUp(podNl, peer);
      }

      // With the pod side down the port cannot come up; otherwise wait for it, as the reference does.
      const hostNow = conf.disableContainerInterface ? getLink(nl, host.name) : waitPortUp(nl, host.name, bridge.name);
      // The host veth's MAC may change as it is set up: report what the kernel has now (the bridge's is fixed).
      const br = getLink(nl, bridge.name);
      interfaces[0].mac = br.mac;
      if (conf.mtu && br.mtu !== conf.mtu) {
        ctx.log.warn(
          `bridge ${br.name} has MTU ${br.mtu}, not the configured ${conf.mtu}: "mtu" applies only when the bridge is created (delete ${br.name} to recreate it)`,
        );
      }
      interfaces[1].mac = hostNow.mac;
      if (conf.dns) result.dns = conf.dns;
      return result;
    } catch (e) {
      undo.run(ctx);
      throw e;
    } finally {
      lock.close();
    }
  });
}
