// The GC input (spec 1.1): "cni.dev/valid-attachments", the attachments the runtime still has.
import { CniError, Code } from "./errors.ts";
import type { NetConf } from "./plugin.ts";

export interface ValidAttachment {
  containerID: string;
  ifname: string;
}

export const VALID_ATTACHMENTS = "cni.dev/valid-attachments";

export function validAttachments(conf: NetConf): ValidAttachment[] {
  const v = conf[VALID_ATTACHMENTS];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((a) => typeof a?.containerID !== "string" || typeof a?.ifname !== "string")) {
    throw new CniError(Code.InvalidConfig, `"${VALID_ATTACHMENTS}" must be a list of {"containerID", "ifname"}`);
  }
  return v as ValidAttachment[];
}

/** Container ids with at least one valid attachment. */
export const validContainers = (conf: NetConf): Set<string> => new Set(validAttachments(conf).map((a) => a.containerID));
