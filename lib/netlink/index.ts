// The typed rtnetlink API: one socket per namespace, families on top.
export { NetlinkSocket, withNetlink } from "./socket.ts";
export { NetlinkError } from "./errors.ts";
export * from "./link.ts";
export * from "./addr.ts";
export * from "./route.ts";
export * from "./neigh.ts";
export { addBridge } from "./kinds/bridge.ts";
export { addVeth } from "./kinds/veth.ts";
export * from "./bridge-vlan.ts";
export type { VxlanInfo } from "./kinds/vxlan-info.ts";
