// libcni's types.NetConf, the struct every reference plugin embeds in its own config type: the keys every
// plugin reads the Go way (lib/skel/go-decode.ts). A plugin's own fields are added to it; a field it declares
// again shadows the embedded one, as Go's embedding rules do (flannel's "ipam" is a map, not types.IPAM).
import { ANY, type Shape, type StructShape, sliceOf, mapOf, plainStruct, struct } from "./go-decode.ts";
import { DNS_SHAPE } from "./result.ts";
import { VALID_ATTACHMENTS } from "./gc.ts";

const NETCONF_FIELDS: Record<string, Shape> = {
  cniVersion: ANY,
  name: ANY,
  type: ANY,
  capabilities: mapOf(ANY),
  ipam: plainStruct(["type"]),
  dns: DNS_SHAPE,
  prevResult: mapOf(ANY),
  [VALID_ATTACHMENTS]: sliceOf(plainStruct(["containerID", "ifname"], { pointer: true })),
};

export const netConfShape = (own: Record<string, Shape> = {}): StructShape => struct({ ...NETCONF_FIELDS, ...own });
