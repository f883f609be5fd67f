// Routes: add / replace / delete / list (dst, gateway, dev, scope, onlink, table, metric, source).
import { type Attr, AttrMap, attr, nest, u32 } from "./wire/attr.ts";
import { AF, NLM_F, RTA, RTAX, RTM, RTN, RTNH_F, RTPROT, RT_SCOPE, RT_TABLE } from "./wire/constants.ts";
import { parseRtmsg, rtmsg } from "./wire/message.ts";
import type { NetlinkSocket } from "./socket.ts";
import { type CIDR, type IPBytes, formatCIDR, formatIP } from "../ip/addr.ts";

export interface Route {
  /** Destination; undefined (or prefix 0) is the default route. */
  dst?: CIDR;
  gw?: IPBytes;
  /** Output interface index. */
  dev?: number;
  scope?: number;
  table?: number;
  onlink?: boolean;
  priority?: number;
  src?: IPBytes;
  protocol?: number;
  type?: number;
  family?: 4 | 6;
  /** RTAX_MTU and RTAX_ADVMSS metrics. */
  mtu?: number;
  advmss?: number;
}

function famOf(r: Route): 4 | 6 {
  if (r.family) return r.family;
  const ip = r.dst?.ip ?? r.gw;
  if (!ip) throw new Error("route needs a dst, gw or family");
  return ip.length === 4 ? 4 : 6;
}

export function describeRoute(r: Route): string {
  const parts = [r.dst && r.dst.prefix > 0 ? formatCIDR(r.dst) : "default"];
  if (r.gw) parts.push(`via ${formatIP(r.gw)}`);
  if (r.dev) parts.push(`dev ${r.dev}`);
  if (r.onlink) parts.push("onlink");
  if (r.table && r.table !== RT_TABLE.MAIN) parts.push(`table ${r.table}`);
  return parts.join(" ");
}

function encode(r: Route): { fixed: Uint8Array; attrs: Attr[] } {
  const fam = famOf(r);
  const table = r.table ?? RT_TABLE.MAIN;
  // Without a gateway a route to a device is link-scoped, as `ip route add <dst> dev <if>` makes it.
  const scope = r.scope ?? (r.gw || (r.type ?? RTN.UNICAST) !== RTN.UNICAST ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK);
  const fixed = rtmsg({
    family: fam === 4 ? AF.INET : AF.INET6,
    dstLen: r.dst?.prefix ?? 0,
    srcLen: 0,
    tos: 0,
    table: table < 256 ? table : RT_TABLE.UNSPEC,
    protocol: r.protocol ?? RTPROT.BOOT,
    scope,
    type: r.type ?? RTN.UNICAST,
    flags: r.onlink ? RTNH_F.ONLINK : 0,
  });
  const attrs: Attr[] = [];
  if (r.dst && r.dst.prefix > 0) attrs.push(attr(RTA.DST, r.dst.ip));
  if (r.gw) attrs.push(attr(RTA.GATEWAY, r.gw));
  if (r.dev) attrs.push(attr(RTA.OIF, u32(r.dev)));
  if (r.priority !== undefined) attrs.push(attr(RTA.PRIORITY, u32(r.priority)));
  if (r.src) attrs.push(attr(RTA.PREFSRC, r.src));
  if (table >= 256) attrs.push(attr(RTA.TABLE, u32(table)));
  const metrics: Attr[] = [];
  if (r.mtu) metrics.push(attr(RTAX.MTU, u32(r.mtu)));
  if (r.advmss) metrics.push(attr(RTAX.ADVMSS, u32(r.advmss)));
  if (metrics.length) attrs.push(nest(RTA.METRICS, metrics));
  return { fixed, attrs };
}

export function addRoute(nl: NetlinkSocket, r: Route): void {
  const { fixed, attrs } = encode(r);
  nl.request(RTM.NEWROUTE, NLM_F.CREATE | NLM_F.EXCL, fixed, attrs, `RTM_NEWROUTE ${describeRoute(r)}`);
}

/** Routes of one family in `table` (main by default), optionally only those out of `dev`. */
export function listRoutes(nl: NetlinkSocket, fam: 4 | 6, opts: { dev?: number; table?: number } = {}): Route[] {
  const table = opts.table ?? RT_TABLE.MAIN;
  const out: Route[] = [];
  const req = rtmsg({ family: fam === 4 ? AF.INET : AF.INET6, dstLen: 0, srcLen: 0, tos: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0 });
  for (const msg of nl.dump(RTM.GETROUTE, req)) {
    const h = parseRtmsg(msg.body);
    const a = AttrMap.parse(msg.body, 12);
    const t = a.u32(RTA.TABLE) ?? h.table;
    if (t !== table) continue;
    const dev = a.u32(RTA.OIF);
    if (opts.dev !== undefined && dev !== opts.dev) continue;
    const dst = a.get(RTA.DST);
    const gw = a.get(RTA.GATEWAY);
    const src = a.get(RTA.PREFSRC);
    const metrics = a.nested(RTA.METRICS);
    out.push({
      family: fam,
      dst: dst ? { ip: dst.slice(), prefix: h.dstLen } : undefined,
      gw: gw?.slice(),
      dev,
      scope: h.scope,
      table: t,
      onlink: (h.flags & RTNH_F.ONLINK) !== 0,
      priority: a.u32(RTA.PRIORITY),
      src: src?.slice(),
      protocol: h.protocol,
      type: h.type,
      mtu: metrics?.u32(RTAX.MTU),
      advmss: metrics?.u32(RTAX.ADVMSS),
    });
  }
  return out;
}

/** The route the kernel would use to reach `ip` (`ip route get`). */
export function routeGet(nl: NetlinkSocket, ip: IPBytes): Route | undefined {
  const fam = ip.length === 4 ? 4 : 6;
  const req = rtmsg({
    family: fam === 4 ? AF.INET : AF.INET6,
    dstLen: ip.length * 8,
    srcLen: 0,
    tos: 0,
    table: 0,
    protocol: 0,
    scope: 0,
    type: 0,
    flags: 0,
  });
  const [msg] = nl.request(RTM.GETROUTE, 0, req, [attr(RTA.DST, ip)], `RTM_GETROUTE ${formatIP(ip)}`);
  if (!msg) return undefined;
  const a = AttrMap.parse(msg.body, 12);
  const gw = a.get(RTA.GATEWAY);
  return { family: fam, dst: { ip, prefix: ip.length * 8 }, dev: a.u32(RTA.OIF), gw: gw?.slice() };
}
